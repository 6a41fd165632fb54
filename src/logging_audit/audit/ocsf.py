"""Audit events as OCSF 1.3.0 events: the class and activity of each event type and action.

Every audit event maps to exactly one OCSF class and activity by
:func:`ocsf_activity` (a pure function of its type, action, resource and
details); :func:`to_ocsf` builds the whole OCSF object. The mapping table,
documented in ``docs/audit-export.md``, is :data:`MAPPING_TABLE`. In short:

- authentication → 3002 Authentication (login: 1 Logon, logout: 2 Logoff, mfa: 99 with ``is_mfa``);
- administrative: user and role management → 3001 Account Change; configuration,
  legal holds and the agent registry → 3004 Entity Management; anything else →
  6003 API Activity, its activity read from the action's leading verb;
- system → 6002 Application Lifecycle (startup: 3 Start, shutdown: 4 Stop, …);
- data access → 1001 File System Activity when the resource is a file path,
  else 6005 Datastore Activity;
- agent actions → 6003 API Activity (by verb);
- queries of the audit data → 6005 Datastore Activity (search, count: 4 Query),
  exports → 1008 Event Log Activity 3 Export; retention pruning (any type) →
  1008 Event Log Activity 2 Delete;
- any other event type → 0 Base Event, 99 Other.

Fields OCSF has no place for (the event type and action as recorded, the
clearance, details, agent signature) are kept under ``unmapped.logging_audit``,
so an OCSF export loses nothing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from logging_audit import __version__
from logging_audit.audit.events import AuditEvent
from logging_audit.audit.index import ts_to_us
from logging_audit.audit.records import StoredEvent

__all__ = [
    "MAPPING_TABLE",
    "OCSF_VERSION",
    "OcsfActivity",
    "OcsfClass",
    "ocsf_activity",
    "to_ocsf",
]

OCSF_VERSION = "1.3.0"
"""The OCSF schema version the events are written for (``metadata.version``)."""

PRODUCT = {"name": "logging_audit", "vendor_name": "logging_audit", "version": __version__}


@dataclass(frozen=True)
class OcsfClass:
    """An OCSF event class and its category."""

    class_uid: int
    class_name: str
    category_uid: int
    category_name: str


SYSTEM = "System Activity"
IAM = "Identity & Access Management"
APPLICATION = "Application Activity"

FILE_SYSTEM_ACTIVITY = OcsfClass(1001, "File System Activity", 1, SYSTEM)
EVENT_LOG_ACTIVITY = OcsfClass(1008, "Event Log Activity", 1, SYSTEM)
ACCOUNT_CHANGE = OcsfClass(3001, "Account Change", 3, IAM)
AUTHENTICATION = OcsfClass(3002, "Authentication", 3, IAM)
ENTITY_MANAGEMENT = OcsfClass(3004, "Entity Management", 3, IAM)
APPLICATION_LIFECYCLE = OcsfClass(6002, "Application Lifecycle", 6, APPLICATION)
API_ACTIVITY = OcsfClass(6003, "API Activity", 6, APPLICATION)
DATASTORE_ACTIVITY = OcsfClass(6005, "Datastore Activity", 6, APPLICATION)
BASE_EVENT = OcsfClass(0, "Base Event", 0, "Uncategorized")


@dataclass(frozen=True)
class OcsfActivity:
    """Where one audit event lands in OCSF: class, activity id and activity name."""

    ocsf_class: OcsfClass
    activity_id: int
    activity_name: str

    @property
    def type_uid(self) -> int:
        """OCSF ``type_uid``: ``class_uid * 100 + activity_id``."""
        return self.ocsf_class.class_uid * 100 + self.activity_id

    @property
    def type_name(self) -> str:
        """OCSF ``type_name``: ``"<class name>: <activity name>"``."""
        return f"{self.ocsf_class.class_name}: {self.activity_name}"


OTHER = 99

# -- per-class activity tables (action word -> (activity_id, activity_name)) -------------

_AUTH = {
    "login": (1, "Logon"),
    "logon": (1, "Logon"),
    "sign_in": (1, "Logon"),
    "signin": (1, "Logon"),
    "logout": (2, "Logoff"),
    "logoff": (2, "Logoff"),
    "sign_out": (2, "Logoff"),
    "signout": (2, "Logoff"),
}

_ACCOUNT = {
    "user_create": (1, "Create"),
    "account_create": (1, "Create"),
    "user_enable": (2, "Enable"),
    "account_enable": (2, "Enable"),
    "password_change": (3, "Password Change"),
    "password_reset": (4, "Password Reset"),
    "user_disable": (5, "Disable"),
    "account_disable": (5, "Disable"),
    "user_delete": (6, "Delete"),
    "account_delete": (6, "Delete"),
    "role_grant": (7, "Attach Policy"),
    "role_assign": (7, "Attach Policy"),
    "policy_attach": (7, "Attach Policy"),
    "role_revoke": (8, "Detach Policy"),
    "policy_detach": (8, "Detach Policy"),
    "user_lock": (9, "Lock"),
    "account_lock": (9, "Lock"),
}
_ACCOUNT_PREFIXES = ("user_", "account_", "role_", "password_")

_ENTITY = {
    "config_change": (3, "Update", "configuration"),
    "configuration_change": (3, "Update", "configuration"),
    "setting_change": (3, "Update", "configuration"),
    "legal_hold_place": (1, "Create", "legal_hold"),
    "legal_hold_release": (3, "Update", "legal_hold"),
    "agent_register": (1, "Create", "agent"),
    "agent_clearance_change": (3, "Update", "agent"),
    "agent_deactivate": (11, "Deactivate", "agent"),
    "rule_add": (1, "Create", "policy_rule"),
    "rule_update": (3, "Update", "policy_rule"),
    "rule_enable": (8, "Enable", "policy_rule"),
    "rule_disable": (9, "Disable", "policy_rule"),
}

_LIFECYCLE = {
    "install": (1, "Install"),
    "remove": (2, "Remove"),
    "uninstall": (2, "Remove"),
    "startup": (3, "Start"),
    "start": (3, "Start"),
    "shutdown": (4, "Stop"),
    "stop": (4, "Stop"),
    "restart": (5, "Restart"),
    "enable": (6, "Enable"),
    "disable": (7, "Disable"),
    "update": (8, "Update"),
    "upgrade": (8, "Update"),
}

_FILE = {
    "create": (1, "Create"),
    "read": (2, "Read"),
    "write": (3, "Update"),
    "update": (3, "Update"),
    "delete": (4, "Delete"),
    "rename": (5, "Rename"),
    "move": (5, "Rename"),
    "encrypt": (10, "Encrypt"),
    "decrypt": (11, "Decrypt"),
    "open": (14, "Open"),
}

_DATASTORE = {
    "read": (1, "Read"),
    "update": (2, "Update"),
    "connect": (3, "Connect"),
    "query": (4, "Query"),
    "search": (4, "Query"),
    "count": (4, "Query"),
    "write": (5, "Write"),
    "create": (6, "Create"),
    "insert": (6, "Create"),
    "delete": (7, "Delete"),
    "list": (8, "List"),
    "encrypt": (9, "Encrypt"),
    "decrypt": (10, "Decrypt"),
    "ledger_read": (1, "Read"),
}

_EXPORT_ACTIONS = frozenset({"export", "export_manifest", "export_custody"})
_PRUNE_ACTIONS = frozenset({"retention_prune"})

_VERBS = {
    "create": (1, "Create"),
    "add": (1, "Create"),
    "insert": (1, "Create"),
    "register": (1, "Create"),
    "new": (1, "Create"),
    "read": (2, "Read"),
    "get": (2, "Read"),
    "view": (2, "Read"),
    "list": (2, "Read"),
    "fetch": (2, "Read"),
    "download": (2, "Read"),
    "query": (2, "Read"),
    "search": (2, "Read"),
    "update": (3, "Update"),
    "change": (3, "Update"),
    "modify": (3, "Update"),
    "set": (3, "Update"),
    "edit": (3, "Update"),
    "patch": (3, "Update"),
    "write": (3, "Update"),
    "delete": (4, "Delete"),
    "remove": (4, "Delete"),
    "destroy": (4, "Delete"),
    "purge": (4, "Delete"),
}
_WORDS = re.compile(r"[A-Za-z]+")
_FILE_PATH = re.compile(r"^(?:/|~/|\./|\.\./|file:|[A-Za-z]:[\\/]|\\\\)")
_FILE_DETAIL_KEYS = ("path", "file_path", "filename", "file")

_AUTH_PROTOCOLS = {
    "ntlm": 1,
    "kerberos": 2,
    "digest": 3,
    "openid": 4,
    "oidc": 4,
    "saml": 5,
    "oauth": 6,
    "oauth2": 6,
    "oauth 2.0": 6,
    "pap": 7,
    "chap": 8,
    "eap": 9,
    "radius": 10,
}

_SEVERITY_WORDS = {
    "debug": 1,
    "info": 1,
    "informational": 1,
    "low": 2,
    "notice": 2,
    "medium": 3,
    "warning": 3,
    "warn": 3,
    "high": 4,
    "error": 4,
    "critical": 5,
    "fatal": 6,
    "emergency": 6,
}
_SEVERITY_NAMES = {
    0: "Unknown",
    1: "Informational",
    2: "Low",
    3: "Medium",
    4: "High",
    5: "Critical",
    6: "Fatal",
}
_STATUS = {"success": (1, "Success"), "failure": (2, "Failure"), "unknown": (0, "Unknown")}
_USER_TYPES = {"user": (1, "User"), "system": (3, "System"), "agent": (OTHER, "Agent")}


def _by_verb(cls: OcsfClass, action: str) -> OcsfActivity:
    words = _WORDS.findall(action.lower())
    for word in words[:1]:
        if word in _VERBS:
            aid, name = _VERBS[word]
            return OcsfActivity(cls, aid, name)
    return OcsfActivity(cls, OTHER, action)


def _looks_like_file(resource: str | None, details: Mapping[str, Any]) -> bool:
    if resource is not None and _FILE_PATH.match(resource):
        return True
    return any(isinstance(details.get(k), str) for k in _FILE_DETAIL_KEYS)


def ocsf_activity(
    event_type: str,
    action: str,
    resource: str | None = None,
    details: Mapping[str, Any] | None = None,
) -> OcsfActivity:
    """The OCSF class and activity of an event (see the module docstring's table).

    Total and deterministic: every event type and action lands somewhere; an
    action the tables do not name becomes activity 99 ``Other`` with the
    action as its name.
    """
    details = details or {}
    act = action.lower()
    if act in _PRUNE_ACTIONS:
        return OcsfActivity(EVENT_LOG_ACTIVITY, 2, "Delete")
    if event_type == "authentication":
        if act in _AUTH:
            return OcsfActivity(AUTHENTICATION, *_AUTH[act])
        return OcsfActivity(AUTHENTICATION, OTHER, "MFA" if act == "mfa" else action)
    if event_type == "administrative":
        if act in _ACCOUNT:
            return OcsfActivity(ACCOUNT_CHANGE, *_ACCOUNT[act])
        if act.startswith(_ACCOUNT_PREFIXES):
            return OcsfActivity(ACCOUNT_CHANGE, OTHER, action)
        if act in _ENTITY:
            aid, name, _ = _ENTITY[act]
            return OcsfActivity(ENTITY_MANAGEMENT, aid, name)
        return _by_verb(API_ACTIVITY, action)
    if event_type == "system":
        if act in _LIFECYCLE:
            return OcsfActivity(APPLICATION_LIFECYCLE, *_LIFECYCLE[act])
        return OcsfActivity(APPLICATION_LIFECYCLE, OTHER, action)
    if event_type == "data_access":
        if _looks_like_file(resource, details):
            if act in _FILE:
                return OcsfActivity(FILE_SYSTEM_ACTIVITY, *_FILE[act])
            return OcsfActivity(FILE_SYSTEM_ACTIVITY, OTHER, action)
        if act in _DATASTORE:
            return OcsfActivity(DATASTORE_ACTIVITY, *_DATASTORE[act])
        return OcsfActivity(DATASTORE_ACTIVITY, OTHER, action)
    if event_type == "agent_action":
        return _by_verb(API_ACTIVITY, action)
    if event_type == "query":
        if act in _EXPORT_ACTIONS:
            return OcsfActivity(EVENT_LOG_ACTIVITY, 3, "Export")
        if act in _DATASTORE:
            return OcsfActivity(DATASTORE_ACTIVITY, *_DATASTORE[act])
        return OcsfActivity(DATASTORE_ACTIVITY, OTHER, action)
    return OcsfActivity(BASE_EVENT, OTHER, action)


MAPPING_TABLE: tuple[tuple[str, str, str | None, OcsfActivity], ...] = tuple(
    (t, a, r, ocsf_activity(t, a, r))
    for t, a, r in (
        ("authentication", "login", None),
        ("authentication", "logout", None),
        ("authentication", "mfa", None),
        ("administrative", "user_create", None),
        ("administrative", "user_enable", None),
        ("administrative", "password_change", None),
        ("administrative", "password_reset", None),
        ("administrative", "user_disable", None),
        ("administrative", "user_delete", None),
        ("administrative", "role_grant", None),
        ("administrative", "role_revoke", None),
        ("administrative", "user_lock", None),
        ("administrative", "user_update", None),
        ("administrative", "config_change", None),
        ("administrative", "legal_hold_place", None),
        ("administrative", "legal_hold_release", None),
        ("administrative", "agent_register", None),
        ("administrative", "agent_clearance_change", None),
        ("administrative", "create_api_token", None),
        ("administrative", "backup", None),
        ("system", "startup", None),
        ("system", "shutdown", None),
        ("system", "restart", None),
        ("system", "error", None),
        ("system", "retention_prune", None),
        ("data_access", "read", "/srv/data/report.pdf"),
        ("data_access", "write", "/srv/data/report.pdf"),
        ("data_access", "delete", "/srv/data/report.pdf"),
        ("data_access", "read", "document_456"),
        ("data_access", "write", "document_456"),
        ("data_access", "delete", "document_456"),
        ("data_access", "export", "document_456"),
        ("agent_action", "read_inbox", None),
        ("agent_action", "update_ticket", None),
        ("agent_action", "summarise", None),
        ("query", "search", None),
        ("query", "count", None),
        ("query", "ledger_read", None),
        ("query", "export", None),
        ("query", "export_manifest", None),
        ("query", "export_custody", None),
        ("custom_type", "anything", None),
    )
)
"""Representative (event type, action, resource, activity) rows: the table in
``docs/audit-export.md`` (a test keeps the two equal)."""


# -- building the OCSF object ------------------------------------------------------------


def _severity(event: AuditEvent) -> int:
    word = event.details.get("severity")
    if isinstance(word, str) and word.lower() in _SEVERITY_WORDS:
        return _SEVERITY_WORDS[word.lower()]
    if event.event_type == "system" and event.action.lower() in ("error", "crash", "failure"):
        return 4
    if event.outcome == "failure":
        return 3
    return 1


def _user(uid: str, actor_type: str) -> dict[str, Any]:
    type_id, type_name = _USER_TYPES.get(actor_type, (OTHER, actor_type))
    return {"uid": uid, "name": uid, "type_id": type_id, "type": type_name}


def _str_detail(details: Mapping[str, Any], *keys: str) -> str | None:
    for key in keys:
        value = details.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def _class_fields(
    activity: OcsfActivity, event: AuditEvent, origin: str, device: dict[str, Any] | None
) -> dict[str, Any]:
    uid = activity.ocsf_class.class_uid
    details = event.details
    out: dict[str, Any] = {}
    if uid == AUTHENTICATION.class_uid:
        out["user"] = _user(event.actor, event.actor_type)
        out["is_mfa"] = event.action.lower() == "mfa" or details.get("mfa") is True
        method = _str_detail(details, "auth_protocol", "auth_method")
        if method is not None:
            out["auth_protocol"] = method
            out["auth_protocol_id"] = _AUTH_PROTOCOLS.get(method.lower(), OTHER)
    elif uid == ACCOUNT_CHANGE.class_uid:
        target = event.resource or _str_detail(details, "target_user", "user_id", "username")
        out["user"] = _user(target or event.actor, "user")
    elif uid == ENTITY_MANAGEMENT.class_uid:
        entry = _ENTITY.get(event.action.lower())
        kind = entry[2] if entry else "entity"
        name = event.resource or _str_detail(details, "agent_id", "hold_id", "setting", "key")
        out["entity"] = {"uid": name or kind, "name": name or kind, "type": kind}
    elif uid == API_ACTIVITY.class_uid:
        out["api"] = {
            "operation": event.action,
            "service": {"name": event.source_node or "logging_audit"},
        }
        if event.resource is not None:
            out["resources"] = [{"uid": event.resource, "name": event.resource}]
    elif uid == APPLICATION_LIFECYCLE.class_uid:
        name = _str_detail(details, "app", "application", "service", "component")
        out["app"] = {"name": name or event.source_node or "logging_audit"}
        version = _str_detail(details, "version")
        if version is not None:
            out["app"]["version"] = version
    elif uid == FILE_SYSTEM_ACTIVITY.class_uid:
        path = event.resource or _str_detail(details, *_FILE_DETAIL_KEYS) or ""
        name = re.split(r"[\\/]", path)[-1] or path
        out["file"] = {"name": name, "path": path, "type_id": 1, "type": "Regular File"}
    elif uid == DATASTORE_ACTIVITY.class_uid:
        criteria = details.get("criteria")
        if event.event_type == "query" and criteria is not None:
            out["query_info"] = {
                "query_string": orjson.dumps(criteria, option=orjson.OPT_SORT_KEYS).decode(),
            }
    elif uid == EVENT_LOG_ACTIVITY.class_uid:
        out["log_name"] = origin
        out["log_provider"] = "logging_audit"
    if uid in (FILE_SYSTEM_ACTIVITY.class_uid, EVENT_LOG_ACTIVITY.class_uid):
        out["device"] = device or {"type_id": 0, "type": "Unknown"}
    return out


def to_ocsf(stored: StoredEvent, *, origin: str, node_id: str | None = None) -> dict[str, Any]:
    """The OCSF event of a stored audit event (JSON-ready; see the module docstring).

    ``origin`` names the audit stream (``metadata.log_name``); ``node_id`` is
    the device of events that carry no ``source_node``.
    """
    event = stored.event
    activity = ocsf_activity(event.event_type, event.action, event.resource, event.details)
    cls = activity.ocsf_class
    ms = ts_to_us(stored.ts) // 1000
    severity = _severity(event)
    status_id, status = _STATUS.get(event.outcome, (OTHER, event.outcome))
    host = event.source_node or node_id
    device = None if host is None else {"hostname": host, "type_id": 0, "type": "Unknown"}
    out: dict[str, Any] = {
        "class_uid": cls.class_uid,
        "class_name": cls.class_name,
        "category_uid": cls.category_uid,
        "category_name": cls.category_name,
        "activity_id": activity.activity_id,
        "activity_name": activity.activity_name,
        "type_uid": activity.type_uid,
        "type_name": activity.type_name,
        "time": ms,
        "severity_id": severity,
        "severity": _SEVERITY_NAMES[severity],
        "status_id": status_id,
        "status": status,
        "message": f"{event.event_type}/{event.action} by {event.actor}: {event.outcome}",
        "metadata": {
            "version": OCSF_VERSION,
            "uid": event.event_id,
            "sequence": stored.seq,
            "log_name": origin,
            "log_provider": "logging_audit",
            "logged_time": ms,
            "original_time": stored.ts,
            "product": dict(PRODUCT),
        },
        "actor": {"user": _user(event.actor, event.actor_type)},
    }
    if event.source_ip is not None:
        out["src_endpoint"] = {"ip": event.source_ip}
    if device is not None:
        out["device"] = device
    out.update(_class_fields(activity, event, origin, device))
    sig = event.agent_sig
    out["unmapped"] = {
        "logging_audit": {
            "event_type": event.event_type,
            "action": event.action,
            "outcome": event.outcome,
            "actor_type": event.actor_type,
            "clearance_level": int(event.clearance),
            "resource": event.resource,
            "source_node": event.source_node,
            "details": event.details,
            "agent_signature": None if sig is None else sig.to_fields(),
        }
    }
    return out
