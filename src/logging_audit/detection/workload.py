"""A labelled workload: weeks of realistic normal activity plus injected attack scenarios.

Used by the evaluation (``bench/eval_detection.py``), the speed bench and the
tests, so all three judge the detectors on the same world. Deterministic for a
seed. Nothing here knows the detectors' thresholds: the normal behaviour and
the attacks are described by what people, services and attackers do.

**Population** (``n_actors``, default 300): about 84 % people in seven
departments (engineering, sales, support, finance, HR, legal, executives),
each with a time zone (UTC-8, -5, +1, +5), a working day (start about
07:00–10:30 local, 7.5–9.5 h), a clearance, 2–4 usual collections of their
department plus shared ones, a home network or two, an office network, and a
browser whose version updates every four weeks; 4 % of them also administer
(user, role and configuration changes). About 16 % are services (agents):
three quarters run on a schedule (every 1–60 min, 0.5–3 % jitter, occasional
missed runs), the others react to events (Poisson arrivals, busier in
business hours); some sign their events (a base64 signature in ``details``).

**Normal days** include what makes detection hard: typos at login (3 % of
logins fail once or twice), password lockouts (0.2 % of person-days: 4–7
failures), internet noise (about 40 outside addresses a day trying 1–4
common account names), evening sessions (4 % of workdays, 19:00–21:30
local), weekend work, travel (1.5 % of workdays from a never-seen network),
new devices (0.2 % of days), new projects (a new collection of one's own
department or a shared one), occasional reads of another department's
documents, reads refused for clearance (0.5 % of reads), exports, searches,
request ids and checksums (hex) in ``details``.

**Attack scenarios** (``SCENARIO_KINDS``), injected only in the last
``test_days`` and labelled with every event they add: brute force, password
spraying, off-hours use of an account, reads of rare or sensitive
collections, account takeover from a new network, mass download, privilege
escalation, probing above one's clearance, encoded data smuggled in fields,
beaconing, and disabling the audit trail (for the Sigma rule).
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from logging_audit.detection.model import Obs
from logging_audit.errors import ConfigError

__all__ = [
    "EXPECTED_DETECTORS",
    "SCENARIO_KINDS",
    "ActorSpec",
    "Scenario",
    "Workload",
    "generate_workload",
]

SCENARIO_KINDS = (
    "brute_force",
    "password_spraying",
    "off_hours",
    "rare_resource",
    "first_seen_source",
    "volume_spike",
    "privilege_escalation",
    "denied_reads",
    "encoded_data",
    "beaconing",
    "audit_tampering",
)

EXPECTED_DETECTORS: dict[str, str] = {
    "brute_force": "brute_force",
    "password_spraying": "password_spraying",
    "off_hours": "off_hours",
    "rare_resource": "rare_resource",
    "first_seen_source": "first_seen_source",
    "volume_spike": "volume_spike",
    "privilege_escalation": "privilege_escalation",
    "denied_reads": "denied_reads",
    "encoded_data": "encoded_data",
    "beaconing": "beaconing",
    "audit_tampering": "sigma",
}
"""Which detector (prefix) is expected to find each scenario kind."""

DEFAULT_START = datetime(2026, 3, 2, tzinfo=timezone.utc)  # a Monday

_DEPARTMENTS: dict[str, tuple[float, int, tuple[tuple[str, int, int], ...]]] = {
    # name: (share of people, clearance, ((collection, level, documents), ...))
    "eng": (
        0.35,
        2,
        (
            ("eng/src-docs", 2, 1500),
            ("eng/design", 2, 600),
            ("eng/runbooks", 2, 300),
            ("eng/incidents", 3, 400),
        ),
    ),
    "sales": (
        0.20,
        2,
        (("sales/crm", 2, 2000), ("sales/contracts", 3, 500), ("sales/pricing", 2, 200)),
    ),
    "support": (0.20, 1, (("support/tickets", 1, 3000), ("support/kb", 1, 800))),
    "fin": (0.10, 3, (("fin/ledger", 3, 900), ("fin/invoices", 3, 1200), ("fin/payroll", 4, 300))),
    "hr": (0.06, 3, (("hr/personnel", 3, 700), ("hr/recruiting", 2, 400), ("hr/reviews", 4, 300))),
    "legal": (0.05, 4, (("legal/contracts", 3, 600), ("legal/cases", 4, 250))),
    "exec": (0.04, 4, (("exec/strategy", 4, 120), ("exec/board", 5, 80))),
}
_SHARED = (("shared/wiki", 1, 2500), ("shared/policies", 1, 150), ("shared/announcements", 1, 300))
_ZONES = ((-8, 0.15), (-5, 0.3), (1, 0.45), (5, 0.1))
_BROWSERS = (
    ("Windows NT 10.0; Win64; x64", "Chrome", 120),
    ("Macintosh; Intel Mac OS X 14_4", "Safari", 17),
    ("X11; Linux x86_64", "Firefox", 121),
    ("Windows NT 10.0; Win64; x64", "Edg", 120),
)
_SCRIPTS = ("python-requests/2.31.0", "curl/8.4.0", "Go-http-client/1.1", "okhttp/4.12.0")
_COMMON_NAMES = ("admin", "root", "test", "oracle", "user", "guest", "ubuntu", "postgres", "ftp")
_FEW_USERS = ("exec/strategy", "exec/board", "legal/cases")
_ADMIN_ACTIONS = ("user_create", "user_update", "role_grant", "role_revoke", "config_change")
_SETTINGS = ("mail.smtp_host", "session.timeout", "backup.schedule", "sso.metadata_url")


@dataclass
class ActorSpec:
    """One simulated actor (person or service) and its habits."""

    name: str
    kind: str  # "user" or "agent"
    dept: str = "svc"
    tz: int = 0
    clearance: int = 2
    start_hour: float = 9.0
    length: float = 8.0
    p_weekday: float = 0.93
    p_weekend: float = 0.05
    daily_reads: float = 80.0
    collections: list[str] = field(default_factory=list)
    home: list[str] = field(default_factory=list)
    office: str = ""
    browser: int = 0
    admin: bool = False
    period: float = 0.0
    jitter: float = 0.0
    agent_ip: str = ""
    signs: bool = False
    client: str = ""


@dataclass
class Scenario:
    """One injected attack: what, who, when, and the ids of every event it added."""

    kind: str
    actor: str | None
    source_ip: str | None
    start: float
    end: float
    event_ids: set[str] = field(default_factory=set)
    note: str = ""

    @property
    def expected_detector(self) -> str:
        """The detector (name or prefix) that should find it."""
        return EXPECTED_DETECTORS[self.kind]


@dataclass
class Workload:
    """The events (sorted by time), the scenarios, and where training ends."""

    events: list[Obs]
    scenarios: list[Scenario]
    actors: dict[str, ActorSpec]
    start: float
    split: float
    """Events before ``split`` are the baseline period (no attacks there)."""
    end: float

    def attack_ids(self) -> set[str]:
        """Every event id an attack added."""
        return {i for s in self.scenarios for i in s.event_ids}

    def baseline_events(self) -> Iterator[Obs]:
        """The events before ``split``."""
        return (e for e in self.events if e.ts < self.split)

    def test_events(self) -> Iterator[Obs]:
        """The events from ``split`` on."""
        return (e for e in self.events if e.ts >= self.split)


class _Gen:
    def __init__(self, seed: int, n_actors: int, days: int, test_days: int, start: float) -> None:
        self.r = random.Random(seed)
        self.n_actors = n_actors
        self.days = days
        self.test_days = test_days
        self.t0 = start
        self.split = start + (days - test_days) * 86400
        self.end = start + days * 86400
        self.events: list[Obs] = []
        self.counter = 0
        self.actors: dict[str, ActorSpec] = {}
        self.coll_level: dict[str, int] = {}
        self.coll_docs: dict[str, int] = {}
        for _, _, colls in _DEPARTMENTS.values():
            for c, level, docs in colls:
                self.coll_level[c], self.coll_docs[c] = level, docs
        for c, level, docs in _SHARED:
            self.coll_level[c], self.coll_docs[c] = level, docs
        self.used_ips: set[str] = set()

    # -- helpers ---------------------------------------------------------------------------

    def ip_public(self) -> str:
        r = self.r
        while True:
            first = r.choice((31, 46, 62, 77, 84, 91, 103, 146, 178, 185, 203))
            ip = f"{first}.{r.randrange(256)}.{r.randrange(256)}.{r.randrange(1, 255)}"
            net = ip.rsplit(".", 1)[0]
            if net not in self.used_ips:
                self.used_ips.add(net)
                return ip

    def emit(
        self,
        ts: float,
        event_type: str,
        action: str,
        actor: str,
        *,
        outcome: str = "success",
        actor_type: str = "user",
        resource: str | None = None,
        source_ip: str | None = None,
        clearance: int = 1,
        details: dict[str, Any] | None = None,
        scenario: Scenario | None = None,
    ) -> Obs:
        self.counter += 1
        eid = f"ev{self.counter:09d}"
        obs = Obs(
            ts=ts,
            event_id=eid,
            event_type=event_type,
            action=action,
            actor=actor,
            outcome=outcome,
            actor_type=actor_type,
            resource=resource,
            source_ip=source_ip,
            source_node="app-1",
            clearance=clearance,
            details=details or {},
            seq=self.counter,
        )
        self.events.append(obs)
        if scenario is not None:
            if scenario.source_ip is None:
                scenario.source_ip = source_ip
            scenario.event_ids.add(eid)
            scenario.start = min(scenario.start, ts)
            scenario.end = max(scenario.end, ts)
        return obs

    def ua(self, a: ActorSpec, ts: float) -> str:
        os_, name, base = _BROWSERS[a.browser]
        version = base + int((ts - self.t0) // (28 * 86400))
        return f"Mozilla/5.0 ({os_}) {name}/{version}.0.{self.r.randrange(10)}"

    def doc(self, coll: str) -> str:
        n = self.coll_docs.get(coll, 200)
        k = int(self.r.paretovariate(1.1)) - 1
        return f"{coll}/doc-{k % n:05d}"

    def rid(self) -> str:
        return f"{self.r.getrandbits(128):032x}"

    # -- population ------------------------------------------------------------------------

    def population(self) -> None:
        r = self.r
        n_agents = max(2, round(self.n_actors * 0.16))
        n_users = self.n_actors - n_agents
        depts = list(_DEPARTMENTS)
        weights = [_DEPARTMENTS[d][0] for d in depts]
        n_admins = max(1, round(n_users * 0.04))
        for i in range(n_users):
            dept = r.choices(depts, weights)[0]
            _, level, colls = _DEPARTMENTS[dept]
            tz = r.choices([z for z, _ in _ZONES], [w for _, w in _ZONES])[0]
            own = [c for c, _, _ in colls]
            r.shuffle(own)
            mine = own[: r.randint(min(2, len(own)), len(own))]
            mine += [c for c, _, _ in _SHARED if r.random() < 0.7]
            a = ActorSpec(
                name=f"u{i:04d}.{dept}",
                kind="user",
                dept=dept,
                tz=tz,
                clearance=min(5, level + (1 if r.random() < 0.1 else 0)),
                start_hour=min(10.5, max(7.0, r.gauss(8.75, 0.75))),
                length=min(9.5, max(7.5, r.gauss(8.5, 0.5))),
                p_weekend=0.3 if r.random() < 0.15 else 0.04,
                daily_reads=min(400.0, r.lognormvariate(math.log(70), 0.6)),
                collections=[c for c in mine if self.coll_level[c] <= level + 1],
                home=[self.ip_public() for _ in range(r.choice((1, 1, 2)))],
                office=f"10.{10 + tz % 50}.{depts.index(dept)}.{r.randrange(2, 250)}",
                browser=r.randrange(len(_BROWSERS)),
                admin=i < n_admins,
            )
            self.actors[a.name] = a
        for i in range(n_agents):
            scheduled = r.random() < 0.75
            a = ActorSpec(
                name=f"svc-{i:03d}",
                kind="agent",
                tz=r.choice((-5, 1)),
                clearance=2,
                period=r.choice((120, 300, 600, 900, 900, 1800, 3600, 3600)) if scheduled else 0,
                jitter=r.uniform(0.005, 0.03),
                agent_ip=f"10.200.{i // 250}.{i % 250 + 2}",
                signs=r.random() < 0.2,
                client=r.choice(("svc-client/1.4.2", "python-requests/2.31.0", "java-http/17")),
                collections=[
                    f"svc/{i:03d}/data",
                    r.choice(("db:orders", "db:customers", "db:stock")),
                ],
            )
            self.actors[a.name] = a

    # -- normal behaviour ------------------------------------------------------------------

    def user_day(self, a: ActorSpec, d: int, state: dict[str, Any]) -> None:
        r = self.r
        weekday = d % 7
        works = r.random() < (a.p_weekday if weekday < 5 else a.p_weekend)
        if r.random() < 0.002:
            a.browser = (a.browser + 1 + r.randrange(len(_BROWSERS) - 1)) % len(_BROWSERS)
        if r.random() < 1 / 60 and works:
            dept_colls = [c for c, lv, _ in _DEPARTMENTS[a.dept][2] if lv <= a.clearance]
            shared = [c for c, _, _ in _SHARED]
            choices = [c for c in dept_colls + shared if c not in a.collections]
            if choices:
                a.collections.append(r.choice(choices))
        if not works:
            return
        day0 = self.t0 + d * 86400 - a.tz * 3600
        start = day0 + (a.start_hour + r.gauss(0, 0.4)) * 3600
        length = (a.length if weekday < 5 else r.uniform(1.0, 4.0)) + r.gauss(0, 0.4)
        end = start + max(1.0, length) * 3600
        travel = weekday < 5 and r.random() < 0.015
        if travel:
            ip = self.ip_public()
        elif weekday < 5 and r.random() < 0.7:
            ip = a.office
        else:
            ip = r.choice(a.home)
        self.session(a, start, end, ip, reads=a.daily_reads * (1 if weekday < 5 else 0.3))
        if weekday < 5 and r.random() < 0.04:
            es = day0 + r.uniform(19.0, 21.5) * 3600
            self.session(
                a, es, es + r.uniform(1200, 3600), r.choice(a.home), reads=r.uniform(5, 20)
            )

    def session(self, a: ActorSpec, start: float, end: float, ip: str, reads: float) -> None:
        r = self.r
        ua = self.ua(a, start)
        if r.random() < 0.002:  # forgot the password: a lockout's worth of failures
            t = start - r.uniform(60, 300)
            for _ in range(r.randint(4, 7)):
                self.login(t, a.name, ip, ua, failed=True)
                t += r.uniform(5, 40)
        elif r.random() < 0.03:
            t = start - r.uniform(10, 60)
            for _ in range(r.randint(1, 2)):
                self.login(t, a.name, ip, ua, failed=True)
                t += r.uniform(3, 15)
        self.login(start, a.name, ip, ua, request_id=True)
        n = max(1, int(r.gauss(reads, reads * 0.25)))
        bursts = max(1, int(n / max(3.0, r.gauss(12, 3))))
        span = max(600.0, end - start - 600)
        for _ in range(bursts):
            t = start + 60 + r.random() * span
            for _ in range(max(1, n // bursts)):
                self.data_event(a, t, ip, ua)
                t += r.lognormvariate(2.8, 1.0)
        if a.admin:
            for _ in range(r.randint(2, 8)):
                self.admin_event(a, start + r.random() * (end - start), ip, ua)
        self.emit(
            end,
            "authentication",
            "logout",
            a.name,
            source_ip=ip,
            clearance=2,
            details={"user_agent": ua, "request_id": self.rid()},
        )

    def data_event(self, a: ActorSpec, t: float, ip: str, ua: str) -> None:
        r = self.r
        x = r.random()
        details: dict[str, Any] = {"user_agent": ua, "request_id": self.rid()}
        if x < 0.005:  # a link to something above one's clearance
            higher = [c for c, lv in self.coll_level.items() if lv > a.clearance]
            if higher:
                c = r.choice(higher)
                details.update(
                    reason="insufficient clearance",
                    required_clearance=self.coll_level[c],
                    actor_clearance=a.clearance,
                )
                self.emit(
                    t,
                    "data_access",
                    "read",
                    a.name,
                    outcome="failure",
                    resource=self.doc(c),
                    source_ip=ip,
                    clearance=self.coll_level[c],
                    details=details,
                )
                return
        if x < 0.015:  # a colleague in another department shared a document
            others = [c for c, lv in self.coll_level.items() if lv <= a.clearance]
            coll = r.choice(others)
        else:
            coll = r.choice(a.collections)
        res = self.doc(coll)
        level = self.coll_level.get(coll, 1)
        if x < 0.73:
            details["bytes"] = int(r.lognormvariate(11.5, 1.2))
            self.emit(
                t,
                "data_access",
                "read",
                a.name,
                resource=res,
                source_ip=ip,
                clearance=level,
                details=details,
            )
        elif x < 0.86:
            if r.random() < 0.5:
                details["checksum"] = f"{r.getrandbits(256):064x}"
            self.emit(
                t,
                "data_access",
                "write",
                a.name,
                resource=res,
                source_ip=ip,
                clearance=level,
                details=details,
            )
        elif x < 0.99:
            words = (
                "report",
                "q3",
                "budget",
                "design",
                "incident",
                "customer",
                "renewal",
                "policy",
            )
            details["query"] = " ".join(r.sample(words, r.randint(1, 3)))
            self.emit(
                t,
                "data_access",
                "search",
                a.name,
                resource=coll,
                source_ip=ip,
                clearance=level,
                details=details,
            )
        else:
            details["bytes"] = int(r.lognormvariate(15, 1.0))
            self.emit(
                t,
                "data_access",
                "export",
                a.name,
                resource=res,
                source_ip=ip,
                clearance=level,
                details=details,
            )

    def admin_event(self, a: ActorSpec, t: float, ip: str, ua: str) -> None:
        r = self.r
        action = r.choice(_ADMIN_ACTIONS)
        target = r.choice([n for n, s in self.actors.items() if s.kind == "user"])
        details: dict[str, Any] = {"user_agent": ua, "request_id": self.rid()}
        if action == "config_change":
            details.update(setting=r.choice(_SETTINGS), value=str(r.randrange(1000)))
            resource = "config"
        else:
            details.update(target=target, role=r.choice(("viewer", "editor", "analyst")))
            resource = f"users/{target}"
        self.emit(
            t,
            "administrative",
            action,
            a.name,
            resource=resource,
            source_ip=ip,
            clearance=3,
            details=details,
        )

    def agent_events(self, a: ActorSpec) -> None:
        r = self.r
        t = self.t0 + r.random() * (a.period or 600)
        while t < self.end:
            if a.period:
                if r.random() > 0.005:
                    self.agent_run(a, t)
                t += a.period * (1 + r.gauss(0, a.jitter))
            else:
                hour = ((t - self.t0) / 3600 + a.tz) % 24
                rate = 2 + (10 if 8 <= hour < 18 else 0)
                t += r.expovariate(rate / 3600)
                if t < self.end:
                    self.agent_run(a, t)

    def agent_run(self, a: ActorSpec, t: float) -> None:
        r = self.r
        run = self.rid()
        for k in range(r.randint(1, 3)):
            coll = a.collections[k % len(a.collections)]
            details: dict[str, Any] = {
                "user_agent": a.client,
                "run_id": run,
                "bytes": int(r.lognormvariate(9, 1)),
            }
            if a.signs:
                details["signature"] = _b64(r.getrandbits(512).to_bytes(64, "big"))
            action = "write" if r.random() < 0.1 else "read"
            self.emit(
                t + k * r.uniform(0.05, 0.5),
                "agent_action",
                action,
                a.name,
                actor_type="agent",
                resource=f"{coll}/{r.randrange(5000)}",
                source_ip=a.agent_ip,
                clearance=2,
                details=details,
            )

    def login(
        self,
        t: float,
        actor: str,
        ip: str,
        ua: str,
        *,
        failed: bool = False,
        request_id: bool = False,
        scenario: Scenario | None = None,
    ) -> None:
        """A password login of ``actor`` from ``ip`` (a failure, or a success)."""
        details: dict[str, Any] = {"user_agent": ua, "method": "password"}
        if request_id:
            details["request_id"] = self.rid()
        self.emit(
            t,
            "authentication",
            "login",
            actor,
            outcome="failure" if failed else "success",
            source_ip=ip,
            clearance=2,
            details=details,
            scenario=scenario,
        )

    def read_doc(
        self,
        t: float,
        a: ActorSpec,
        coll: str,
        ip: str,
        ua: str,
        s: Scenario,
        *,
        action: str = "read",
        resource: str | None = None,
    ) -> None:
        """A read (or ``action``) by ``a`` of a document of ``coll``, as an attack does."""
        r = self.r
        self.emit(
            t,
            "data_access",
            action,
            a.name,
            resource=self.doc(coll) if resource is None else resource,
            source_ip=ip,
            clearance=self.coll_level[coll],
            details={
                "user_agent": ua,
                "request_id": self.rid(),
                "bytes": int(r.lognormvariate(11.5, 1.2)),
            },
            scenario=s,
        )

    def noise(self) -> None:
        r = self.r
        for d in range(self.days):
            for _ in range(int(r.gauss(40, 6))):
                ip = ".".join(str(r.randrange(1, 223)) for _ in range(4))
                t = self.t0 + d * 86400 + r.random() * 86400
                for _ in range(r.randint(1, 4)):
                    self.emit(
                        t,
                        "authentication",
                        "login",
                        r.choice(_COMMON_NAMES),
                        outcome="failure",
                        source_ip=ip,
                        clearance=2,
                        details={"method": "password", "user_agent": r.choice(_SCRIPTS)},
                    )
                    t += r.uniform(1, 60)

    # -- attacks ---------------------------------------------------------------------------

    def users(self) -> list[ActorSpec]:
        return [a for a in self.actors.values() if a.kind == "user"]

    def test_day(self, weekday: bool = True) -> int:
        """A day of the test period (a weekday if there is one)."""
        # from the second test day on: local times of far time zones must not reach back
        # into the baseline period
        first = self.days - self.test_days + (1 if self.test_days > 1 else 0)
        days = range(first, self.days)
        pool = [d for d in days if d % 7 < 5] if weekday else list(days)
        return self.r.choice(pool or list(days))

    def work_time(self, a: ActorSpec) -> float:
        """A time inside the victim's working hours on a test weekday."""
        day0 = self.t0 + self.test_day() * 86400 - a.tz * 3600
        return day0 + (a.start_hour + 1 + self.r.random() * max(0.5, a.length - 3)) * 3600

    def attack(self, kind: str) -> Scenario:
        r = self.r
        victim = r.choice(self.users())
        s = Scenario(kind, victim.name, None, math.inf, -math.inf)
        getattr(self, f"_{kind}")(s, victim)
        return s

    def _brute_force(self, s: Scenario, v: ActorSpec) -> None:
        r = self.r
        ip = s.source_ip = self.ip_public()
        targets = [v.name] + ([r.choice(_COMMON_NAMES)] if r.random() < 0.3 else [])
        t = self.work_time(v) + r.uniform(-6, 6) * 3600
        n = r.randint(20, 200)
        step = r.uniform(2, 15) * 60 / n
        ua = r.choice(_SCRIPTS)
        for i in range(n):
            self.login(t, targets[i % len(targets)], ip, ua, failed=True, scenario=s)
            t += step * r.uniform(0.5, 1.5)
        if r.random() < 0.1:
            self.login(t, v.name, ip, ua, scenario=s)

    def _password_spraying(self, s: Scenario, v: ActorSpec) -> None:
        r = self.r
        ip = s.source_ip = self.ip_public()
        s.actor = None
        accounts = r.sample(self.users(), min(len(self.users()), r.randint(10, 60)))
        t = self.work_time(v) + r.uniform(-8, 8) * 3600
        step = r.uniform(15, 60) * 60 / (len(accounts) * 1.5)
        ua = r.choice(_SCRIPTS)
        for acct in accounts:
            for _ in range(r.choice((1, 1, 2))):
                self.login(t, acct.name, ip, ua, failed=True, scenario=s)
                t += step * r.uniform(0.3, 1.7)

    def _off_hours(self, s: Scenario, v: ActorSpec) -> None:
        r = self.r
        d = self.test_day(weekday=False)
        t = self.t0 + d * 86400 - v.tz * 3600 + r.uniform(0.5, 4.0) * 3600
        ip, ua = r.choice(v.home), self.ua(v, t)
        self.login(t, v.name, ip, ua, request_id=True, scenario=s)
        n = r.randint(8, 40)
        dur = r.uniform(20, 60) * 60
        for _ in range(n):
            t += dur / n * r.uniform(0.3, 1.7)
            coll = r.choice(v.collections)
            self.read_doc(t, v, coll, ip, ua, s)

    def _rare_resource(self, s: Scenario, v: ActorSpec) -> None:
        r = self.r
        foreign = [c for c in self.coll_level if c.split("/")[0] != v.dept]
        foreign = [c for c in foreign if c not in v.collections]
        usual = max(self.coll_level[c] for c in v.collections)
        sensitive = [c for c in foreign if self.coll_level[c] > usual]
        few = [c for c in foreign if c in _FEW_USERS]  # a handful of people use these
        pools = (sensitive, few) if r.random() < 0.7 else (few, sensitive)
        coll = r.choice(pools[0] or pools[1] or foreign)
        t = self.work_time(v)
        ip, ua = v.office, self.ua(v, t)
        n = r.randint(8, 30)
        dur = r.uniform(10, 50) * 60
        docs = [f"{coll}/doc-{k:05d}" for k in r.sample(range(self.coll_docs[coll]), n)]
        for res in docs:
            t += dur / n * r.uniform(0.3, 1.7)
            self.read_doc(t, v, coll, ip, ua, s, resource=res)
        s.note = coll

    def _first_seen_source(self, s: Scenario, v: ActorSpec) -> None:
        r = self.r
        ip = s.source_ip = self.ip_public()
        t = self.work_time(v)
        if r.random() < 0.6:
            ua = r.choice(_SCRIPTS)
        else:
            os_, name, base = r.choice(_BROWSERS)
            ua = f"Mozilla/5.0 ({os_}) {name}/{base + 1}.0.1"
        if r.random() < 0.3:
            for _ in range(r.randint(1, 3)):
                self.login(t, v.name, ip, ua, failed=True, scenario=s)
                t += r.uniform(5, 30)
        self.login(t, v.name, ip, ua, request_id=True, scenario=s)
        for _ in range(r.randint(3, 15)):
            t += r.uniform(5, 120)
            coll = r.choice(v.collections)
            self.read_doc(t, v, coll, ip, ua, s)

    def _volume_spike(self, s: Scenario, v: ActorSpec) -> None:
        r = self.r
        t = self.work_time(v)
        ip, ua = v.office, self.ua(v, t)
        n = r.randint(300, 1500)
        dur = r.uniform(20, 60) * 60
        for _ in range(n):
            t += dur / n * r.uniform(0.2, 1.8)
            coll = r.choice(v.collections)
            self.read_doc(t, v, coll, ip, ua, s, action=r.choice(("read", "read", "export")))

    def _privilege_escalation(self, s: Scenario, v: ActorSpec) -> None:
        r = self.r
        admins = [a for a in self.users() if a.admin]
        if admins and r.random() < 0.3:  # an administrator's account does something new
            v = r.choice(admins)
            actions = [r.choice(("agent_clearance_change", "policy_change", "key_rotate"))]
        else:  # someone who never administered grants themself a role
            v = r.choice([a for a in self.users() if not a.admin])
            actions = ["role_grant"] + (["user_create"] if r.random() < 0.4 else [])
        s.actor = v.name
        t = self.work_time(v)
        ip, ua = v.office, self.ua(v, t)
        for action in actions:
            t += r.uniform(10, 300)
            self.emit(
                t,
                "administrative",
                action,
                v.name,
                resource=f"users/{v.name}",
                source_ip=ip,
                clearance=3,
                details={
                    "user_agent": ua,
                    "request_id": self.rid(),
                    "target": v.name,
                    "role": "admin",
                    "new_clearance": 5,
                },
                scenario=s,
            )

    def _denied_reads(self, s: Scenario, v: ActorSpec) -> None:
        r = self.r
        higher = [c for c, lv in self.coll_level.items() if lv > v.clearance]
        if not higher:
            v = next(a for a in self.users() if a.clearance < 4)
            s.actor = v.name
            higher = [c for c, lv in self.coll_level.items() if lv > v.clearance]
        t = self.work_time(v)
        ip, ua = v.office, self.ua(v, t)
        n = r.randint(8, 40)
        dur = r.uniform(15, 50) * 60
        for _ in range(n):
            t += dur / n * r.uniform(0.3, 1.7)
            c = r.choice(higher)
            self.emit(
                t,
                "data_access",
                "read",
                v.name,
                outcome="failure",
                resource=self.doc(c),
                source_ip=ip,
                clearance=self.coll_level[c],
                details={
                    "user_agent": ua,
                    "request_id": self.rid(),
                    "reason": "insufficient clearance",
                    "required_clearance": self.coll_level[c],
                    "actor_clearance": v.clearance,
                },
                scenario=s,
            )

    def _encoded_data(self, s: Scenario, v: ActorSpec) -> None:
        r = self.r
        t = self.work_time(v)
        ip, ua = v.office, self.ua(v, t)
        n = r.randint(4, 20)
        dur = r.uniform(20, 55) * 60
        carrier = r.choice(("comment", "query", "note", "title"))
        for _ in range(n):
            t += dur / n * r.uniform(0.3, 1.7)
            blob = r.getrandbits(8 * r.randint(75, 600)).to_bytes(600, "big").lstrip(b"\0")
            text = _b64(blob) if r.random() < 0.7 else blob.hex()
            coll = r.choice(v.collections)
            self.emit(
                t,
                "data_access",
                "search" if carrier == "query" else "write",
                v.name,
                resource=self.doc(coll),
                source_ip=ip,
                clearance=self.coll_level[coll],
                details={"user_agent": ua, "request_id": self.rid(), carrier: text},
                scenario=s,
            )

    def _beaconing(self, s: Scenario, v: ActorSpec) -> None:
        r = self.r
        period = r.uniform(30, 300)
        t = self.work_time(v) + r.uniform(-2, 2) * 3600
        ip, ua = r.choice([v.office, *v.home]), self.ua(v, t)
        coll = r.choice(v.collections)
        for _ in range(r.randint(30, 150)):
            self.emit(
                t,
                "data_access",
                "read",
                v.name,
                resource=f"{coll}/status",
                source_ip=ip,
                clearance=self.coll_level[coll],
                details={"user_agent": ua, "request_id": self.rid(), "bytes": 512},
                scenario=s,
            )
            t += period * (1 + r.gauss(0, 0.002))

    def _audit_tampering(self, s: Scenario, v: ActorSpec) -> None:
        r = self.r
        admins = [a for a in self.users() if a.admin] or [v]
        v = r.choice(admins)
        s.actor = v.name
        t = self.work_time(v)
        self.emit(
            t,
            "administrative",
            "config_change",
            v.name,
            resource="config",
            source_ip=v.office,
            clearance=3,
            details={
                "user_agent": self.ua(v, t),
                "request_id": self.rid(),
                "setting": r.choice(("audit.enabled", "audit.forwarding", "audit.retention_days")),
                "value": r.choice(("false", "0", "disabled")),
            },
            scenario=s,
        )


def _b64(data: bytes) -> str:
    import base64

    return base64.b64encode(data).decode()


def generate_workload(
    *,
    seed: int = 7,
    n_actors: int = 300,
    days: int = 28,
    test_days: int = 7,
    scenarios_per_kind: int = 20,
    kinds: tuple[str, ...] = SCENARIO_KINDS,
    start: datetime = DEFAULT_START,
) -> Workload:
    """Generate a labelled workload (see the module docstring). Deterministic for ``seed``."""
    if test_days >= days:
        raise ConfigError("test_days must be fewer than days")
    gen = _Gen(seed, n_actors, days, test_days, start.timestamp())
    gen.population()
    for a in list(gen.actors.values()):
        if a.kind == "user":
            for d in range(days):
                gen.user_day(a, d, {})
        else:
            gen.agent_events(a)
    gen.noise()
    scenarios = [gen.attack(kind) for _ in range(scenarios_per_kind) for kind in kinds]
    events = [e for e in gen.events if gen.t0 <= e.ts < gen.end]
    events.sort(key=lambda e: e.ts)
    for i, e in enumerate(events):
        e.seq = i
    return Workload(events, scenarios, gen.actors, gen.t0, gen.split, gen.end)
