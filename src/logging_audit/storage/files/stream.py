"""A stream kept in files: the ledger writer, segments, seals, checkpoints, durability.

Appends are queued as records and turned into framed lines by whichever thread
flushes (the caller itself in ``"sync"`` mode — group commit — or the background
flusher in ``"batched"`` mode), so the chain is built in exactly the order the
lines reach the file. In ``multiprocess`` mode each flush takes an exclusive
``flock`` on the stream, first adopts what other processes appended since, then
writes; the chain therefore never forks, whoever writes.
"""

from __future__ import annotations

import atexit
import fcntl
import hashlib
import os
import sys
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson

from logging_audit.crypto.data_keys import EncryptionKeyStore
from logging_audit.crypto.fields import FieldCipher
from logging_audit.crypto.signing_keys import SigningKeyStore
from logging_audit.errors import (
    ConfigError,
    CryptoError,
    Error,
    FramingError,
    IntegrityError,
    KeyStoreError,
    NoteError,
    StorageError,
)
from logging_audit.ledger.framing import (
    RESERVED_FIELDS,
    ZERO_HASH,
    b64,
    now_ts,
    parse_entry,
    unframe_line,
)
from logging_audit.ledger.notes import verify_note
from logging_audit.ledger.prune import StreamStart
from logging_audit.ledger.seals import evolve_key, verify_mac
from logging_audit.ledger.writer import (
    LedgerWriter,
    QuickRecord,
    WriterState,
    quick_fields,
    ts_from_ns,
)
from logging_audit.storage.files.archive import write_archive
from logging_audit.storage.files.layout import StreamLayout
from logging_audit.storage.files.manifest import ArchiveInfo, Manifest, SegmentInfo
from logging_audit.storage.files.options import StreamOptions
from logging_audit.storage.files.reading import iter_segment_lines
from logging_audit.storage.files.segment_file import SegmentFile, file_sha256, fsync_dir

__all__ = ["FileStream", "json_default", "json_safe"]

_GATHER_MAX = 0.001  # sync mode: longest a leader waits (s) for the threads it released
_BATCH_MAX = 256  # records queued before the appending thread writes them itself (see ADR 0036)
_MAX_PENDING = 1_000_000  # past this, appends fail instead of growing memory without bound
_MAX_KEY_LAG = 64  # epochs a key file may lag behind its log and still be evolved on open


def json_default(value: Any) -> Any:
    """Make any value JSON-safe: bytes as base64, sets as sorted lists, the rest as ``repr``."""
    if isinstance(value, bytes | bytearray | memoryview):
        return {"$bytes": b64(bytes(value))}
    if isinstance(value, set | frozenset):
        try:
            return sorted(value)
        except TypeError:
            return [repr(v) for v in value]
    if isinstance(value, tuple):
        return list(value)
    try:
        return repr(value)
    except Exception:  # a broken __repr__ must not break logging
        return f"<unrepresentable {type(value).__name__}>"


_MAX_DEPTH = 64  # deeper (or self-referencing) values are logged as their repr


def _safe_str(text: str) -> str:
    """``text`` as a plain str that UTF-8 can hold (lone surrogates escaped)."""
    text = text[:]  # a str subclass becomes a plain str
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def _safe_repr(value: Any) -> str:
    try:
        return _safe_str(repr(value))
    except Exception:  # a broken __repr__ must not break logging
        return f"<unrepresentable {type(value).__name__}>"


def json_safe(value: Any, _path: frozenset[int] = frozenset()) -> Any:
    """A copy of ``value`` that any JSON encoder takes, for what :func:`json_default` cannot fix.

    Keys become strings, integers beyond 64 bits become decimal strings, lone
    surrogates are escaped, a container inside itself (or nested deeper than
    64 levels) becomes its ``repr``; everything else as :func:`json_default` has it.
    """
    if value is None or isinstance(value, bool | float):
        return value
    if isinstance(value, int):
        return int(value) if -(1 << 63) <= value < (1 << 64) else str(value)
    if isinstance(value, str):
        return _safe_str(value)
    if id(value) in _path or len(_path) >= _MAX_DEPTH:
        return _safe_repr(value)
    inner = _path | {id(value)}
    if isinstance(value, dict):
        return {_json_key(k): json_safe(v, inner) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v, inner) for v in value]
    return json_safe(json_default(value), inner)


def _json_key(key: Any) -> str:
    if isinstance(key, str):
        return _safe_str(key)
    if key is None or isinstance(key, bool | int | float):
        return str(key)
    return _safe_repr(key)


def _end_state(writer: LedgerWriter) -> dict[str, Any]:
    st = writer.state()
    return {
        "size": st.size,
        "last_hash": b64(st.prev),
        "frontier": [b64(h) for h in st.frontier],
        "epoch": st.epoch,
        "dirty": st.epoch_has_entries,
    }


def _state_from(end: Mapping[str, Any] | None, epoch: int) -> WriterState:
    if not end:
        return WriterState(0, ZERO_HASH, (), epoch, False)
    start = StreamStart.from_fields(dict(end))
    return WriterState(
        start.size,
        start.prev,
        start.frontier,
        int(end.get("epoch", epoch)),
        bool(end.get("dirty", False)),
    )


class _Waiter:
    """A thread in ``"sync"`` mode waiting until record number ``ticket`` is fsynced.

    It blocks on its own lock, released exactly once: by the group-commit
    leader (or the thread before it in ``next`` order) when the record is
    durable, on an error (``error``), or to hand it the lead (``lead``).
    """

    __slots__ = ("error", "lead", "lock", "next", "ticket")

    def __init__(self, ticket: int) -> None:
        self.ticket = ticket
        self.lead = False
        self.next: _Waiter | None = None  # released by this one once it runs
        self.error: Error | None = None
        self.lock = threading.Lock()
        self.lock.acquire()

    def pass_on(self) -> None:
        """Wake the next thread that the same fsync covered."""
        nxt, self.next = self.next, None
        if nxt is not None:
            nxt.lock.release()


