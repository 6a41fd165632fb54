"""Sigma detection rules evaluated against audit events (the common subset of the format).

Supported (anything else is a :class:`~logging_audit.errors.ConfigError` naming
the rule and the feature):

- ``detection`` with named selections: a map (every field must match — AND),
  a list of maps (any map — OR), or a list of strings (keywords: any of them
  occurs in any string of the event, case-insensitive);
- field values: a string with ``*`` / ``?`` wildcards (``\\*`` escapes), a
  number, a bool, ``null`` (field absent), or a list of those (any — OR);
- modifiers ``contains``, ``startswith``, ``endswith``, ``re`` (Python
  regular expression, searched), ``all`` (every value of the list must match),
  ``cased`` (case-sensitive; matching is case-insensitive otherwise, as in Sigma),
  ``exists`` (with ``true``/``false``);
- ``condition``: selection names, ``and``, ``or``, ``not``, parentheses,
  ``1 of <pattern>``, ``any of <pattern>``, ``all of <pattern>`` (``<pattern>``
  a name with ``*`` or ``them``), one condition or a list of them (any);
- ``logsource.category`` naming one of the audit event types restricts the rule
  to it; other logsource fields are informational.

Not supported: aggregations (``| count() by …``), ``timeframe``, ``near``,
correlation rules, rule collections (``action: global``), and the modifiers
``base64``, ``base64offset``, ``utf16*``, ``wide``, ``windash``, ``cidr``,
``lt``/``gt``…, ``fieldref``, ``expand``.

Field names map to audit event fields by :data:`FIELD_MAP` (case-insensitive);
``details.<path>`` reads inside ``details``; any other name is looked up as a
key of ``details`` (exactly, then case-insensitively).

A rule's ``level`` is its score (:data:`LEVEL_SCORES`): with the default
``alert_threshold`` of 0.75, rules of level ``medium`` and above alert.

Rules are kept as security-policy :class:`~logging_audit.persistence.models.Rule`
records (:meth:`SigmaRule.to_rule` / :meth:`SigmaRule.from_rule`): ``rule_id``
``sigma:<id>``, the title as name, the YAML text as description, the pseudo
action :data:`SIGMA_ACTION` (so the rule never takes part in allowing or
denying real actions), ``enabled`` unless the rule's status is ``deprecated``.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from logging_audit.detection.detectors._window import KeyedWindows, Window
from logging_audit.detection.model import Finding, Obs, Thresholds
from logging_audit.errors import ConfigError
from logging_audit.persistence.models import Rule

__all__ = [
    "FIELD_MAP",
    "LEVEL_SCORES",
    "SIGMA_ACTION",
    "SigmaDetector",
    "SigmaRule",
    "builtin_rules",
    "load_sigma_rules",
    "parse_sigma",
]

SIGMA_ACTION = "sigma_detection"
"""The pseudo action type of Rule records that hold Sigma rules."""

LEVEL_SCORES = {"informational": 0.3, "low": 0.5, "medium": 0.75, "high": 0.9, "critical": 1.0}

FIELD_MAP: dict[str, str] = {
    **dict.fromkeys(("event_type", "eventtype", "event.category", "category"), "event_type"),
    **dict.fromkeys(("action", "eventname", "event.action", "event_name", "operation"), "action"),
    **dict.fromkeys(("outcome", "status", "result", "event.outcome"), "outcome"),
    **dict.fromkeys(
        (
            "actor",
            "user",
            "username",
            "user.name",
            "targetusername",
            "subjectusername",
            "accountname",
            "user_id",
            "agent_id",
        ),
        "actor",
    ),
    "actor_type": "actor_type",
    **dict.fromkeys(
        (
            "source_ip",
            "src_ip",
            "sourceip",
            "sourceaddress",
            "ipaddress",
            "clientip",
            "client_ip",
            "source.ip",
            "src",
        ),
        "source_ip",
    ),
    **dict.fromkeys(
        ("source_node", "computer", "computername", "hostname", "host", "host.name", "node"),
        "source_node",
    ),
    **dict.fromkeys(
        (
            "resource",
            "objectname",
            "targetobject",
            "targetfilename",
            "object",
            "file.path",
            "url.path",
        ),
        "resource",
    ),
    **dict.fromkeys(("clearance", "clearance_level", "classification"), "clearance"),
    "event_id": "event_id",
}
"""Sigma field name (lower case) → audit event field."""

_SUPPORTED_MODIFIERS = {"contains", "startswith", "endswith", "re", "all", "cased", "exists"}
_TOP_FIELDS = {
    "event_type",
    "action",
    "outcome",
    "actor",
    "actor_type",
    "source_ip",
    "source_node",
    "resource",
    "clearance",
    "event_id",
}

Matcher = Callable[[Obs], bool]


def _err(rule: str, message: str) -> ConfigError:
    return ConfigError(f"Sigma rule {rule!r}: {message}")


def _field_getter(name: str) -> Callable[[Obs], Any]:
    lowered = name.lower()
    mapped = FIELD_MAP.get(lowered)
    if mapped is not None:
        return lambda obs: getattr(obs, mapped)
    if lowered.startswith("details."):
        parts = name.split(".")[1:]

        def path(obs: Obs) -> Any:
            value: Any = obs.details
            for part in parts:
                if not isinstance(value, Mapping):
                    return None
                value = value.get(part)
            return value

        return path

    def key(obs: Obs) -> Any:
        d = obs.details
        if name in d:
            return d[name]
        for k, v in d.items():
            if k.lower() == lowered:
                return v
        return None

    return key


def _wildcard(value: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(value):
        ch = value[i]
        if ch == "\\" and i + 1 < len(value) and value[i + 1] in "*?\\":
            out.append(re.escape(value[i + 1]))
            i += 2
            continue
        out.append(".*" if ch == "*" else "." if ch == "?" else re.escape(ch))
        i += 1
    return "".join(out)


def _as_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return str(value)
    return None


def _value_matcher(rule: str, value: Any, mods: list[str]) -> Callable[[Any], bool]:
    cased = "cased" in mods
    flags = re.DOTALL | (0 if cased else re.IGNORECASE)
    if value is None:
        return lambda v: v is None
    if isinstance(value, bool | int | float) and not {"contains", "startswith", "endswith"} & set(
        mods
    ):
        expected = _as_text(value)
        return lambda v: _as_text(v) == expected
    if not isinstance(value, str | int | float):
        raise _err(rule, f"unsupported value {value!r} (expected a string, number, bool or null)")
    text = str(value)
    if "re" in mods:
        try:
            pattern = re.compile(text)
        except re.error as exc:
            raise _err(rule, f"bad regular expression {text!r}: {exc}") from exc
        return lambda v: (s := _as_text(v)) is not None and pattern.search(s) is not None
    body = _wildcard(text)
    if "contains" in mods:
        body = f".*{body}.*"
    elif "startswith" in mods:
        body = f"{body}.*"
    elif "endswith" in mods:
        body = f".*{body}"
    compiled = re.compile(body, flags)
    return lambda v: (s := _as_text(v)) is not None and compiled.fullmatch(s) is not None


def _field_matcher(rule: str, spec: str, value: Any) -> Matcher:
    name, *mods = spec.split("|")
    if not name:
        raise _err(rule, f"field {spec!r} has no name")
    for mod in mods:
        if mod not in _SUPPORTED_MODIFIERS:
            raise _err(
                rule,
                f"modifier {mod!r} (in {spec!r}) is not supported; supported: "
                + ", ".join(sorted(_SUPPORTED_MODIFIERS)),
            )
    get = _field_getter(name)
    if "exists" in mods:
        if not isinstance(value, bool):
            raise _err(rule, f"{spec}: exists needs true or false")
        return lambda obs: (get(obs) is not None) == value
    values = value if isinstance(value, list) else [value]
    if not values:
        raise _err(rule, f"{spec}: empty list of values")
    tests = [_value_matcher(rule, v, mods) for v in values]
    if "all" in mods:
        return lambda obs: all(t(get(obs)) for t in tests)
    return lambda obs: any(t(get(obs)) for t in tests)


def _strings(obs: Obs) -> Iterable[str]:
    for name in ("event_type", "action", "actor", "outcome", "resource", "source_ip"):
        v = getattr(obs, name)
        if isinstance(v, str):
            yield v
    stack: list[Any] = [obs.details]
    while stack:
        v = stack.pop()
        if isinstance(v, str):
            yield v
        elif isinstance(v, Mapping):
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)


def _selection(rule: str, name: str, body: Any) -> Matcher:
    if isinstance(body, Mapping):
        if not body:
            raise _err(rule, f"selection {name!r} is empty")
        parts = [_field_matcher(rule, str(k), v) for k, v in body.items()]
        return lambda obs: all(p(obs) for p in parts)
    if isinstance(body, list) and body and all(isinstance(x, Mapping) for x in body):
        alts = [_selection(rule, name, x) for x in body]
        return lambda obs: any(a(obs) for a in alts)
    if isinstance(body, list) and body and all(isinstance(x, str | int) for x in body):
        words = [
            re.compile(".*" + _wildcard(str(x)) + ".*", re.IGNORECASE | re.DOTALL) for x in body
        ]
        return lambda obs: any(w.fullmatch(s) for s in _strings(obs) for w in words)
    raise _err(rule, f"selection {name!r} must be a map, a list of maps or a list of keywords")


_TOKEN = re.compile(r"\s*(\(|\)|[^\s()]+)")


class _Condition:
    """Recursive-descent parser of a Sigma condition into a matcher."""

    def __init__(self, rule: str, text: str, selections: dict[str, Matcher]) -> None:
        self.rule = rule
        self.text = text
        self.selections = selections
        if "|" in text:
            raise _err(rule, "aggregation conditions ('| count() …') are not supported")
        self.tokens = [m.group(1) for m in _TOKEN.finditer(text)]
        self.pos = 0

    def parse(self) -> Matcher:
        if not self.tokens:
            raise _err(self.rule, "empty condition")
        result = self._or()
        if self.pos != len(self.tokens):
            raise _err(
                self.rule, f"unexpected {self.tokens[self.pos]!r} in condition {self.text!r}"
            )
        return result

    def _peek(self) -> str | None:
        return self.tokens[self.pos].lower() if self.pos < len(self.tokens) else None

    def _next(self) -> str:
        if self.pos >= len(self.tokens):
            raise _err(self.rule, f"condition {self.text!r} ends too early")
        tok = self.tokens[self.pos]
        self.pos += 1
        return tok

    def _or(self) -> Matcher:
        parts = [self._and()]
        while self._peek() == "or":
            self.pos += 1
            parts.append(self._and())
        return parts[0] if len(parts) == 1 else (lambda obs: any(p(obs) for p in parts))

    def _and(self) -> Matcher:
        parts = [self._not()]
        while self._peek() == "and":
            self.pos += 1
            parts.append(self._not())
        return parts[0] if len(parts) == 1 else (lambda obs: all(p(obs) for p in parts))

    def _not(self) -> Matcher:
        if self._peek() == "not":
            self.pos += 1
            inner = self._not()
            return lambda obs: not inner(obs)
        return self._atom()

    def _atom(self) -> Matcher:
        tok = self._next()
        low = tok.lower()
        if tok == "(":
            inner = self._or()
            if self._next() != ")":
                raise _err(self.rule, f"missing ')' in condition {self.text!r}")
            return inner
        if low in ("1", "any", "all") and self._peek() == "of":
            self.pos += 1
            return self._quantified(low, self._next())
        if low in ("near", "count", "sum", "min", "max", "avg"):
            raise _err(self.rule, f"{tok!r} in conditions is not supported")
        if tok not in self.selections:
            raise _err(self.rule, f"condition names unknown selection {tok!r}")
        return self.selections[tok]

    def _quantified(self, quantifier: str, pattern: str) -> Matcher:
        if pattern.lower() == "them":
            names = [n for n in self.selections if not n.startswith("_")]
        else:
            rx = re.compile(_wildcard(pattern))
            names = [n for n in self.selections if rx.fullmatch(n)]
        if not names:
            raise _err(self.rule, f"'{quantifier} of {pattern}' matches no selection")
        chosen = [self.selections[n] for n in names]
        if quantifier == "all":
            return lambda obs: all(c(obs) for c in chosen)
        return lambda obs: any(c(obs) for c in chosen)


_EVENT_TYPES = {
    "authentication",
    "data_access",
    "administrative",
    "system",
    "agent_action",
    "query",
}


@dataclass(frozen=True)
class SigmaRule:
    """A parsed Sigma rule: its metadata and a compiled matcher."""

    rule_id: str
    title: str
    level: str
    status: str
    description: str
    tags: tuple[str, ...]
    event_type: str | None
    source: str = field(repr=False)
    matcher: Matcher = field(repr=False, compare=False)

    @property
    def score(self) -> float:
        """The rule's score from its level (:data:`LEVEL_SCORES`)."""
        return LEVEL_SCORES[self.level]

    def matches(self, obs: Obs) -> bool:
        """True when the event matches the rule."""
        if self.event_type is not None and obs.event_type != self.event_type:
            return False
        return self.matcher(obs)

    def to_rule(self) -> Rule:
        """The security-policy record that stores this rule (see the module docstring)."""
        return Rule(
            rule_id=f"sigma:{self.rule_id}",
            name=self.title,
            action_types=frozenset({SIGMA_ACTION}),
            effect="deny",
            description=self.source,
            enabled=self.status != "deprecated",
        )

    @classmethod
    def from_rule(cls, rule: Rule) -> SigmaRule:
        """The Sigma rule kept in a policy record made by :meth:`to_rule`."""
        if SIGMA_ACTION not in rule.action_types:
            raise ConfigError(f"rule {rule.rule_id!r} is not a Sigma rule record")
        return parse_sigma(rule.description)[0]


