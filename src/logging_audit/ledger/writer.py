"""The pure writer state machine: turns records into framed, MAC'd, chained lines.

It does no I/O: storage backends hand it records and write the lines it returns.
"""

from __future__ import annotations

import hashlib
import time
from binascii import b2a_base64
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from logging_audit.errors import ConfigError, FramingError, IntegrityError
from logging_audit.ledger.checkpoint import Checkpoint, sign_checkpoint
from logging_audit.ledger.framing import (
    RESERVED_FIELDS,
    ZERO_HASH,
    Entry,
    _build,
    format_ts,
    parse_entry,
)
from logging_audit.ledger.frontier import Frontier
from logging_audit.ledger.hashing import _LEAF, HASH_SIZE, leaf_hash
from logging_audit.ledger.notes import NoteSigner
from logging_audit.ledger.prune import StreamStart, prune_fields
from logging_audit.ledger.seals import SEAL, MacKey, evolve_key, seal_fields

__all__ = ["LedgerWriter", "QuickRecord", "WriterState", "quick_fields", "ts_from_ns"]

QuickRecord = tuple[str, str, str, str, "dict[str, Any] | None"]
"""``(level, logger, msg, node, extra)``: the fields of a plain log call, not yet a dict.

``extra`` is ``None`` when the call had none. The loggers queue these on their
hot path; :meth:`LedgerWriter.append_owned_batch` builds the entry in one go.
"""


def _fold(hashes: Sequence[bytes], size: int, leaves: list[bytes]) -> list[bytes]:
    """The frontier of a tree of ``size`` leaves (``hashes``) after appending ``leaves``.

    The same hashes as :meth:`Frontier.append` one leaf at a time, computed a
    level at a time: pair up the level's nodes (after the frontier's root of
    that height, if the level starts at an odd position), keep an odd one out
    as the new root of that height, and go up. ``leaves`` is consumed.
    """
    sha256 = hashlib.sha256
    heights = [h for h in range(size.bit_length() - 1, -1, -1) if size >> h & 1]
    roots = dict(zip(heights, hashes, strict=True))
    level, pos, height = leaves, size, 0
    while level:
        if pos & 1:  # the frontier's root of this height is the first node's left sibling
            level.insert(0, roots.pop(height))
            pos -= 1
        if len(level) & 1:
            roots[height] = level.pop()
        level = [
            sha256(b"\x01" + left + right).digest()
            for left, right in zip(level[::2], level[1::2], strict=True)
        ]
        pos >>= 1
        height += 1
    return [roots[h] for h in sorted(roots, reverse=True)]


def ts_from_ns(ns: int) -> str:
    """``ns`` nanoseconds since the epoch as the ledger writes times (``...T10:00:00.123456Z``)."""
    sec = ns // 1_000_000_000
    return time.strftime("%Y-%m-%dT%H:%M:%S.", time.gmtime(sec)) + f"{ns // 1000 % 1_000_000:06d}Z"


def quick_fields(record: QuickRecord) -> dict[str, Any]:
    """The fields dict of a :data:`QuickRecord`, as a logger would have built it."""
    level, logger, msg, node, extra = record
    fields: dict[str, Any] = {"level": level, "logger": logger, "msg": msg, "node": node}
    if extra is not None:
        fields["extra"] = extra
    return fields


@dataclass(frozen=True)
class WriterState:
    """Where a stream stands: next seq, last leaf hash, frontier, epoch.

    ``epoch_has_entries`` is true when the current epoch holds entries that are
    not yet sealed.
    """

    size: int
    prev: bytes
    frontier: tuple[bytes, ...]
    epoch: int
    epoch_has_entries: bool


_MAX_INT = (1 << 63) - 1


def _coerce(value: Any, default: Callable[[Any], Any]) -> Any:
    """A JSON-safe copy of ``value`` for the rare record orjson refuses even with ``default``.

    Keys become strings, integers beyond 64 bits become strings, and anything
    else unusual goes through ``default``.
    """
    if isinstance(value, dict):
        return {str(k): _coerce(v, default) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_coerce(v, default) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str | float):
        return value
    if isinstance(value, int):
        return value if -_MAX_INT - 1 <= value <= _MAX_INT else str(value)
    try:
        orjson.dumps(value, default=default)
    except (orjson.JSONEncodeError, TypeError):
        return repr(value)
    return value


