"""Small, pure feature functions shared by the baseline and the detectors.

Each is documented with the exact rule it applies, because explanations quote
its result ("network 203.0.113.0/24", "collection finance/ledger").
"""

from __future__ import annotations

import ipaddress
import math
import operator
import re
from collections import Counter
from collections.abc import Iterator, Mapping
from functools import lru_cache
from typing import Any

__all__ = [
    "PRIVILEGED_ACTIONS",
    "READ_ACTIONS",
    "client_family",
    "collection_of",
    "encoded_values",
    "hour_of_day",
    "hour_of_week",
    "is_denied_read",
    "is_privileged",
    "is_read",
    "looks_encoded",
    "network_of",
    "shannon_entropy",
    "string_fields",
]

READ_ACTIONS = frozenset(
    {"read", "export", "download", "view", "get", "fetch", "copy", "list", "search", "query"}
)
"""Actions that move data towards the actor (volume and denied-read detectors)."""

PRIVILEGED_ACTIONS = frozenset(
    {
        "user_create",
        "user_update",
        "user_delete",
        "role_grant",
        "role_revoke",
        "config_change",
        "agent_register",
        "agent_clearance_change",
        "legal_hold_release",
        "retention_prune",
        "key_rotate",
        "policy_change",
        "permission_grant",
        "sudo",
        "privilege_escalate",
    }
)
"""Actions that change who may do what; every ``administrative`` event counts too."""

_DENIED_WORDS = ("clearance", "denied", "forbidden", "not authorized", "unauthorized")


def network_of(ip: str | None) -> str | None:
    """The network an address belongs to (see :func:`_network`); ``None`` for no address."""
    return _network(ip) if ip else None


@lru_cache(maxsize=65536)
def _network(ip: str) -> str:
    """The network an address belongs to: IPv4 /24, IPv6 /48 (``None`` if not an address).

    IPv4-mapped IPv6 (``::ffff:1.2.3.4``) counts as the IPv4 address. A host name
    (not an address) is its own "network".
    """
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return ip.lower()
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    if isinstance(addr, ipaddress.IPv4Address):
        return str(ipaddress.ip_network(f"{addr}/24", strict=False))
    return str(ipaddress.ip_network(f"{addr}/48", strict=False))


def collection_of(resource: str | None) -> str | None:
    """The collection of a resource: everything before its last ``/`` (``:`` if no ``/``).

    ``finance/ledger/2026-q1.xlsx`` → ``finance/ledger``; ``db:customers:42`` →
    ``db:customers``; a bare name is its own collection.
    """
    if not resource:
        return None
    for sep in ("/", ":"):
        head, found, _ = resource.rpartition(sep)
        if found and head:
            return head
    return resource


_VERSION = re.compile(r"[/ ]?v?\d+(?:[._]\d+)*")


def client_family(user_agent: object) -> str | None:
    """A client's family (see :func:`_family`); ``None`` when there is no user agent."""
    if not isinstance(user_agent, str) or not user_agent:
        return None
    return _family(user_agent)


@lru_cache(maxsize=4096)
def _family(user_agent: str) -> str | None:
    """A client's family: its user agent without version numbers, lower case.

    ``Mozilla/5.0 (Windows NT 10.0) Chrome/126.0.1`` and ``… Chrome/127.0.4`` are
    one family, so browser updates are not new clients.
    """
    return _VERSION.sub("", user_agent).strip().lower()[:120] or None


def hour_of_week(ts: float) -> int:
    """0 … 167: Monday 00:00 UTC is 0 (1970-01-01 was a Thursday)."""
    return int((ts // 3600 + 72) % 168)


def hour_of_day(ts: float) -> int:
    """0 … 23, UTC."""
    return int(ts // 3600 % 24)


def shannon_entropy(text: str) -> float:
    """Shannon entropy in bits per character."""
    if not text:
        return 0.0
    n = len(text)
    counts = list(Counter(text).values())
    total: float = sum(map(operator.mul, counts, map(math.log2, counts)))
    return math.log2(n) - total / n


_ENCODED = re.compile(r"[A-Za-z0-9+/=_-]+")
_HEX = re.compile(r"[0-9a-fA-F]+")
_DIGIT_OR_UPPER = re.compile(r"[0-9A-Z]")


def looks_encoded(text: str, min_len: int) -> bool:
    """True for a value that looks like encoded binary data.

    At least ``min_len`` characters, no spaces, only base64/base64url/hex
    characters, and an entropy of at least 3.0 bits per character for hex,
    4.5 for anything else (as secret scanners use; random base64 of 48+
    characters is about 5, words, slugs and paths stay below).
    """
    if len(text) < min_len or not _ENCODED.fullmatch(text):
        return False
    if _HEX.fullmatch(text):
        return shannon_entropy(text) >= 3.0
    if _DIGIT_OR_UPPER.search(text) is None:
        return False  # a long lower-case word or slug
    return shannon_entropy(text) >= 4.5


def encoded_values(
    details: Mapping[str, Any], min_len: int, prefix: str = "details"
) -> Iterator[tuple[str, str]]:
    """``(field path, value)`` of every encoded-looking string inside ``details``.

    List items share their list's path (``details.parts[]``).
    """
    stack: list[tuple[str, Any]] = []
    for key, value in details.items():  # the common flat case without the stack
        if type(value) is str:
            if len(value) >= min_len and looks_encoded(value, min_len):
                yield f"{prefix}.{key}", value
        elif isinstance(value, (Mapping, list)):  # a tuple: no union object on this hot path
            stack.append((f"{prefix}.{key}", value))
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            if len(value) >= min_len and looks_encoded(value, min_len):
                yield path, value
        elif isinstance(value, Mapping):
            stack.extend((f"{path}.{k}", v) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((f"{path}[]", v) for v in value)


def string_fields(details: Mapping[str, Any], prefix: str = "details") -> Iterator[tuple[str, str]]:
    """``(field path, value)`` of every string inside ``details`` (paths as above)."""
    stack: list[tuple[str, Any]] = [(prefix, details)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            yield path, value
        elif isinstance(value, Mapping):
            stack.extend((f"{path}.{k}", v) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((f"{path}[]", v) for v in value)


def is_read(action: str) -> bool:
    """True for an action of :data:`READ_ACTIONS`."""
    return action in READ_ACTIONS


def is_privileged(event_type: str, action: str) -> bool:
    """True for an ``administrative`` event or an action of :data:`PRIVILEGED_ACTIONS`."""
    return event_type == "administrative" or action in PRIVILEGED_ACTIONS


def is_denied_read(event_type: str, action: str, outcome: str, details: Mapping[str, Any]) -> bool:
    """True for a read refused because the actor's clearance is too low.

    A read-like action (or any ``data_access``) with outcome ``failure`` whose
    details say why: ``required_clearance`` above ``actor_clearance``, or a
    ``reason``/``error`` mentioning clearance, denied, forbidden or (un)authorized.
    """
    if outcome != "failure" or not (event_type == "data_access" or action in READ_ACTIONS):
        return False
    required, held = details.get("required_clearance"), details.get("actor_clearance")
    if isinstance(required, int) and isinstance(held, int) and required > held:
        return True
    for key in ("reason", "error"):
        text = details.get(key)
        if isinstance(text, str) and any(w in text.lower() for w in _DENIED_WORDS):
            return True
    return False