def _compile(doc: Mapping[str, Any], source: str) -> SigmaRule:
    title = doc.get("title")
    if not isinstance(title, str) or not title:
        raise ConfigError("a Sigma rule needs a title")
    rid = str(doc.get("id") or uuid.uuid5(uuid.NAMESPACE_URL, "sigma:" + title))
    if doc.get("action") is not None:
        raise _err(title, "rule collections ('action: global' …) are not supported")
    if "correlation" in doc:
        raise _err(title, "correlation rules are not supported")
    detection = doc.get("detection")
    if not isinstance(detection, Mapping) or "condition" not in detection:
        raise _err(title, "needs a detection with a condition")
    if "timeframe" in detection:
        raise _err(title, "'timeframe' (aggregation over time) is not supported")
    selections = {
        str(k): _selection(title, str(k), v) for k, v in detection.items() if k != "condition"
    }
    cond = detection["condition"]
    conds = cond if isinstance(cond, list) else [cond]
    if not conds or not all(isinstance(c, str) for c in conds):
        raise _err(title, "condition must be a string or a list of strings")
    matchers = [_Condition(title, c, selections).parse() for c in conds]
    matcher: Matcher = (
        matchers[0] if len(matchers) == 1 else (lambda obs: any(m(obs) for m in matchers))
    )
    level = str(doc.get("level", "medium")).lower()
    if level not in LEVEL_SCORES:
        raise _err(title, f"unknown level {level!r}; levels: {', '.join(LEVEL_SCORES)}")
    logsource = doc.get("logsource") or {}
    category = logsource.get("category") if isinstance(logsource, Mapping) else None
    tags = doc.get("tags") or []
    return SigmaRule(
        rule_id=rid,
        title=title,
        level=level,
        status=str(doc.get("status", "experimental")),
        description=str(doc.get("description", "")),
        tags=tuple(str(t) for t in tags) if isinstance(tags, list) else (),
        event_type=category if category in _EVENT_TYPES else None,
        source=source,
        matcher=matcher,
    )