class LedgerWriter:
    """Appends entries to one stream: chain, per-entry MAC, frontier, seals, checkpoints.

    Not thread-safe by itself: callers serialise appends (a lock, a file lock,
    or the database's own), as storage backends do.
    """

    def __init__(
        self,
        origin: str,
        epoch_key: bytes,
        *,
        state: WriterState | None = None,
        clock: Callable[[], str] = format_ts,
    ) -> None:
        """Start a writer at ``state`` (default: an empty stream at epoch 0).

        ``epoch_key`` is the key of ``state.epoch``.
        """
        if not origin or "\n" in origin:
            raise ConfigError("origin must be a non-empty single line")
        if len(epoch_key) != HASH_SIZE:
            raise ConfigError(f"epoch key must be {HASH_SIZE} bytes")
        st = state or WriterState(0, ZERO_HASH, (), 0, False)
        self.origin = origin
        self._key = bytearray(epoch_key)
        self._mac = MacKey(epoch_key)
        self._seq = st.size
        self._prev: bytes = st.prev
        self._prev_b64: str = b2a_base64(st.prev, newline=False).decode("ascii")
        self._frontier = Frontier(st.size, st.frontier)
        self._epoch = st.epoch
        self._dirty = st.epoch_has_entries
        self._clock = clock
        self._stale = False

    # -- state -----------------------------------------------------------
    @property
    def size(self) -> int:
        """Number of entries in the stream (the next entry's seq)."""
        return self._seq

    @property
    def epoch(self) -> int:
        """The current epoch."""
        return self._epoch

    @property
    def epoch_key(self) -> bytes:
        """The current epoch's key, for the key store to persist."""
        return bytes(self._key)

    @property
    def epoch_has_entries(self) -> bool:
        """True when entries of the current epoch await their seal."""
        return self._dirty

    def root(self) -> bytes:
        """Root hash of the tree over all entries so far."""
        return self._frontier.root()

    def state(self) -> WriterState:
        """Snapshot of where the stream stands (no key material)."""
        return WriterState(self._seq, self._prev, self._frontier.hashes, self._epoch, self._dirty)

    # -- appending -------------------------------------------------------
    def append(
        self,
        fields: Mapping[str, Any],
        *,
        ts: str | None = None,
        default: Callable[[Any], Any] | None = None,
        owned: bool = False,
    ) -> bytes:
        """Append one entry with the caller's ``fields``; returns the framed line (no newline).

        ``owned=True`` hands the dict over: the writer may add the ledger fields to
        it in place, and the caller vouches that it holds no reserved name — the
        loggers use this to skip a copy on their hot path.
        """
        if owned and type(fields) is dict:
            obj = fields
        else:
            clash = RESERVED_FIELDS.intersection(fields)
            if clash:
                names = ", ".join(sorted(clash))
                raise FramingError(f"field names reserved by the ledger: {names}")
            obj = dict(fields)
        entry = _build(self._seq, ts or self._clock(), self._epoch, self._prev_b64, obj, default)
        return self._commit(entry)

    def append_many(
        self, records: Sequence[Mapping[str, Any]], *, default: Callable[[Any], Any] | None = None
    ) -> list[bytes]:
        """Append several entries; returns their framed lines in order."""
        return [self.append(r, default=default) for r in records]

    def append_owned_batch(
        self,
        records: Sequence[tuple[str | int, dict[str, Any] | QuickRecord]],
        default: Callable[[Any], Any] | None = None,
        transform: Callable[[dict[str, Any], int], dict[str, Any]] | None = None,
        quick_encrypt: Callable[[str, dict[str, Any] | None, int], dict[str, Any]] | None = None,
        leaves_out: list[bytes] | None = None,
    ) -> bytes:
        """Append ``(ts, fields)`` records whose dicts the caller hands over (see ``owned``).

        Returns the framed lines joined, each ending in a newline. This is the
        loggers' hot path: the same work as :meth:`append` per record, with the
        hashing, MAC and frontier steps inlined. ``transform(fields, seq)``, if
        given, returns the dict to write instead (field encryption binds the seq).
        ``fields`` may also be a :data:`QuickRecord` tuple (a plain log call):
        its entry dict is then built in one go, and ``quick_encrypt(msg, extra,
        seq)``, if given, returns the ``"enc"`` object that replaces ``msg`` and
        ``extra``. ``ts`` may be an int, nanoseconds since the epoch (as
        :func:`time.time_ns` gives it): it is written as :func:`ts_from_ns` does.
        ``leaves_out``, if given, receives the entries' leaf hashes, in order.
        All or nothing: on an error the writer is left as it was.
        """
        if not records:
            return b""
        dumps, opts, b2a, leaf_proto = orjson.dumps, orjson.OPT_SORT_KEYS, b2a_base64, _LEAF
        mac_inner, mac_outer = self._mac.states()
        leaves: list[bytes] = []
        add_leaf = leaves.append
        epoch = self._epoch
        seq = self._seq
        prev = self._prev
        prev_b64 = self._prev_b64
        out: list[bytes] = []
        append = out.append
        second, prefix = -1, ""
        for ns_or_ts, fields in records:
            if isinstance(ns_or_ts, int):
                if ns_or_ts // 1_000_000_000 != second:
                    second = ns_or_ts // 1_000_000_000
                    prefix = time.strftime("%Y-%m-%dT%H:%M:%S.", time.gmtime(second))
                ts = f"{prefix}{ns_or_ts // 1000 % 1_000_000:06d}Z"
            else:
                ts = ns_or_ts
            obj: dict[str, Any]
            if isinstance(fields, tuple):
                level, logger, msg, node, extra = fields
                if quick_encrypt is not None:
                    obj = {
                        "enc": quick_encrypt(msg, extra, seq),
                        "epoch": epoch,
                        "level": level,
                        "logger": logger,
                        "node": node,
                        "prev": prev_b64,
                        "seq": seq,
                        "ts": ts,
                    }
                elif transform is not None:
                    obj = transform(quick_fields(fields), seq)
                    obj["seq"] = seq
                    obj["ts"] = ts
                    obj["epoch"] = epoch
                    obj["prev"] = prev_b64
                else:
                    obj = {
                        "epoch": epoch,
                        "level": level,
                        "logger": logger,
                        "msg": msg,
                        "node": node,
                        "prev": prev_b64,
                        "seq": seq,
                        "ts": ts,
                    }
                    if extra is not None:  # keys are sorted when serialised
                        obj["extra"] = extra
            else:
                obj = fields if transform is None else transform(fields, seq)
                obj["seq"] = seq
                obj["ts"] = ts
                obj["epoch"] = epoch
                obj["prev"] = prev_b64
            try:
                entry = dumps(obj, default=default, option=opts)
            except (orjson.JSONEncodeError, TypeError) as exc:
                if default is None:
                    raise FramingError(f"entry fields cannot be serialised: {exc}") from exc
                try:
                    entry = dumps(_coerce(obj, default), option=opts)
                except (orjson.JSONEncodeError, TypeError) as exc2:
                    raise FramingError(f"entry fields cannot be serialised: {exc2}") from exc2
            h = leaf_proto.copy()
            h.update(entry)
            prev = h.digest()
            i = mac_inner.copy()
            i.update(entry)
            o = mac_outer.copy()
            o.update(i.digest())
            append(entry[:-1])
            append(b',"mac":"' + b2a(o.digest(), newline=False) + b'"}\n')
            add_leaf(prev)
            prev_b64 = b2a(prev, newline=False).decode("ascii")
            seq += 1
        if leaves_out is not None:
            leaves_out.extend(leaves)  # before the fold, which reuses the list
        old = self._frontier
        self._frontier = Frontier(old.size + len(leaves), _fold(old.hashes, old.size, leaves))
        self._seq = seq
        self._prev = prev
        self._prev_b64 = prev_b64
        self._dirty = True
        return b"".join(out)

    def _append_ledger(self, obj: dict[str, Any]) -> bytes:
        entry = _build(self._seq, self._clock(), self._epoch, self._prev_b64, obj)
        return self._commit(entry)

    def _commit(self, entry: bytes) -> bytes:
        h = leaf_hash(entry)
        line = entry[:-1] + b',"mac":"' + b2a_base64(self._mac.mac(entry), newline=False) + b'"}'
        self._frontier.append(h)
        self._set_prev(h)
        self._seq += 1
        self._dirty = True
        return line

    def _set_prev(self, h: bytes) -> None:
        self._prev = h
        self._prev_b64 = b2a_base64(h, newline=False).decode("ascii")

    def seal(self) -> bytes | None:
        """End the current epoch: append its seal and evolve the key (erasing the old one).

        Returns the seal line, or ``None`` when the epoch holds no entries (the
        key still evolves, so an idle writer does not keep an old key).
        """
        line = None
        if self._dirty:
            fields = seal_fields(self.origin, self._seq, self._frontier.root())
            line = self._append_ledger(fields)
        new = evolve_key(self._key)
        for i in range(len(self._key)):
            self._key[i] = 0
        self._key = bytearray(new)
        self._mac = MacKey(new)
        self._epoch += 1
        self._dirty = False
        return line

    def prune(self, start: StreamStart) -> bytes:
        """Append a prune entry recording that entries before ``start.size`` were removed."""
        if start.size > self._seq:
            raise ConfigError(f"cannot prune {start.size} entries of a stream of {self._seq}")
        return self._append_ledger(prune_fields(self.origin, start))

    def adopt(self, entry: bytes) -> Entry:
        """Take in an entry that another writer of this stream appended (shared files).

        The entry must continue this writer's chain exactly (its seq is the next
        one and its ``prev`` is the last leaf hash); otherwise the stream forked
        and :class:`~logging_audit.errors.IntegrityError` is raised. After
        adopting an entry of a later epoch (or a seal), :attr:`key_stale` is true
        until :meth:`rekey` hands in the key of the new epoch.
        """
        parsed = parse_entry(entry)
        if parsed.seq != self._seq or parsed.prev != self._prev:
            raise IntegrityError(
                f"stream {self.origin} forked: entry seq {parsed.seq} does not continue "
                f"seq {self._seq - 1}"
            )
        h = leaf_hash(entry)
        self._frontier.append(h)
        self._set_prev(h)
        self._seq += 1
        if parsed.ledger_kind == SEAL:
            self._epoch = parsed.epoch + 1
            self._dirty = False
            self._stale = True
        else:
            if parsed.epoch != self._epoch:
                self._stale = True
                self._epoch = parsed.epoch
            self._dirty = True
        return parsed

    @property
    def key_stale(self) -> bool:
        """True when adopted entries moved the epoch on and :meth:`rekey` is due."""
        return self._stale

    def rekey(self, epoch: int, key: bytes) -> None:
        """Switch to ``epoch`` with its ``key`` (from the shared key store)."""
        if epoch < self._epoch:
            raise ConfigError(f"key store is at epoch {epoch}, behind the stream's {self._epoch}")
        if len(key) != HASH_SIZE:
            raise ConfigError(f"epoch key must be {HASH_SIZE} bytes")
        for i in range(len(self._key)):
            self._key[i] = 0
        if epoch > self._epoch:
            self._dirty = False
        self._key = bytearray(key)
        self._mac = MacKey(key)
        self._epoch = epoch
        self._stale = False

    def checkpoint(self, signer: NoteSigner, extensions: Sequence[str] = ()) -> str:
        """Return a signed C2SP checkpoint note for the current tree."""
        cp = Checkpoint(self.origin, self._seq, self._frontier.root(), tuple(extensions))
        return sign_checkpoint(cp, signer)
