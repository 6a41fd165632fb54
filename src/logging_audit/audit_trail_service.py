"""``AuditTrailService``: the seed's audit trail face over the ledger-backed audit store.

::

    audit = AuditTrailService(log_dir="audit_logs", retention_days=365)
    audit.log_auth_event(user_id="user123", success=True,
                         details={"ip_address": "192.168.1.1", "auth_method": "password"})
    results = audit.search_logs(criteria={"user_id": "user123"},
                                start_date="2023-01-01", end_date="2023-01-31")
    exported = audit.export_logs(output_file="monthly_audit.json",
                                 start_date="2023-01-01", end_date="2023-01-31")
    verification = audit.verify_integrity()

By default the store is SQLite at ``<log_dir>/audit.db``, its keys in
``<log_dir>/audit.db.keys/``. ``database_url`` selects another database
(``postgresql://…`` needs ``key_dir``). The service is the owner's view: its
searches read at ``reader_clearance`` (default LEVEL_5) unless a call passes
``requestor_clearance``; every search, count and export is recorded.

``secret_key`` seals the verifier kept beside the database (K(0), from which
every epoch's MAC key derives) with a key derived from it by scrypt, so that a
copy of the disk alone cannot forge old MACs; it is never stored or logged.
It cannot protect against an attacker who controls the running process (who
then holds the secret): a secret on the host gives no forward security — the
signed checkpoints, pushed off the host or to a witness, still do. See docs/audit.md.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from logging_audit.audit.dates import TimeBound
from logging_audit.audit.events import Action, ActorType, AuditEvent, EventType, Outcome
from logging_audit.audit.factory import is_postgres_url, open_store
from logging_audit.audit.json_export import write_json_array
from logging_audit.audit.limits import DEFAULT_LIMITS, Limits
from logging_audit.audit.query import EventQuery
from logging_audit.audit.records import Requestor
from logging_audit.audit.retention import cutoff_for_days
from logging_audit.audit.sealed_verifier import secret_bytes
from logging_audit.audit.store import AuditStore
from logging_audit.crypto import DEFAULT_EPOCH_SECONDS
from logging_audit.errors import ConfigError
from logging_audit.persistence.models import ClearanceLevel

__all__ = ["AuditTrailService"]

_AUTH = ClearanceLevel.LEVEL_2
_DATA = ClearanceLevel.LEVEL_3
_ADMIN = ClearanceLevel.LEVEL_3
_SYSTEM = ClearanceLevel.LEVEL_1


def _outcome(success: bool) -> str:
    if not isinstance(success, bool):
        raise ConfigError(f"success must be True or False, got {success!r}")
    return Outcome.SUCCESS.value if success else Outcome.FAILURE.value


def _ip(details: Mapping[str, Any] | None, source_ip: str | None) -> str | None:
    if source_ip is not None:
        return source_ip
    if isinstance(details, Mapping):
        ip = details.get("ip_address")
        if isinstance(ip, str) and ip:
            return ip
    return None


class AuditTrailService:
    """Record, search, export and verify security audit events (the seed's API)."""

    def __init__(
        self,
        log_dir: str | os.PathLike[str] = "audit_logs",
        retention_days: int | None = 365,
        secret_key: str | bytes | None = None,
        *,
        database_url: str | None = None,
        key_dir: str | os.PathLike[str] | None = None,
        schema: str = "logaudit",
        epoch_seconds: int = DEFAULT_EPOCH_SECONDS,
        keep_verifier: bool = True,
        verifier_out: str | os.PathLike[str] | None = None,
        reader_id: str = "audit-trail-service",
        reader_clearance: ClearanceLevel = ClearanceLevel.LEVEL_5,
        prune_on_open: bool = True,
        node_id: str | None = None,
        limits: Limits = DEFAULT_LIMITS,
        clock: Any = None,
    ) -> None:
        """Open (or create) the audit trail; with ``retention_days``, prune what expired.

        ``retention_days=None`` keeps everything. See the module docstring for
        ``secret_key``.
        """
        if retention_days is not None and (type(retention_days) is not int or retention_days < 1):
            raise ConfigError(f"retention_days must be a positive integer, got {retention_days!r}")
        self.log_dir = Path(log_dir)
        self.retention_days = retention_days
        self._reader = Requestor(reader_id, ClearanceLevel.coerce(reader_clearance))
        secret = None if secret_key is None else secret_bytes(secret_key)
        options: dict[str, Any] = {
            "epoch_seconds": epoch_seconds,
            "keep_verifier": keep_verifier,
            "verifier_out": verifier_out,
            "secret_key": secret,
            "node_id": node_id,
            "limits": limits,
            "clock": clock,
        }
        if database_url is not None:
            if is_postgres_url(database_url) and key_dir is None:
                key_dir = self.log_dir / "keys"
            self._store = open_store(database_url, key_dir=key_dir, schema=schema, **options)
        else:
            self._store = open_store(self.log_dir / "audit.db", key_dir=key_dir, **options)
        if prune_on_open and retention_days is not None:
            self.apply_retention()

    @property
    def store(self) -> AuditStore:
        """The underlying audit store (typed read API, proofs, checkpoints)."""
        return self._store

    # -- recording ---------------------------------------------------------------------

    def log_event(self, event: AuditEvent) -> str:
        """Record a typed event; return its event id."""
        return self._store.append([event])[0].event.event_id

    def log_events(self, events: Iterable[AuditEvent]) -> list[str]:
        """Record several typed events in one transaction; return their event ids."""
        return [e.event.event_id for e in self._store.append(events)]

    def _log(self, **fields: Any) -> str:
        fields.setdefault("source_node", self._store.node_id)
        return self.log_event(AuditEvent(limits=self._store.limits, **fields))

    def _log_outcome(
        self,
        event_type: str,
        action: str,
        actor: str,
        success: bool,
        details: Mapping[str, Any] | None,
        clearance: ClearanceLevel | int,
        **fields: Any,
    ) -> str:
        """:meth:`_log` of a user's action: outcome from ``success``, source ip from ``details``."""
        return self._log(
            event_type=event_type,
            action=action,
            actor=actor,
            outcome=_outcome(success),
            source_ip=_ip(details, fields.pop("source_ip", None)),
            clearance=clearance,
            details=details or {},
            **fields,
        )

    def log_auth_event(
        self,
        user_id: str,
        success: bool,
        details: Mapping[str, Any] | None = None,
        *,
        action: str = Action.LOGIN,
        source_ip: str | None = None,
        clearance_level: ClearanceLevel | int = _AUTH,
    ) -> str:
        """Record an authentication event (``login``, ``logout``, ``mfa`` …).

        ``source_ip`` defaults to ``details["ip_address"]``.
        """
        return self._log_outcome(
            EventType.AUTHENTICATION, action, user_id, success, details, clearance_level,
            source_ip=source_ip,
        )  # fmt: skip

    def log_data_access(
        self,
        user_id: str,
        resource_id: str,
        action: str,
        success: bool,
        details: Mapping[str, Any] | None = None,
        *,
        source_ip: str | None = None,
        clearance_level: ClearanceLevel | int = _DATA,
    ) -> str:
        """Record a data access (``read``, ``write``, ``delete``, ``export`` …) of a resource."""
        return self._log_outcome(
            EventType.DATA_ACCESS, action, user_id, success, details, clearance_level,
            resource=resource_id, source_ip=source_ip,
        )  # fmt: skip

    def log_admin_action(
        self,
        admin_id: str,
        action: str,
        target: str | None = None,
        details: Mapping[str, Any] | None = None,
        *,
        success: bool = True,
        clearance_level: ClearanceLevel | int = _ADMIN,
    ) -> str:
        """Record an administrative action on ``target`` (a user, role, setting …)."""
        return self._log_outcome(
            EventType.ADMINISTRATIVE, action, admin_id, success, details, clearance_level,
            resource=target,
        )  # fmt: skip

    def log_config_change(
        self,
        user_id: str,
        setting: str,
        old_value: Any = None,
        new_value: Any = None,
        details: Mapping[str, Any] | None = None,
        *,
        success: bool = True,
        clearance_level: ClearanceLevel | int = _ADMIN,
    ) -> str:
        """Record a configuration change of ``setting`` from ``old_value`` to ``new_value``."""
        merged = {**(details or {}), "old_value": old_value, "new_value": new_value}
        return self.log_admin_action(
            user_id,
            Action.CONFIG_CHANGE,
            setting,
            merged,
            success=success,
            clearance_level=clearance_level,
        )

    def log_user_management(
        self,
        admin_id: str,
        action: str,
        target_user_id: str,
        details: Mapping[str, Any] | None = None,
        *,
        success: bool = True,
        clearance_level: ClearanceLevel | int = _ADMIN,
    ) -> str:
        """Record user or role management (``user_create``, ``role_grant`` …) on a user."""
        return self.log_admin_action(
            admin_id,
            action,
            target_user_id,
            details,
            success=success,
            clearance_level=clearance_level,
        )

    def log_system_event(
        self,
        event: str,
        details: Mapping[str, Any] | None = None,
        *,
        success: bool = True,
        component: str = "system",
        clearance_level: ClearanceLevel | int = _SYSTEM,
    ) -> str:
        """Record a system event (``startup``, ``shutdown``, ``error`` …) of ``component``."""
        return self._log(
            event_type=EventType.SYSTEM,
            action=event,
            actor=component,
            actor_type=ActorType.SYSTEM,
            outcome=_outcome(success),
            clearance=clearance_level,
            details=details or {},
        )

    # -- reading -----------------------------------------------------------------------

    def _requestor(
        self, requestor_id: str | None, requestor_clearance: ClearanceLevel | int | None
    ) -> Requestor:
        return Requestor(
            requestor_id or self._reader.requestor_id,
            self._reader.clearance
            if requestor_clearance is None
            else ClearanceLevel.coerce(requestor_clearance),
        )

    def search_logs(
        self,
        criteria: Mapping[str, Any] | None = None,
        start_date: TimeBound | None = None,
        end_date: TimeBound | None = None,
        *,
        text: str | None = None,
        sort: str | None = None,
        limit: int | None = None,
        requestor_id: str | None = None,
        requestor_clearance: ClearanceLevel | int | None = None,
    ) -> list[dict[str, Any]]:
        """Return matching events (stable dict shape, see docs/audit.md), oldest first.

        ``criteria``: equality, ``in``, ranges, ``contains``, ``exists`` and
        ``text`` on any field, ``details.<path>`` included. ``start_date`` /
        ``end_date``: ISO dates (an end date includes its whole day), zoned ISO
        datetimes or ``datetime`` objects. ``limit=None`` returns every match.
        """
        query = EventQuery.build(criteria, start=start_date, end=end_date, text=text, sort=sort)
        requestor = self._requestor(requestor_id, requestor_clearance)
        if limit is None:
            return [e.to_dict() for e in self._store.iter_events(query, requestor)]
        return [e.to_dict() for e in self._store.search(query, requestor, limit=limit).events]

    def search_page(
        self,
        criteria: Mapping[str, Any] | None = None,
        start_date: TimeBound | None = None,
        end_date: TimeBound | None = None,
        *,
        text: str | None = None,
        sort: str | None = None,
        limit: int = 100,
        cursor: str | None = None,
        requestor_id: str | None = None,
        requestor_clearance: ClearanceLevel | int | None = None,
    ) -> dict[str, Any]:
        """One page: ``{"events": [...], "count": n, "next_cursor": str | None}``."""
        query = EventQuery.build(criteria, start=start_date, end=end_date, text=text, sort=sort)
        requestor = self._requestor(requestor_id, requestor_clearance)
        return self._store.search(query, requestor, limit=limit, cursor=cursor).to_dict()

    def count_logs(
        self,
        criteria: Mapping[str, Any] | None = None,
        start_date: TimeBound | None = None,
        end_date: TimeBound | None = None,
        *,
        text: str | None = None,
        requestor_id: str | None = None,
        requestor_clearance: ClearanceLevel | int | None = None,
    ) -> int:
        """Number of matching events the requestor may see."""
        query = EventQuery.build(criteria, start=start_date, end=end_date, text=text)
        return self._store.count(query, self._requestor(requestor_id, requestor_clearance))

    def export_logs(
        self,
        output_file: str | os.PathLike[str],
        start_date: TimeBound | None = None,
        end_date: TimeBound | None = None,
        *,
        criteria: Mapping[str, Any] | None = None,
        text: str | None = None,
        requestor_id: str | None = None,
        requestor_clearance: ClearanceLevel | int | None = None,
        format: str = "json",
        bundle: bool = False,
    ) -> int:
        """Write matching events to ``output_file``; return how many.

        ``format``: ``"json"`` (a JSON array, the default), ``"jsonl"``, ``"csv"``
        or ``"ocsf"``. ``bundle=True`` writes an evidence bundle instead: the
        events with their inclusion proofs, a signed checkpoint and the verifier
        key, checkable offline with ``logaudit audit verify-bundle``. The export
        is recorded twice: the read itself (criteria, count) and its chain of
        custody (file name, size, SHA-256 of the file).
        """
        query = EventQuery.build(criteria, start=start_date, end=end_date, text=text)
        requestor = self._requestor(requestor_id, requestor_clearance)
        if format != "json" or bundle:
            from logging_audit.audit.export import export_events

            return export_events(
                self._store, query, requestor, output_file, format=format, bundle=bundle
            ).count
        events = self._store.iter_events(
            query, requestor, purpose="export", details={"format": "json"}
        )
        result = write_json_array(output_file, events)
        self._store.record_query(
            requestor,
            "export_custody",
            query,
            result.count,
            {
                "format": "json",
                "output_file": str(result.path),
                "bytes": result.size,
                "sha256": result.sha256,
            },
        )
        return result.count

    # -- integrity, retention, checkpoints ---------------------------------------------

    def verify_integrity(self, verifier_path: str | None = None) -> dict[str, Any]:
        """Verify the whole trail; ``verified`` is true only when every check passed.

        The dict is the ledger report (``errors``: every failure with its kind,
        seq and reason) plus ``index_errors`` (derived columns that differ from
        the entry bytes) and ``verifier`` (which MAC keys were available).
        """
        return self._store.verify_integrity(verifier_path).to_dict()

    def apply_retention(self, now: datetime | None = None) -> dict[str, Any]:
        """Remove events older than ``retention_days`` (legal holds respected); say what went."""
        if self.retention_days is None:
            return {"removed": 0, "first_kept_seq": None, "cutoff": None, "held_back_by": []}
        cutoff = cutoff_for_days(self.retention_days, now or self._store.now())
        return self._store.prune(cutoff, actor="retention").to_dict()

    def place_legal_hold(
        self, hold_id: str, criteria: Mapping[str, Any], *, reason: str, placed_by: str
    ) -> dict[str, Any]:
        """Keep events matching ``criteria`` from retention until released."""
        return self._store.place_legal_hold(
            hold_id, dict(criteria), reason=reason, placed_by=placed_by
        ).to_dict()

    def release_legal_hold(self, hold_id: str, *, released_by: str) -> dict[str, Any]:
        """Release a legal hold."""
        return self._store.release_legal_hold(hold_id, released_by=released_by).to_dict()

    def checkpoint(self) -> str:
        """Sign a checkpoint of the trail now; return the signed note (for a witness)."""
        return self._store.checkpoint().note

    def close(self) -> None:
        """Seal, checkpoint and close the store."""
        self._store.close()

    def __enter__(self) -> AuditTrailService:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"AuditTrailService({self._store!r}, retention_days={self.retention_days})"