class FileStream:
    """One stream in ``log_dir/<name>/``, open for appending. Thread-safe."""

    def __init__(self, options: StreamOptions) -> None:
        """Open (creating if new) the stream; recovers from a crash and cuts a torn line."""
        self.options = options
        self.origin = options.origin
        self.layout = StreamLayout(options.stream_dir)
        self._open()

    def _open(self) -> None:
        options = self.options
        self._closed_reason = f"stream {self.origin} is closed"
        self._lock = threading.Lock()  # pending queue and counters
        self._flush_lock = threading.RLock()  # one flusher at a time; writer state
        self._cv = threading.Condition()  # fsyncs outside the flush lock have finished
        # queued (ts, fields); a plain log call's ts is time.time_ns(), formatted when written
        self._pending: list[tuple[str | int, dict[str, Any] | QuickRecord]] = []
        self._submitted = 0  # records queued so far (a record's ticket is its number)
        self._durable = 0  # records fsynced so far
        self._sync_mode = options.durability == "sync"
        self._leading = False  # sync mode: a thread is writing and fsyncing for the others
        self._waiters: deque[_Waiter] = deque()  # sync mode: by ticket, not yet durable
        self._expect = 0  # sync mode: threads released by the last fsync, not back yet
        self._released_at = 0.0  # when the last fsync released them (time.monotonic)
        self._gate: threading.Lock | None = None  # a gathering leader waits on it
        self._fsync_seconds = 0.0  # moving average of the segment fsyncs' duration
        self._archive_backlog = False  # closed segments wait for the background archiver
        self._archive_lock = threading.RLock()
        self._syncing = 0  # fsyncs in flight outside the flush lock (keep the segment open)
        self._error: Error | None = None
        self._closed = False
        self._cut: dict[str, Any] | None = None
        self.manifest: Manifest
        self._manifest_seen: tuple[int, int] = (0, 0)
        self._seg: SegmentFile
        self._cipher: tuple[str, FieldCipher] | None = None
        self._prepare_dirs()
        self._mp_fd = self._open_lock_files()
        try:
            with self._file_lock():
                existing = self.layout.manifest.exists()
                self._open_keys(existing)
                self._open_manifest(existing)
                self._recover()
                self._publish_pointer()
            cut = self._take_cut()
            if cut is not None:
                self.append(self._cut_record(cut), owned=True)
                self.flush(sync=True)
        except BaseException:
            # Release the log, so that the same process can open it once the problem is fixed.
            with suppress(Error, AttributeError):
                self._seg.close()
            for fd in (self._mp_fd, self._lock_fd):
                with suppress(OSError):
                    os.close(fd)
            raise
        self._stop = threading.Event()
        self._wake = threading.Event()  # the flusher runs now, not at the end of its interval
        self._thread = threading.Thread(
            target=_flusher,
            args=(weakref.ref(self), self._stop, self._wake),
            daemon=True,
            name=f"logaudit-flush-{options.name}",
        )
        self._thread.start()
        _OPEN_STREAMS.add(self)

    # -- opening -------------------------------------------------------------
    def _take_cut(self) -> dict[str, Any] | None:
        cut, self._cut = self._cut, None
        return cut

    def _prepare_dirs(self) -> None:
        lay = self.layout
        try:
            for d in (lay.root, lay.segments, lay.archive):
                d.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create log directory {lay.root}: {exc}") from exc

    def _open_lock_files(self) -> int:
        lay = self.layout
        try:
            self._lock_fd = os.open(lay.lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o640)
        except OSError as exc:
            raise StorageError(f"cannot open lock file in {lay.root}: {exc}") from exc
        try:
            mp_fd = os.open(lay.root / ".writers", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o640)
        except OSError as exc:
            os.close(self._lock_fd)
            raise StorageError(f"cannot open lock file in {lay.root}: {exc}") from exc
        mode = fcntl.LOCK_SH if self.options.multiprocess else fcntl.LOCK_EX
        try:
            fcntl.flock(mp_fd, mode | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            os.close(mp_fd)
            os.close(self._lock_fd)
            raise StorageError(
                f"stream {lay.root} is open in another process; open every writer with "
                "multiprocess=True to share it"
            ) from exc
        return mp_fd

    @contextmanager
    def _file_lock(self) -> Iterator[None]:
        if not self.options.multiprocess:
            yield
            return
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def _open_keys(self, existing: bool) -> None:
        o = self.options
        path = o.key_file or self.layout.keys / "signing.json"
        if path.exists():
            self.keys = SigningKeyStore.load(path)
            if self.keys.origin != self.origin:
                raise KeyStoreError(
                    f"key file {path} belongs to stream {self.keys.origin!r}, not {self.origin!r}"
                )
            if existing:
                self._check_signer(path)
        elif existing:
            raise KeyStoreError(
                f"key file {path} of the existing log in {self.layout.root} is missing; "
                "refusing to create new keys for it"
            )
        else:
            _mkdir_private(path.parent)
            self.keys = SigningKeyStore.create(
                path, self.origin, epoch_seconds=o.epoch_seconds, verifier_path=o.verifier_path
            )
        self.enc: EncryptionKeyStore | None = None
        if o.encryption_enabled:
            epath = o.encryption_key_file or (
                o.key_file.with_name(o.key_file.stem + ".encryption.json")
                if o.key_file
                else self.layout.keys / "encryption.json"
            )
            if epath.exists():
                self.enc = EncryptionKeyStore.load(epath)
            else:
                if existing and any(
                    s.kid is not None for s in Manifest.load(self.layout.manifest).segments
                ):
                    raise KeyStoreError(
                        f"encryption key file {epath} of the encrypted log in "
                        f"{self.layout.root} is missing; refusing to create new keys for it"
                    )
                _mkdir_private(epath.parent)
                self.enc = EncryptionKeyStore.create(epath)

    def _check_signer(self, path: Path) -> None:
        """Refuse a key file that did not sign the log's latest checkpoint (another log's)."""
        note = _last_checkpoint_note(self.layout.checkpoints)
        if note is None:
            return
        try:
            verify_note(note, (self.keys.verifier,))
        except NoteError as exc:
            raise KeyStoreError(
                f"key file {path} did not sign the checkpoints of the log in "
                f"{self.layout.root}: it is another log's key file (or "
                f"{self.layout.checkpoints.name} was altered: run 'logaudit verify')"
            ) from exc

    def _open_manifest(self, existing: bool) -> None:
        lay = self.layout
        if existing:
            self._load_manifest()
            if self.manifest.origin != self.origin:
                raise StorageError(
                    f"{lay.manifest} belongs to stream {self.manifest.origin!r}, "
                    f"not {self.origin!r}"
                )
        else:
            self.manifest = Manifest(self.origin, [SegmentInfo(1, lay.segment_file(1), 0)])
            self._new_segment_key(self.manifest.segments[0])
            SegmentFile(lay.root / self.manifest.segments[0].file, create=True).close()
            self._save_manifest()

    def _fresh_enc(self) -> EncryptionKeyStore:
        """The encryption key store as the file has it now.

        Other writers of a shared log (and ``logaudit shred``) add and shred data
        keys; reload before changing the file, and when a key is not known yet.
        """
        assert self.enc is not None
        self.enc = EncryptionKeyStore.load(self.enc.path)
        return self.enc

    def _data_key(self, kid: str) -> bytes:
        assert self.enc is not None
        try:
            return self.enc.data_key(kid)
        except CryptoError:
            if kid in {k.kid for k in self.enc.list_data_keys()}:
                raise  # shredded (or unwraps wrongly) as far as this store knows
            return self._fresh_enc().data_key(kid)

    def _new_segment_key(self, seg: SegmentInfo) -> None:
        if self.enc is not None:
            kid, _ = self._fresh_enc().new_data_key()
            seg.kid = kid

    def _field_cipher(self) -> FieldCipher | None:
        """The cipher of the open segment's data key (one data key per segment)."""
        if self.enc is None:
            return None
        seg = self.manifest.current
        if seg.kid is None:
            self._new_segment_key(seg)
            self._save_manifest()
        assert seg.kid is not None
        if self._cipher is None or self._cipher[0] != seg.kid:
            key = self._data_key(seg.kid)
            cipher = FieldCipher(key, seg.kid, self.origin, self.options.encrypted_fields)
            self._cipher = (seg.kid, cipher)
        return self._cipher[1]

    def _recover(self) -> None:
        """Rebuild the writer from the open segment; cut a torn last line."""
        segs = self.manifest.segments
        seg = segs[-1]
        state = _state_from(segs[-2].end_state if len(segs) > 1 else None, 0)
        self.writer = LedgerWriter(self.origin, self.keys.epoch_key, state=state)
        path = self.layout.root / seg.file
        self._seg = SegmentFile(path, create=not path.exists())
        self._adopt_file(path, 0, cut_torn=True)
        self._sync_key(self._last_line, path)

    def _adopt_file(self, path: Path, offset: int, *, cut_torn: bool) -> int:
        """Adopt every line of ``path`` from ``offset``; returns the new offset."""
        self._last_line: bytes | None = None
        try:
            with path.open("rb") as f:
                f.seek(offset)
                data = f.read()
        except OSError as exc:
            raise StorageError(f"cannot read segment {path}: {exc}") from exc
        pos = 0
        lineno = 0
        while pos < len(data):
            end = data.find(b"\n", pos)
            line = data[pos : len(data) if end < 0 else end]
            lineno += 1
            try:
                if end < 0:
                    raise FramingError("line has no newline: torn by a crash")
                entry, _mac = unframe_line(line)
                if parse_entry(entry).seq < self.writer.size:
                    pos = end + 1
                    continue
                self._adopt(entry, path, lineno)
            except FramingError as exc:
                is_last = end < 0 or end == len(data) - 1
                if not (cut_torn and is_last):
                    raise StorageError(
                        f"segment {path} is corrupt at line {lineno}: {exc}; "
                        "run 'logaudit verify' to see what happened"
                    ) from exc
                self._cut_tail(path, offset + pos, line, str(exc))
                return offset + pos
            self._last_line = line
            pos = end + 1
        return offset + len(data)

    def _cut_tail(self, path: Path, at: int, torn: bytes, why: str) -> None:
        try:
            os.truncate(path, at)
        except OSError as exc:
            raise StorageError(f"cannot cut the torn tail of {path}: {exc}") from exc
        self._seg.size = at
        self._cut = {
            "segment": path.name,
            "offset": at,
            "bytes": len(torn),
            "sha256": hashlib.sha256(torn).hexdigest(),
            "reason": why,
        }

    def _sync_key(self, last_line: bytes | None, path: Path | None = None) -> None:
        """Bring the writer's epoch key in line with the key store (after recovery/adoption).

        ``last_line`` (the last line adopted, from ``path``) proves whose key wrote
        the log. If it proves that the key file merely lags behind the log (a
        crash or a full disk between sealing an epoch and saving the evolved key),
        the key file is evolved as the writer would have done.
        """
        w, keys = self.writer, self.keys
        confirmed = False
        if last_line is not None:
            entry, mac = unframe_line(last_line)
            epoch = parse_entry(entry).epoch
            if keys.epoch <= epoch <= keys.epoch + _MAX_KEY_LAG:
                key = keys.epoch_key
                for _ in range(epoch - keys.epoch):
                    key = evolve_key(key)
                if not verify_mac(key, entry, mac):
                    raise KeyStoreError(
                        f"the log in {self.layout.root} was not written with key file "
                        f"{keys.path}: the last line of {path} does not verify with it"
                    )
                confirmed = True
        if keys.epoch < w.epoch:
            if not confirmed or w.epoch - keys.epoch > _MAX_KEY_LAG:
                raise KeyStoreError(
                    f"key file {keys.path} is at epoch {keys.epoch} but the log in "
                    f"{self.layout.root} reached epoch {w.epoch}: it was written with another "
                    "key, or the key file was restored from an old copy"
                )
            while keys.epoch < w.epoch:
                keys.advance_epoch()
        if w.key_stale or keys.epoch != w.epoch or w.epoch_key != keys.epoch_key:
            w.rekey(keys.epoch, keys.epoch_key)

    # -- shared streams ------------------------------------------------------
    def _read_pointer(self) -> dict[str, Any] | None:
        try:
            raw = os.pread(self._lock_fd, 4096, 0)
            return orjson.loads(raw.rstrip(b"\x00 \n")) if raw.strip(b"\x00 \n") else None
        except (OSError, orjson.JSONDecodeError):
            return None

    def _publish_pointer(self) -> None:
        if not self.options.multiprocess:
            return
        data = orjson.dumps(
            {
                "seg": self.manifest.current.id,
                "offset": self._seg.size,
                "size": self.writer.size,
                "epoch": self.writer.epoch,
            }
        ).ljust(256, b" ")
        try:
            os.pwrite(self._lock_fd, data, 0)
        except OSError as exc:
            raise StorageError(f"cannot update {self.layout.lock}: {exc}") from exc

    def _catch_up(self) -> None:
        """Adopt what other processes appended since our last write (under the file lock).

        A line without its newline at the end of the open segment can only be
        the torn write of a writer that died holding the lock: it is cut off,
        and the cut is logged, as on reopening.
        """
        ptr = self._read_pointer() or {}
        if self._manifest_stamp() != self._manifest_seen:  # rotated, pruned, keyed elsewhere
            self._load_manifest()
        last: bytes | None = None
        current = self.layout.root / self.manifest.current.file
        if current != self._seg.path:
            for seg in self.manifest.segments:
                if seg.end_seq is not None and seg.end_seq <= self.writer.size:
                    continue
                if seg.is_open:
                    break
                for lineno, line in enumerate(
                    iter_segment_lines(self.layout, seg, self._key_for), 1
                ):
                    entry, _ = unframe_line(line)
                    if parse_entry(entry).seq >= self.writer.size:
                        self._adopt(entry, self.layout.root / seg.file, lineno)
                        last = line
            self._seg.close()
            self._seg = SegmentFile(current, create=False)
            self._adopt_file(self._seg.path, 0, cut_torn=True)
        else:
            size = self._file_size()
            if (
                size == self._seg.size
                and ptr.get("size", self.writer.size) == self.writer.size
                and ptr.get("epoch", self.writer.epoch) == self.writer.epoch
            ):
                return
            if size < self._seg.size:
                raise StorageError(
                    f"segment {self._seg.path} shrank from {self._seg.size} to {size} bytes "
                    "while open: it was truncated behind the writers' back"
                )
            self._adopt_file(self._seg.path, self._seg.size, cut_torn=True)
            self._seg.size = self._file_size()
        if ptr.get("epoch", self.writer.epoch) != self.keys.epoch or self.writer.key_stale:
            self.keys = SigningKeyStore.load(self.keys.path)
        self._sync_key(self._last_line or last, self._seg.path)
        self._queue_cut_record()

    def _manifest_stamp(self) -> tuple[int, int]:
        """Identity of the manifest file: every save replaces it (a new inode)."""
        try:
            st = os.stat(self.layout.manifest)
        except OSError as exc:
            raise StorageError(f"cannot stat manifest {self.layout.manifest}: {exc}") from exc
        return st.st_ino, st.st_mtime_ns

    def _load_manifest(self) -> None:
        self.manifest = Manifest.load(self.layout.manifest)
        self._manifest_seen = self._manifest_stamp()

    def _save_manifest(self) -> None:
        self.manifest.save(self.layout.manifest)
        self._manifest_seen = self._manifest_stamp()

    def _file_size(self) -> int:
        try:
            return os.fstat(self._seg.fd).st_size
        except OSError as exc:
            raise StorageError(f"cannot stat segment {self._seg.path}: {exc}") from exc

    def _adopt(self, entry: bytes, path: Path, lineno: int) -> None:
        try:
            self.writer.adopt(entry)
        except IntegrityError as exc:
            raise IntegrityError(
                f"segment {path} line {lineno} does not continue the log in "
                f"{self.layout.root} ({exc}): it was altered or comes from another "
                "log; run 'logaudit verify' to see what happened"
            ) from exc

    def _cut_record(self, cut: dict[str, Any]) -> dict[str, Any]:
        return {
            "level": "WARNING",
            "logger": "logaudit",
            "node": self.options.node_id,
            "msg": "cut a torn last line left by a crash",
            "extra": cut,
        }

    def _queue_cut_record(self) -> None:
        """Queue the record of a torn line cut while catching up (written by the next flush)."""
        cut = self._take_cut()
        if cut is not None:
            with self._lock:
                self._pending.append((now_ts(), self._cut_record(cut)))
                self._submitted += 1

    def _key_for(self, kid: str) -> bytes:
        if self.enc is None:
            raise KeyStoreError("an archive is encrypted but encryption is not enabled")
        return self._data_key(kid)

    # -- appending -----------------------------------------------------------
    def append(self, fields: dict[str, Any], ts: str | None = None, *, owned: bool = False) -> None:
        """Queue one record; in ``"sync"`` mode return only once it is on disk.

        ``owned=True`` hands the dict over (it is not copied) and vouches that it
        uses no name reserved by the ledger.
        """
        if not owned:
            clash = RESERVED_FIELDS.intersection(fields)
            if clash:
                names = ", ".join(sorted(clash))
                raise FramingError(f"field names reserved by the ledger: {names}")
            fields = dict(fields)
        if self._closed:
            raise StorageError(self._closed_reason)
        if self._error is not None:
            self._retry_after_error()
        waiter: _Waiter | None = None
        with self._lock:
            if len(self._pending) >= _MAX_PENDING:
                raise StorageError(
                    f"{len(self._pending)} records wait to be written to {self.layout.root}; "
                    "refusing more until the disk accepts them"
                )
            self._pending.append((ts or now_ts(), fields))
            self._submitted += 1
            mine = self._submitted
            full = len(self._pending) >= _BATCH_MAX
            if self._sync_mode:
                if self._expect:
                    self._expect -= 1
                    if not self._expect and self._gate is not None:
                        self._gate.release()  # the last one back: the leader goes on
                        self._gate = None
                if self._leading:
                    waiter = _Waiter(mine)
                    self._waiters.append(waiter)
                else:
                    self._leading = True
        if not self._sync_mode:
            if full:
                self.flush(sync=False)
        elif waiter is None or self._await(waiter):
            self._lead(mine)

    def append_owned(self, fields: dict[str, Any]) -> None:
        """:meth:`append` for a dict handed over with no reserved names: the loggers' hot path.

        Batched mode only does the queueing here; anything unusual (sync mode, a
        pending write error, a closed stream) takes :meth:`append`.
        """
        if self._closed or self._error is not None or self._sync_mode:
            self.append(fields, owned=True)
            return
        ts = now_ts()
        with self._lock:
            pending = self._pending
            pending.append((ts, fields))
            self._submitted += 1
            full = len(pending) >= _BATCH_MAX
        if full:
            self.flush(sync=False)

    def append_quick(self, record: QuickRecord) -> None:
        """Queue a plain log call, ``(level, logger, msg, node, extra)``: the loggers' hot path.

        ``extra`` (a dict or ``None``) is handed over. The entry is built from
        the tuple when the batch is written; sync mode and anything unusual
        take :meth:`append`.
        """
        if self._closed or self._error is not None or self._sync_mode:
            self.append(quick_fields(record), owned=True)
            return
        ns = time.time_ns()
        with self._lock:
            pending = self._pending
            pending.append((ns, record))
            self._submitted += 1
            full = len(pending) >= _BATCH_MAX
        if full:
            self.flush(sync=False)

    def _retry_after_error(self) -> None:
        self._error = None
        self.flush(sync=True)  # raises again while the disk still refuses

    # -- group commit (sync mode) ----------------------------------------------
    def _await(self, waiter: _Waiter) -> bool:
        """Block until the leader releases ``waiter``; True when it was handed the lead."""
        try:
            waiter.lock.acquire()
        except BaseException:  # interrupted (KeyboardInterrupt in the main thread)
            with self._lock:
                try:
                    self._waiters.remove(waiter)
                except ValueError:
                    released = True
                else:
                    released = False  # and now nobody will
            if not released:
                raise
            waiter.lock.acquire()  # released already, or about to be
            waiter.pass_on()
            if waiter.lead:
                self._hand_on_lead()
            raise
        waiter.pass_on()
        if waiter.error is not None:
            raise waiter.error
        return waiter.lead

    def _lead(self, mine: int) -> None:
        """Write and fsync for every thread waiting in sync mode (group commit).

        The leader first gathers: it waits (briefly, see :meth:`_gather`) for
        the threads the last fsync released to queue their next records. Then
        it writes everything queued, fsyncs it, releases the threads it covered
        (one after the other: no wake-up storm) and hands the lead to the
        oldest thread whose record came during the fsync, if any. A thread
        that waits is woken once, by the leader, and only when it is done or
        must lead.
        """
        try:
            if not self._closed:
                self._gather()
                self._flush_locked(True, self.options.multiprocess)
            if self._durable < mine:  # queued as close() ran: never written
                raise StorageError(self._closed_reason)
        except Error as exc:
            with self._lock:
                failed, self._waiters = self._waiters, deque()
                self._leading = False
            for waiter in failed:  # their records stay queued; each call raises
                waiter.error = exc
                waiter.lock.release()
            raise
        except BaseException:  # e.g. KeyboardInterrupt: the others carry on without us
            self._hand_on_lead()
            raise
        self._hand_on_lead(back=True)

    def _hand_on_lead(self, *, back: bool = False) -> None:
        """Make the oldest waiting thread the leader, or leave nobody leading.

        ``back``: the calling thread returns to its caller, likely to log again soon.
        """
        with self._lock:
            if back:
                self._expect += 1
            successor = self._waiters.popleft() if self._waiters else None
            if successor is None:
                self._leading = False
                return
            successor.lead = True
        successor.lock.release()

    def _gather(self) -> None:
        """Wait for the threads the last fsync released to queue their next records.

        Threads that log in a loop come back within microseconds; their records
        then share the next fsync instead of waiting for the one after it. The
        wait ends when all of them are back, and at the latest half an fsync
        (at most ``_GATHER_MAX``) after they were released: threads that log
        now and then cost the next record at most that much.
        """
        with self._lock:
            if self._expect <= 0:
                return
            window = min(_GATHER_MAX, self._fsync_seconds / 2)
            left = self._released_at + window - time.monotonic()
            if left <= 0:
                self._expect = 0
                return
            gate = self._gate = threading.Lock()
            gate.acquire()
        try:
            gate.acquire(timeout=left)
        finally:
            with self._lock:
                self._gate = None
                self._expect = 0

    def _mark_durable(self, upto: int) -> None:
        """Records up to number ``upto`` are fsynced: release the threads waiting for them.

        They are woken one after the other (each wakes the next), so they do not
        all wake at once to fight over the GIL.
        """
        with self._lock:
            if upto > self._durable:
                self._durable = upto
            waiters = self._waiters
            if not waiters or waiters[0].ticket > upto:
                return
            first = last = waiters.popleft()
            released = 1
            while waiters and waiters[0].ticket <= upto:
                last.next = waiters.popleft()
                last = last.next
                released += 1
            self._expect += released
            self._released_at = time.monotonic()
        first.lock.release()

    def flush(self, *, sync: bool = True) -> None:
        """Write queued records now (and fsync with ``sync``).

        If writing fails the records stay queued (nothing is lost or torn) and
        the error is raised here and by the next append until a write succeeds.
        """
        if self._closed:
            return  # close() wrote everything; nothing can be queued after it
        self._flush_locked(sync, self.options.multiprocess)

    def _flush_locked(self, sync: bool, shared: bool) -> None:
        seg: SegmentFile | None = None
        with self._flush_lock:
            with self._lock:
                batch, self._pending = self._pending, []
                upto = self._submitted
            if batch:
                written = False
                try:
                    with self._file_lock():
                        if shared:
                            self._catch_up()
                        self._write_batch(batch)
                        written = True
                        if sync and shared:
                            self._timed_sync(self._seg)
                        self._publish_pointer()
                except Error as exc:
                    if not written:
                        with self._lock:
                            self._pending[:0] = batch
                    self._error = exc
                    raise
            elif sync and shared:
                self._timed_sync(self._seg)
            if sync and not shared:
                seg = self._seg
                with self._cv:
                    self._syncing += 1  # the segment stays open until this fsync is done
        if seg is not None:
            self._sync_outside_lock(seg)
        if sync:
            # Every record up to ``upto`` was written (by this or an earlier flush)
            # before the fsync began, so the fsync covered it.
            self._mark_durable(upto)
        if self._seg.size >= self.options.max_segment_bytes:
            self._rotate(only_if_full=True, defer_archive=not self.options.multiprocess)
        elif self.keys.epoch_due():
            self.seal()

    def _sync_outside_lock(self, seg: SegmentFile) -> None:
        """fsync ``seg`` without holding the flush lock: appends go on meanwhile."""
        try:
            self._timed_sync(seg)
        except StorageError as exc:
            self._error = exc
            raise
        finally:
            with self._cv:
                self._syncing -= 1
                if not self._syncing:
                    self._cv.notify_all()

    def _timed_sync(self, seg: SegmentFile) -> None:
        """fsync ``seg``, keeping a moving average of how long fsyncs take."""
        start = time.monotonic()
        seg.sync()
        self._fsync_seconds += (time.monotonic() - start - self._fsync_seconds) / 8

    def _close_segment(self) -> None:
        """Close the open segment once no fsync outside the lock still uses it."""
        with self._cv:
            while self._syncing:
                self._cv.wait(0.5)
        self._seg.close()

    def _write_batch(self, batch: list[tuple[str | int, dict[str, Any] | QuickRecord]]) -> None:
        w = self.writer
        snapshot = w.state()
        key = w.epoch_key
        cipher = self._field_cipher()
        try:
            data = None
            try:
                if cipher is None:
                    data = w.append_owned_batch(batch, json_default)
                else:
                    encrypt = cipher.encrypt
                    data = w.append_owned_batch(
                        batch,
                        json_default,
                        lambda fields, seq: encrypt(fields, seq, json_default),
                        cipher.quick_encryptor(json_default),
                    )
            except (FramingError, ConfigError, RecursionError):
                data = None  # one odd record: take the careful path for the batch
            if data is None:
                lines = [
                    self._encode(
                        w,
                        cipher,
                        ts_from_ns(ts) if isinstance(ts, int) else ts,
                        quick_fields(fields) if isinstance(fields, tuple) else fields,
                    )
                    for ts, fields in batch
                ]
                lines.append(b"")
                data = b"\n".join(lines)
            self._seg.write(data)
        except Error:
            self.writer = LedgerWriter(self.origin, key, state=snapshot)
            raise

    @staticmethod
    def _encode(
        w: LedgerWriter, cipher: FieldCipher | None, ts: str, fields: dict[str, Any]
    ) -> bytes:
        """One framed line; values JSON cannot hold never lose the record (see ``json_safe``)."""
        try:
            if cipher is None:
                return w.append(fields, ts=ts, default=json_default, owned=True)
            record = cipher.encrypt(dict(fields), w.size, json_default)
            return w.append(record, ts=ts, default=json_default, owned=True)
        except (FramingError, ConfigError, RecursionError):
            # e.g. non-string keys, integers beyond 64 bits, lone surrogates, cycles
            safe = json_safe({k: v for k, v in fields.items() if k not in RESERVED_FIELDS})
            if cipher is not None:
                safe = cipher.encrypt(safe, w.size)
            return w.append(safe, ts=ts, owned=True)

    # -- epochs, checkpoints, rotation ----------------------------------------------------
    def seal(self) -> str | None:
        """End the current epoch now: seal, fsync, checkpoint, evolve the key.

        Returns the new signed checkpoint note (``None`` for an idle epoch).
        """
        with self._flush_lock, self._file_lock():
            if self.options.multiprocess:
                self._catch_up()
            return self._seal_locked()

    def _seal_locked(self) -> str | None:
        with self._lock:
            batch, self._pending = self._pending, []
            upto = self._submitted
        if batch:
            try:
                self._write_batch(batch)
            except Error:
                with self._lock:
                    self._pending[:0] = batch
                raise
        w = self.writer
        snapshot, key = w.state(), w.epoch_key
        line = w.seal()
        if line is not None:
            try:
                self._seg.write(line + b"\n")
            except Error:
                # The seal is not in the file: the writer must not be past it either.
                self.writer = LedgerWriter(self.origin, key, state=snapshot)
                raise
        self._seg.sync()
        self._mark_durable(upto)
        # Evolve the key file right after the seal (forward security, and a failed
        # checkpoint below must not leave it behind the log).
        while self.keys.epoch < self.writer.epoch:
            self.keys.advance_epoch()
        if self.keys.epoch_key != self.writer.epoch_key:  # both evolve K(e) the same way
            raise KeyStoreError(f"key file {self.keys.path} diverged from the writer's epoch key")
        note = self._write_checkpoint() if line is not None else None
        self._publish_pointer()
        return note

    def checkpoint(self) -> str:
        """Write and return a signed checkpoint of everything appended so far."""
        with self._flush_lock:
            self.flush(sync=True)
            with self._file_lock():
                if self.options.multiprocess:
                    self._catch_up()
                return self._write_checkpoint()

    def _write_checkpoint(self) -> str:
        note = self.writer.checkpoint(self.keys.signer)
        line = orjson.dumps({"size": self.writer.size, "note": note}) + b"\n"
        path = self.layout.checkpoints
        try:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                os.write(fd, line)
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            raise StorageError(f"cannot append to {path}: {exc}") from exc
        return note

    def latest_checkpoint(self) -> str | None:
        """The newest signed checkpoint note kept with the stream."""
        from logging_audit.storage.files.reading import read_checkpoints

        notes = read_checkpoints(self.layout)
        return notes[-1] if notes else None

    def rotate(self) -> None:
        """Close the segment (seal, checkpoint), open the next, archive, apply retention.

        An empty segment is left open: there is nothing to close.
        """
        self._rotate(only_if_full=False)

    def _rotate(self, *, only_if_full: bool, defer_archive: bool = False) -> None:
        with self._flush_lock, self._file_lock():
            if self.options.multiprocess:
                self._catch_up()
            if self._seg.size == 0 and not self._pending:
                return
            if only_if_full and self._seg.size < self.options.max_segment_bytes:
                return  # another process rotated meanwhile
            self._seal_locked()
            seg = self.manifest.current
            new = SegmentInfo(seg.id + 1, self.layout.segment_file(seg.id + 1), self.writer.size)
            new_seg = _open_new_segment(self.layout.root / new.file)
            seg.end_seq = self.writer.size
            seg.sha256 = self._closing_digest()
            seg.closed_at = now_ts()
            seg.end_state = _end_state(self.writer)
            self._close_segment()
            self._seg = new_seg
            self._new_segment_key(new)
            self.manifest.segments.append(new)
            self._save_manifest()
            self._publish_pointer()
            if self.options.archive and defer_archive:
                # Compressing a full segment on the logging thread would stall it:
                # the background flusher archives it now, beside the logging thread
                # (zstd and the file I/O release the GIL), and close() at the latest.
                self._archive_backlog = True
                self._wake.set()
            elif self.options.archive:
                self._archive(seg)
            self._apply_retention_locked()

    def _closing_digest(self) -> str:
        """SHA-256 of the open segment as it is closed (under the flush and file locks).

        One process: the digest :class:`SegmentFile` kept while writing (it reads
        the file only when that does not cover every byte, e.g. after a torn tail
        was cut on reopening). Several processes: the others appended to the same
        file, so it is always read again.
        """
        if self.options.multiprocess:
            return file_sha256(self._seg.path)
        return self._seg.sha256()

    def _archive(self, seg: SegmentInfo) -> None:
        src = self.layout.root / seg.file
        key = None
        if self.options.encrypt_archives and self.enc is not None:
            # its own key: shredding field keys keeps it readable
            key = self._fresh_enc().new_data_key()
        rel = self.layout.archive_file(seg.id, key is not None)
        digest = write_archive(
            src,
            self.layout.root / rel,
            level=self.options.compression_level,
            key=key,
            origin=self.origin,
        )
        seg.archive = ArchiveInfo(rel, digest, key[0] if key else None)
        self._save_manifest()
        try:
            src.unlink()
            fsync_dir(src.parent)
        except OSError as exc:
            raise StorageError(f"cannot remove archived segment {src}: {exc}") from exc

    def finish_archiving(self) -> None:
        """Archive the segments that rotation left to the background archiver, now.

        Waits for an archiving run already in progress in the background.
        """
        if not self._closed:
            with self._archive_lock:
                if self._archive_backlog:
                    self._archive_outside_lock()

    def _archive_outside_lock(self) -> None:
        """Archive closed segments, compressing without holding the flush lock (one process)."""
        with self._archive_lock:
            self._archive_backlog = False
            self._archive_closed_segments()

    def _archive_closed_segments(self) -> None:
        for seg in list(self.manifest.segments[:-1]):
            src = self.layout.root / seg.file
            if seg.archive is not None or not src.exists():
                continue
            key = None
            if self.options.encrypt_archives and self.enc is not None:
                with self._flush_lock:
                    key = self._fresh_enc().new_data_key()
            rel = self.layout.archive_file(seg.id, key is not None)
            target = self.layout.root / rel
            try:
                digest = write_archive(
                    src, target, level=self.options.compression_level, key=key, origin=self.origin
                )
            except StorageError:
                if src.exists():
                    raise
                continue  # pruned meanwhile
            with self._flush_lock:
                pruned = self.manifest.pruned or {}
                if seg.archive is not None or seg.id in pruned.get("segments", ()):
                    with suppress(OSError):
                        target.unlink()
                    continue
                seg.archive = ArchiveInfo(rel, digest, key[0] if key else None)
                self._save_manifest()
                try:
                    src.unlink()
                    fsync_dir(src.parent)
                except OSError as exc:
                    raise StorageError(f"cannot remove archived segment {src}: {exc}") from exc

    def archive_closed(self) -> int:
        """Archive every closed segment not archived yet; returns how many."""
        self.finish_archiving()
        n = 0
        with self._flush_lock, self._file_lock():
            for seg in self.manifest.segments[:-1]:
                if seg.archive is None and (self.layout.root / seg.file).exists():
                    self._archive(seg)
                    n += 1
        return n

    # -- retention -------------------------------------------------------------
    @property
    def legal_hold(self) -> bool:
        """True while pruning is suspended (option or a ``LEGAL_HOLD`` file)."""
        return self.options.legal_hold or self.layout.legal_hold.exists()

    def prune(self, *, older_than: timedelta | None = None, now: datetime | None = None) -> int:
        """Remove archives past retention; returns how many segments were pruned."""
        self.finish_archiving()
        with self._flush_lock, self._file_lock():
            if self.options.multiprocess:
                self._catch_up()
            return self._apply_retention_locked(older_than=older_than, now=now)

    def _apply_retention_locked(
        self, *, older_than: timedelta | None = None, now: datetime | None = None
    ) -> int:
        if older_than is None:
            if self.options.retention_days is None:
                return 0
            older_than = timedelta(days=self.options.retention_days)
        if self.legal_hold:
            return 0
        cutoff = (now or datetime.now(timezone.utc)) - older_than
        already = set(self.manifest.pruned.get("segments", [])) if self.manifest.pruned else set()
        victims: list[SegmentInfo] = []
        for seg in self.manifest.segments[:-1]:
            if seg.id in already:
                continue
            closed = _parse_ts(seg.closed_at)
            if closed is None or closed > cutoff or seg.end_state is None:
                break
            victims.append(seg)
        if not victims:
            return 0
        last = victims[-1]
        assert last.end_state is not None
        start = StreamStart.from_fields(
            {**last.end_state, "reason": f"retention: older than {older_than.days} days"}
        )
        with self._lock:
            batch, self._pending = self._pending, []
        if batch:
            try:
                self._write_batch(batch)
            except Error:
                with self._lock:
                    self._pending[:0] = batch
                raise
        w = self.writer
        snapshot, key = w.state(), w.epoch_key
        try:
            self._seg.write(w.prune(start) + b"\n")
        except Error:
            self.writer = LedgerWriter(self.origin, key, state=snapshot)
            raise
        self._seg.sync()
        ids = sorted(already | {s.id for s in victims})
        self.manifest.pruned = {
            **start.to_fields(),
            "segments": ids,
            "at": now_ts(),
            "epoch": last.end_state.get("epoch", 0),
        }
        self._save_manifest()
        for seg in victims:
            for rel in (seg.file, seg.archive.file if seg.archive else None):
                if rel is not None:
                    with suppress(FileNotFoundError):
                        (self.layout.root / rel).unlink()
        self._publish_pointer()
        return len(victims)

    # -- closing ---------------------------------------------------------------
    def close(self) -> None:
        """Flush, seal the epoch, checkpoint, release locks. Idempotent."""
        if self._closed:
            return
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=5)
        try:
            self.seal()
            if self._archive_backlog:
                self._archive_outside_lock()
        finally:
            self._closed = True
            _OPEN_STREAMS.discard(self)
            with suppress(Error):
                self._close_segment()
            with suppress(OSError):
                os.close(self._lock_fd)
            with suppress(OSError):
                os.close(self._mp_fd)

    def _after_fork_in_child(self) -> None:
        """In a child forked from the process that opened the stream (e.g. gunicorn --preload).

        The child must share neither the parent's file descriptions (their locks
        would then lock nothing between parent and child) nor its queued records.
        A shared (``multiprocess``) stream is opened anew; an exclusive one is
        unusable here, with an error that says what to do.
        """
        for fd in (self._seg.fd, self._lock_fd, self._mp_fd):
            with suppress(OSError):
                os.close(fd)
        self._pending = []
        why = (
            "it was opened before fork() without multiprocess=True: open it in each worker "
            "(e.g. in gunicorn's post_fork hook), or open it with multiprocess=True"
        )
        if self.options.multiprocess:
            try:
                self._open()
                return
            except Error as exc:
                why = f"it could not be opened again after fork(): {exc}"
        self._closed = True
        self._closed_reason = f"stream {self.origin} is not usable in this process: {why}"

    def background_tick(self) -> None:
        """One run of the background flusher: archive, write, fsync, seal when the epoch is due.

        Archiving goes first, so that compressing a segment that rotation just
        closed starts at once, beside the logging thread.
        """
        if self._closed:
            return
        error: Error | None = None
        if self._archive_backlog:
            try:
                self._archive_outside_lock()
            except Error as exc:
                error = exc
        try:
            self.flush(sync=True)
        except Error as exc:
            error = exc
        if error is not None:  # raised to the application by its next append or flush
            self._error = error