def parse_sigma(text: str) -> list[SigmaRule]:
    """Parse one or more Sigma rules (YAML documents separated by ``---``)."""
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        raise ConfigError(f"Sigma rule is not valid YAML: {exc}") from exc
    if not docs:
        raise ConfigError("no Sigma rule in the text")
    rules = []
    for doc in docs:
        if not isinstance(doc, Mapping):
            raise ConfigError("a Sigma rule must be a YAML mapping")
        source = text if len(docs) == 1 else yaml.safe_dump(dict(doc), sort_keys=False)
        rules.append(_compile(doc, source))
    return rules


def load_sigma_rules(paths: Iterable[str]) -> list[SigmaRule]:
    """Parse the rules in files (a directory: every ``*.yml`` / ``*.yaml`` in it)."""
    from pathlib import Path

    out: list[SigmaRule] = []
    for p in paths:
        path = Path(p)
        files = sorted([*path.glob("*.yml"), *path.glob("*.yaml")]) if path.is_dir() else [path]
        for f in files:
            try:
                text = f.read_text(encoding="utf-8")
            except OSError as exc:
                raise ConfigError(f"cannot read Sigma rule {f}: {exc}") from exc
            try:
                out.extend(parse_sigma(text))
            except ConfigError as exc:
                raise ConfigError(f"{f}: {exc}") from exc
    return out


