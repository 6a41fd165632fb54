"""Paging cursors: opaque, authenticated, bound to one query, requestor and clearance.

A cursor is ``base64url(payload) "." base64url(HMAC-SHA256(key, payload)[:16])``
where the payload holds the query's fingerprint, the requestor's id and
clearance and the position (sort value and seq of the last row returned). It
reveals nothing the holder was not shown, cannot be forged or edited, and is
refused for any other query, requestor or clearance — so it can neither leak
nor widen what a search returns.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from typing import Any

import orjson

from logging_audit.audit.query import EventQuery
from logging_audit.audit.records import Requestor
from logging_audit.audit.sql import CursorPosition
from logging_audit.errors import ConfigError

__all__ = ["CursorCodec"]

_MAX_CURSOR = 8192
_TAG = 16


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class CursorCodec:
    """Makes and opens cursors under one key."""

    def __init__(self, key: bytes) -> None:
        """``key``: 32 secret bytes (the store derives it from its checkpoint key)."""
        self._key = bytes(key)

    def _tag(self, payload: bytes) -> bytes:
        return hmac.digest(self._key, payload, "sha256")[:_TAG]

    def encode(self, query: EventQuery, requestor: Requestor, value: Any, seq: int) -> str:
        """Return the cursor continuing ``query`` after the row (``value``, ``seq``)."""
        payload = orjson.dumps(
            {
                "v": 1,
                "q": query.fingerprint(),
                "r": requestor.requestor_id,
                "c": int(requestor.clearance),
                "k": [value, seq],
            }
        )
        return f"{_b64(payload)}.{_b64(self._tag(payload))}"

    def decode(self, cursor: object, query: EventQuery, requestor: Requestor) -> CursorPosition:
        """Open a cursor for ``query`` and ``requestor``; anything else is a ConfigError."""
        if not isinstance(cursor, str) or len(cursor) > _MAX_CURSOR or cursor.count(".") != 1:
            raise ConfigError("invalid paging cursor")
        body, tag = cursor.split(".")
        try:
            payload = _unb64(body)
            given = _unb64(tag)
        except (binascii.Error, ValueError) as exc:
            raise ConfigError("invalid paging cursor") from exc
        if not hmac.compare_digest(self._tag(payload), given):
            raise ConfigError("invalid paging cursor (not issued by this store, or altered)")
        data = orjson.loads(payload)
        if (
            data.get("q") != query.fingerprint()
            or data.get("r") != requestor.requestor_id
            or data.get("c") != int(requestor.clearance)
        ):
            raise ConfigError(
                "the paging cursor belongs to another search: the query, requestor or "
                "clearance differ"
            )
        value, seq = data["k"]
        return CursorPosition(value, int(seq))