def _open_new_segment(path: Path) -> SegmentFile:
    """Create the next segment file; reuse an empty one that a crash during rotation left."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return SegmentFile(path, create=True)
    except OSError as exc:
        raise StorageError(f"cannot stat segment {path}: {exc}") from exc
    if size:
        raise StorageError(
            f"segment {path} already exists ({size} bytes) but the manifest does not list it; "
            "move it away (and run 'logaudit verify') before the log can rotate"
        )
    return SegmentFile(path, create=False)


def _parse_ts(ts: str | None) -> datetime | None:
    if ts is None:
        return None
    try:
        return datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
    except ValueError:
        return None


def _last_checkpoint_note(path: Path) -> str | None:
    """The newest checkpoint note in ``checkpoints.jsonl`` (read from its tail), if any."""
    try:
        with path.open("rb") as f:
            start = max(0, f.seek(0, os.SEEK_END) - 65536)
            f.seek(start)
            lines = f.read().splitlines()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StorageError(f"cannot read {path}: {exc}") from exc
    for line in reversed(lines[1:] if start else lines):  # the first may be cut
        try:
            note = orjson.loads(line)["note"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            continue
        if isinstance(note, str):
            return note
    return None


def _mkdir_private(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise StorageError(f"cannot create key directory {path}: {exc}") from exc


_OPEN_STREAMS: set[FileStream] = set()
"""Streams not closed yet: an open stream holds queued records, so it is never just dropped."""


@atexit.register
def _close_at_exit() -> None:
    """Close the streams the application left open, as logging.shutdown does for handlers.

    The flusher is a daemon thread: without this, what was logged in the last
    ``flush_interval`` (all of it, in a short script) would be lost at exit.
    """
    for stream in list(_OPEN_STREAMS):
        try:
            stream.close()
        except Error as exc:
            print(f"logaudit: could not close {stream.origin} at exit: {exc}", file=sys.stderr)


def _reopen_after_fork() -> None:
    streams = list(_OPEN_STREAMS)
    _OPEN_STREAMS.clear()
    for stream in streams:
        stream._after_fork_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reopen_after_fork)


def _flusher(
    ref: Callable[[], FileStream | None], stop: threading.Event, wake: threading.Event
) -> None:
    while True:
        stream = ref()
        if stream is None:
            return
        interval = stream.options.flush_interval
        del stream
        wake.wait(interval)
        wake.clear()
        if stop.is_set():
            return
        stream = ref()
        if stream is None:
            return
        stream.background_tick()
        del stream
        time.sleep(0)