def builtin_rules() -> list[SigmaRule]:
    """The Sigma rules shipped with the library (``logging_audit/detection/rules/*.yml``)."""
    from importlib import resources

    out: list[SigmaRule] = []
    folder = resources.files("logging_audit.detection") / "rules"
    for item in sorted(folder.iterdir(), key=lambda p: p.name):
        if item.name.endswith((".yml", ".yaml")):
            out.extend(parse_sigma(item.read_text(encoding="utf-8")))
    return out


class SigmaDetector:
    """Every match of a Sigma rule is a finding scored by the rule's level.

    Key: rule and actor. The evidence is the matching event plus the rule's
    other matches by that actor in the last 10 minutes.
    """

    name = "sigma"
    category = "sigma"
    needs_baseline = False
    cooldown = 0.0

    def __init__(
        self,
        thresholds: Thresholds | None = None,
        baseline: object = None,
        rules: Iterable[SigmaRule] = (),
    ) -> None:
        """Evaluate ``rules``."""
        self.rules = list(rules)
        self._windows = KeyedWindows(lambda: Window(600.0), 3600.0)

    def observe(self, obs: Obs) -> Finding | None:
        """Score one event: the highest-level rule it matches."""
        best: SigmaRule | None = None
        for rule in self.rules:
            if rule.matches(obs) and (best is None or rule.score > best.score):
                best = rule
        if best is None:
            return None
        key = f"rule={best.rule_id};actor={obs.actor}"
        window = self._windows.get(key, obs.ts)
        window.add(obs)
        ids, _ = window.evidence()
        return Finding(
            detector=f"sigma:{best.rule_id}",
            category=next((t for t in best.tags if t.startswith("attack.")), "sigma"),
            key=key,
            score=best.score,
            explanation=(
                f"Sigma rule {best.title!r} (level {best.level}) matched "
                f"{obs.event_type}/{obs.action} by {obs.actor}"
                + (f" from {obs.source_ip}" if obs.source_ip else "")
                + (f" on {obs.resource}" if obs.resource else "")
                + (f"; {len(window)} matches by this actor in 10 min" if len(window) > 1 else "")
            ),
            evidence=(obs.event_id, *[i for i in ids if i != obs.event_id])[:50],
            evidence_seqs=(obs.seq,),
            first_ts=window.first_ts,
            last_ts=obs.ts,
            actor=obs.actor,
            source_ip=obs.source_ip,
            facts={"rule_id": best.rule_id, "title": best.title, "level": best.level},
        )
