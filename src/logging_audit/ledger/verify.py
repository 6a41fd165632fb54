"""Verification of a framed stream in one pass: chain, MACs, epochs, seals, tree, checkpoints.

:class:`StreamVerifier` is fed lines one at a time (storage hands them over
segment by segment) and keeps O(log n) state: the frontier, the last leaf hash,
the current epoch key and a small window of recent leaf hashes. It looks one
line ahead so that it can tell a swap from a deletion and an inserted entry
from a modified one. :func:`verify_stream` is the one-call form.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from binascii import b2a_base64
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass

import orjson

from logging_audit.errors import CheckpointError, FramingError, NoteError
from logging_audit.ledger.checkpoint import Checkpoint, parse_checkpoint
from logging_audit.ledger.framing import (
    _CANONICAL_LAST,
    ZERO_HASH,
    Entry,
    parse_entry,
    unb64,
    unframe_line,
)
from logging_audit.ledger.frontier import Frontier
from logging_audit.ledger.hashing import _LEAF, _NODE, leaf_hash
from logging_audit.ledger.notes import verify_note
from logging_audit.ledger.prune import PRUNE, StreamStart
from logging_audit.ledger.report import Failure, FailureKind, PrunedRange, VerificationReport
from logging_audit.ledger.seals import SEAL, MacKey, evolve_key, verify_mac
from logging_audit.ledger.verifier import VerifierMaterial

__all__ = ["SegmentSummary", "SegmentVerifier", "StreamVerifier", "verify_stream"]

LineInput = bytes | tuple[str | None, int, bytes]

_RECENT = 256  # leaf hashes remembered for replay / insertion classification
_PROBE = 64  # later epochs tried when a MAC fails, to name "too-new key" forgeries
_EVOLVE_BUDGET = 200_000  # key evolutions allowed up front (over 5 years idle at 15-min epochs)
_EVOLVE_PER_LINE = 64  # more allowed per line walked, so honest long logs never run short


@dataclass(slots=True)
class _Item:
    segment: str | None
    line: int
    entry: Entry | None = None
    h: bytes | None = None
    mac: bytes | None = None
    error: str | None = None
    mac_state: bool | None = None  # True ok, False bad, None unchecked
    newer_epoch: int | None = None


@dataclass
class _CheckpointRef:
    label: str
    cp: Checkpoint
    trusted: bool


class StreamVerifier:
    """Incremental verifier of one stream. Feed lines in order, then :meth:`finish`."""

    def __init__(
        self,
        material: VerifierMaterial,
        *,
        checkpoints: Iterable[str] = (),
        trusted_checkpoint: str | None = None,
        start: StreamStart | None = None,
    ) -> None:
        """Prepare to verify the stream ``material.origin``.

        ``checkpoints`` are signed notes kept with the stream; ``trusted_checkpoint``
        is one the caller obtained elsewhere (a witness, an earlier verification).
        ``start`` resumes after a prune: seqs before ``start.size`` were removed,
        and a MAC'd prune entry in the stream must confirm it.
        """
        self.material = material
        self.report = VerificationReport(origin=material.origin)
        self._start = start
        if start is not None:
            self._frontier = Frontier(start.size, start.frontier)
            self._prev: bytes | None = start.prev
            self._expected = start.size
            self.report.pruned.append(PrunedRange(0, start.size - 1, start.reason, False))
        else:
            self._frontier = Frontier()
            self._prev = ZERO_HASH
            self._expected = 0
        self._tree_broken = False
        self._suppress_chain = False
        self._last: _Item | None = None
        self._last_fast: tuple[str | None, int, bytes, bytes] | None = None
        self._prev_b64 = ""
        self._prev_b64_of: bytes | None = None
        self._last_flagged = False
        self._pending_mac_fail: _Item | None = None
        self._deferred_cps: list[tuple[list[_CheckpointRef], bytes]] = []
        self._ring: list[tuple[int, bytes] | None] = [None] * _RECENT
        self._epoch: int | None = None
        self._epoch_dirty = False
        self._epoch_sealed = False
        self._epoch_first_seq: int | None = None
        self._key_epoch: int | None = None
        self._key: bytes | None = None
        self._mac: MacKey | None = None
        self._mac_epoch: int | None = None
        self._checked: set[int] = set()
        self._unchecked: set[int] = set()
        self._pending: _Item | None = None
        self._held: _Item | None = None
        self._held_after: _Item | None = None
        self._reprocessing = False
        self._foreign = False
        self._budget = _EVOLVE_BUDGET
        self._pending_break: tuple[_Item, _Item] | None = None
        self._count = 0
        self._cps: dict[int, list[_CheckpointRef]] = {}
        for i, note in enumerate(checkpoints):
            self._add_checkpoint(note, f"checkpoint #{i + 1}", trusted=False)
        if trusted_checkpoint is not None:
            ref = self._add_checkpoint(trusted_checkpoint, "trusted checkpoint", trusted=True)
            if ref is not None:
                self.report.trusted_size = ref.cp.size
        if start is not None:
            # Checkpoints inside the pruned range cannot be recomputed; the one at
            # the boundary is compared with the frontier the stream resumes from.
            for size in [s for s in self._cps if s < start.size]:
                del self._cps[size]
            self._check_checkpoints()

    # -- checkpoints -----------------------------------------------------
    def _add_checkpoint(self, note: str, label: str, *, trusted: bool) -> _CheckpointRef | None:
        verifiers = self.material.note_verifiers
        try:
            opened = verify_note(note, verifiers)
            cp = parse_checkpoint(opened.text)
        except CheckpointError as exc:
            self._fail(FailureKind.FORGED_CHECKPOINT, f"{label} is malformed: {exc}")
            return None
        except NoteError as exc:
            known = {(v.name, v.key_id) for v in verifiers}
            named = _signers(note)
            if named and not named & known:
                self._fail(
                    FailureKind.UNKNOWN_SIGNER,
                    f"{label} is signed only by unknown key(s) "
                    f"{sorted(f'{n}+{k:08x}' if k is not None else n for n, k in named)}",
                )
            else:
                self._fail(FailureKind.FORGED_CHECKPOINT, f"{label} does not verify: {exc}")
            return None
        if cp.origin != self.material.origin:
            self._fail(
                FailureKind.FOREIGN_STREAM,
                f"{label} belongs to stream {cp.origin!r}, not {self.material.origin!r}",
            )
            return None
        ref = _CheckpointRef(label, cp, trusted)
        if cp.size == 0:
            return ref
        self._cps.setdefault(cp.size, []).append(ref)
        return ref

    def _check_checkpoints(self) -> None:
        refs = self._cps.pop(self._frontier.size, None)
        if not refs or self._tree_broken:
            return
        root = self._frontier.root()
        if self._pending_mac_fail is not None:
            # The entry just appended failed its MAC: whether its bytes (and so this
            # root) are intact is known only once the next entry arrives.
            self._deferred_cps.append((refs, root))
            return
        self._compare_checkpoints(refs, root)

    def _compare_checkpoints(self, refs: list[_CheckpointRef], root: bytes) -> None:
        for ref in refs:
            if ref.cp.root_hash == root:
                self.report.checkpoints_verified += 1
                self.report.covered_size = max(self.report.covered_size, ref.cp.size)
            else:
                self._fail(
                    FailureKind.CHECKPOINT_MISMATCH,
                    f"{ref.label} signs root {ref.cp.root_hash.hex()[:16]}… at size "
                    f"{ref.cp.size}, but the stream's root there is {root.hex()[:16]}…",
                    seq=ref.cp.size - 1,
                )

    def _release_deferred(self, intact: bool) -> None:
        deferred, self._deferred_cps = self._deferred_cps, []
        if intact:
            for refs, root in deferred:
                self._compare_checkpoints(refs, root)

    # -- keys ------------------------------------------------------------
    def _key_for(self, epoch: int) -> bytes | None:
        m = self.material
        if self._key_epoch is not None and self._key is not None and epoch >= self._key_epoch:
            key, at = self._key, self._key_epoch
        elif m.epoch0_key is not None:
            key, at = m.epoch0_key, 0
        elif m.current_epoch is not None and epoch >= m.current_epoch[0]:
            at, key = m.current_epoch
        else:
            return None
        self._budget -= max(0, epoch - at)
        while at < epoch:
            key = evolve_key(key)
            at += 1
        self._key_epoch, self._key = at, key
        return key

    def _lowest_derivable(self) -> int:
        m = self.material
        if m.epoch0_key is not None:
            return 0
        return m.current_epoch[0] if m.current_epoch is not None else 0

    def _check_mac(self, item: _Item) -> None:
        assert item.entry is not None
        assert item.mac is not None
        epoch = item.entry.epoch
        if epoch == self._mac_epoch and self._mac is not None:
            mac_key = self._mac
        elif epoch - max(self._key_epoch or 0, self._lowest_derivable()) > self._budget:
            # An implausible epoch: verification time must not be the attacker's to set.
            item.mac_state = False
            return
        else:
            key = self._key_for(epoch)
            if key is None:
                self._unchecked.add(epoch)
                return
            mac_key = self._mac = MacKey(key)
            self._mac_epoch = epoch
            self._checked.add(epoch)
        if mac_key.verify(item.entry.raw, item.mac):
            item.mac_state = True
            return
        item.mac_state = False
        probe = self._key_for(epoch)
        assert probe is not None
        for later in range(epoch + 1, epoch + _PROBE + 1):
            probe = evolve_key(probe)
            if verify_mac(probe, item.entry.raw, item.mac):
                item.newer_epoch = later
                return

    # -- feeding ---------------------------------------------------------
    def feed(self, data: bytes, *, segment: str | None = None, line: int | None = None) -> None:
        """Feed the next framed line (``line`` numbers default to a running count)."""
        self._count += 1
        self._budget += _EVOLVE_PER_LINE
        number = line if line is not None else self._count
        if self._pending is None and self._held is None and self._try_fast(data, segment, number):
            return
        item = _Item(segment, number)
        try:
            raw, mac = unframe_line(data)
            item.h = leaf_hash(raw)
            item.mac = mac
            item.entry = parse_entry(raw)
        except FramingError as exc:
            item.error = str(exc)
        if item.entry is not None:
            self._check_mac(item)
        if self._pending is not None:
            self._process(self._pending, item)
        if self._held is None and item.entry is not None and self._is_plain(item, item.entry):
            # An ordinary entry needs no look-ahead: accept it now.
            self._pending = None
            self._accept_plain(item, item.entry)
        else:
            self._pending = item

    def feed_many(
        self,
        lines: Sequence[bytes],
        *,
        segment: str | None = None,
        first_line: int = 1,
        terminated: bool = True,
    ) -> None:
        """Feed consecutive lines of one segment: ``lines[i]`` is line ``first_line + i``.

        The same as calling :meth:`feed` for each line, only faster. Lines may
        come with or without their ``\n`` (as ``bytes.split(b"\n")`` leaves
        them); ``terminated=False`` says that the last one had none in the file
        (a torn last line), which matters only for a line ending in ``\r``.
        """
        i, n = 0, len(lines)
        while i < n:
            i = self._fast_run(lines, i, segment, first_line)
            if i < n:
                data = lines[i]
                if data[-1:] == b"\r" and (terminated or i < n - 1):
                    data += b"\n"  # the file had "\r\n": let unframe_line strip both
                self.feed(data, segment=segment, line=first_line + i)
                i += 1

    def _fast_run(self, lines: Sequence[bytes], i: int, segment: str | None, first: int) -> int:
        """Accept ordinary lines from ``lines[i]`` on, as :meth:`_try_fast` would one by one.

        The state the fast path reads and writes is kept in locals for the run;
        returns the index of the first line that must go the long way.
        """
        epoch = self._epoch
        if (
            self._pending is not None
            or self._held is not None
            or epoch is None
            or self._epoch_sealed
            or self._pending_mac_fail is not None
            or self._suppress_chain
            or self._last_flagged
            or self._prev is None
        ):
            return i
        mac_key = self._mac
        if self._mac_epoch == epoch and mac_key is not None:
            inner, outer = mac_key.states()
            checked = True
        elif epoch in self._unchecked and epoch not in self._checked:
            inner = outer = None
            checked = False
        else:
            return i
        n_lines = len(lines)
        start = i
        expected = first_seq = self._expected
        prev = self._prev
        prev_b64 = b2a_base64(prev, newline=False).decode("ascii")
        frontier = self._frontier
        hashes = frontier._hashes  # Frontier.append is inlined below (same package)
        fsize = frontier._size
        fstart = frontier._start
        ring = self._ring
        cps = self._cps
        next_cp = min((c for c in cps if c > fsize), default=-1)
        dirty = self._epoch_dirty
        loads = orjson.loads
        decode_error = orjson.JSONDecodeError
        b64 = b2a_base64
        same = hmac.compare_digest
        leaf0 = _LEAF.copy
        node0 = _NODE.copy
        canonical = _CANONICAL_LAST
        last_entry = b""
        while i < n_lines:
            data = lines[i]
            n = len(data)
            if data.endswith(b"\n"):
                n -= 1
            if (
                n < 60
                or not data.startswith(b',"mac":"', n - 54)
                or not data.startswith(b'"}', n - 2)
                or not data.startswith(b"{")
                or data[n - 4] not in canonical
            ):
                break
            entry = data[: n - 54] + b"}"
            try:
                obj = loads(entry)
            except decode_error:
                break
            if type(obj) is not dict:
                break
            seq = obj.get("seq")
            got_epoch = obj.get("epoch")
            if (
                seq != expected
                or type(seq) is not int
                or got_epoch != epoch
                or type(got_epoch) is not int
                or obj.get("prev") != prev_b64
                or type(obj.get("ts")) is not str
                or "ledger" in obj
                or "mac" in obj
            ):
                break
            if checked:
                ih = inner.copy()
                ih.update(entry)
                oh = outer.copy()
                oh.update(ih.digest())
                if not same(b64(oh.digest(), newline=False), data[n - 46 : n - 2]):
                    break
            else:
                try:
                    base64.b64decode(data[n - 46 : n - 2], validate=True)
                except (binascii.Error, ValueError):
                    break
            h = leaf0()
            h.update(entry)
            prev = h.digest()
            if not dirty:
                dirty = True
                self._epoch_dirty = True
                self._epoch_first_seq = seq
            node = prev
            if fstart == 0:
                carry = fsize
                while carry & 1:
                    nh = node0()
                    nh.update(hashes.pop() + node)
                    node = nh.digest()
                    carry >>= 1
            else:
                end = fsize + 1
                bit = 1
                while not end & bit and end - fstart >= bit << 1:
                    nh = node0()
                    nh.update(hashes.pop() + node)
                    node = nh.digest()
                    bit <<= 1
            hashes.append(node)
            fsize += 1
            prev_b64 = b64(prev, newline=False).decode("ascii")
            ring[seq % _RECENT] = (seq, prev)
            expected = seq + 1
            last_entry = entry
            i += 1
            if fsize == next_cp:
                frontier._size = fsize
                self._check_checkpoints()
                next_cp = min((c for c in cps if c > fsize), default=-1)
        done = i - start
        if done:
            frontier._size = fsize
            self._prev = prev
            self._expected = expected
            self._count += done
            self._budget += _EVOLVE_PER_LINE * done
            self._last = None
            self._last_fast = (segment, first + i - 1, last_entry, prev)
            rep = self.report
            if rep.first_seq is None:
                rep.first_seq = first_seq
            rep.last_seq = expected - 1
        return i

    def _try_fast(self, data: bytes, segment: str | None, number: int) -> bool:
        """Accept an ordinary line without building any object; False sends it the long way.

        Checks exactly what the long way checks for such a line: framing, JSON
        object with the ledger fields, next seq, chained prev, current epoch, no
        ledger record, and the MAC (compared in its canonical base64 form).
        """
        epoch = self._epoch
        if (
            epoch is None
            or self._epoch_sealed
            or self._pending_mac_fail is not None
            or self._suppress_chain
            or self._last_flagged
            or self._prev is None
        ):
            return False
        if self._mac_epoch == epoch and self._mac is not None:
            mac_key: MacKey | None = self._mac
        elif epoch in self._unchecked and epoch not in self._checked:
            mac_key = None
        else:
            return False
        n = len(data)
        if data[n - 1 : n] == b"\n":
            n -= 1
        if (
            n < 60
            or data[n - 54 : n - 46] != b',"mac":"'
            or data[n - 2 : n] != b'"}'
            or data[0:1] != b"{"
            or data[n - 4] not in _CANONICAL_LAST
        ):
            return False
        entry = data[: n - 54] + b"}"
        try:
            obj = orjson.loads(entry)
        except orjson.JSONDecodeError:
            return False
        if type(obj) is not dict:
            return False
        seq = obj.get("seq")
        if type(seq) is not int or seq != self._expected:
            return False
        got_epoch = obj.get("epoch")
        if type(got_epoch) is not int or got_epoch != epoch:
            return False
        if self._prev_b64_of is not self._prev:
            self._prev_b64 = b2a_base64(self._prev, newline=False).decode("ascii")
            self._prev_b64_of = self._prev
        if (
            obj.get("prev") != self._prev_b64
            or type(obj.get("ts")) is not str
            or "ledger" in obj
            or "mac" in obj
        ):
            return False
        mac_text = data[n - 46 : n - 2]
        if mac_key is not None:
            if not hmac.compare_digest(b2a_base64(mac_key.mac(entry), newline=False), mac_text):
                return False
        else:
            try:
                base64.b64decode(mac_text, validate=True)
            except (binascii.Error, ValueError):
                return False
        h = _LEAF.copy()
        h.update(entry)
        digest = h.digest()
        if not self._epoch_dirty:
            self._epoch_dirty = True
            self._epoch_first_seq = seq
        self._frontier.append(digest)
        self._prev = digest
        self._expected = seq + 1
        self._ring[seq % _RECENT] = (seq, digest)
        self._last = None
        self._last_fast = (segment, number, entry, digest)
        rep = self.report
        if rep.first_seq is None:
            rep.first_seq = seq
        rep.last_seq = seq
        if self._cps:
            self._check_checkpoints()
        return True

    def _last_item(self) -> _Item | None:
        """The last accepted entry as an item (rebuilt when the fast path took it)."""
        if self._last is None and self._last_fast is not None:
            segment, number, entry, digest = self._last_fast
            self._last = _Item(segment, number, entry=parse_entry(entry), h=digest)
        return self._last

    # -- stitching segments verified on their own ----------------------------
    @property
    def checkpoint_sizes(self) -> frozenset[int]:
        """Tree sizes of the checkpoints not yet compared (for a :class:`SegmentVerifier`)."""
        return frozenset(self._cps)

    def _pristine(self) -> bool:
        """No failure so far and nothing pending that could still become one."""
        return (
            not self.report.failures
            and self._held is None
            and self._pending_mac_fail is None
            and self._pending_break is None
            and not self._deferred_cps
            and not self._tree_broken
            and not self._suppress_chain
            and not self._last_flagged
            and not self._foreign
            and self._prev is not None
        )

    def _root_with(self, subtrees: Sequence[tuple[int, bytes]]) -> bytes:
        frontier = self._frontier.copy()
        frontier.extend_subtrees(subtrees)
        return frontier.root()

    def adopt_segment(self, summary: SegmentSummary) -> bool:
        """Take a segment that a :class:`SegmentVerifier` walked on its own, as if fed here.

        Returns True when the segment was taken: the state and report are then
        exactly what feeding its lines one by one would have made them. Returns
        False when that cannot be shown simply (a failure so far, the segment
        does not continue the chain, tree or epochs where this walk stands, a
        seal or checkpoint root differs…): the caller then feeds the segment's
        lines instead, which reports whatever there is to report.
        """
        s = summary
        if not self._pristine():
            return False
        pending = self._pending
        if pending is not None:
            # A line held for look-ahead (typically the seal ending the previous
            # segment): when it continues the chain with a MAC that did not fail,
            # what follows it cannot change how it is taken, so take it now.
            e = pending.entry
            if (
                e is None
                or pending.mac_state is False
                or e.seq != self._expected
                or e.prev != self._prev
            ):
                return False
            self._pending = None
            self._process(pending, None)
            if not self._pristine():
                return False
        if (
            s.first_seq != self._expected
            or self._frontier.size != s.first_seq
            or s.first_prev != self._prev
            or (self._key_epoch is not None and s.first_epoch < self._key_epoch)
        ):
            return False
        e1 = s.first_epoch
        if self._epoch is None or e1 > self._epoch:
            if self._epoch is not None and self._epoch_dirty and not self._epoch_sealed:
                return False  # a missing seal: the walk reports it
            continuing = False
        elif e1 == self._epoch and not self._epoch_sealed:
            continuing = True
        else:
            return False
        for subtrees, root in s.seals:
            if self._root_with(subtrees) != root:
                return False
        snapshots = dict(s.checkpoints)
        hits = []
        for size in sorted(self._cps):
            if not s.first_seq < size <= s.end_seq:
                continue
            if size not in snapshots:
                return False
            root = self._root_with(snapshots[size])
            if any(ref.cp.root_hash != root for ref in self._cps[size]):
                return False
            hits.append(size)
        # Everything checks out: take the segment's end state.
        self._frontier.extend_subtrees(s.subtrees)
        self._expected = s.end_seq
        self._prev = s.last_hash
        self._count += s.lines
        self._budget += _EVOLVE_PER_LINE * s.lines
        if s.key_epoch is not None and (self._key_epoch is None or s.key_epoch > self._key_epoch):
            # Failure-free walks derive keys forward only, so the evolution budget
            # spent is the same whether the keys were derived here or there.
            key = self._key_for(s.key_epoch)
            assert key is not None
            self._mac = MacKey(key)
            self._mac_epoch = s.key_epoch
        self._checked.update(s.checked)
        self._unchecked.update(s.unchecked)
        if continuing and s.epoch == e1:
            # The segment continued (and maybe sealed) the open epoch.
            if not self._epoch_dirty:
                self._epoch_first_seq = s.epoch_first_seq
            self._epoch_dirty = self._epoch_dirty or s.epoch_dirty
        else:
            self._epoch_dirty = s.epoch_dirty
            self._epoch_first_seq = s.epoch_first_seq
        self._epoch = s.epoch
        self._epoch_sealed = s.epoch_sealed
        ring = self._ring
        for seq, h in s.recent:
            ring[seq % _RECENT] = (seq, h)
        self._last = None
        self._last_fast = (s.segment, s.last_line, s.last_entry, s.last_hash)
        rep = self.report
        if rep.first_seq is None:
            rep.first_seq = s.first_seq
        rep.last_seq = s.end_seq - 1
        rep.seals_verified += s.seals_verified
        for size in hits:
            refs = self._cps.pop(size)
            rep.checkpoints_verified += len(refs)
            rep.covered_size = max(rep.covered_size, size)
        return True

    def finish(self) -> VerificationReport:
        """Process what is left and return the report."""
        if self._pending is not None:
            self._process(self._pending, None)
            self._pending = None
        if self._held is not None:
            held, self._held = self._held, None
            self._process(held, None)
        rep = self.report
        self._classify_pending(None)
        self._resolve_break(foreign=False)
        rep.entries = self._count
        rep.tree_size = self._frontier.size
        rep.root_hash = None if self._tree_broken else self._frontier.root()
        end = max(self._expected, self._frontier.size)
        for size in sorted(self._cps):
            if size <= end:
                continue  # not comparable: an earlier failure broke the tree before it
            for ref in self._cps[size]:
                missing = size - end
                what = "entry is" if missing == 1 else "entries are"
                self._fail(
                    FailureKind.TRUNCATED_TAIL,
                    f"stream ends at {end} entries but {ref.label} signs size {size}: "
                    f"{missing} {what} missing at the tail",
                    seq=end,
                )
        self._cps.clear()
        if self._epoch_dirty and not self._epoch_sealed and self._epoch_first_seq is not None:
            rep.unsealed_tail = (self._epoch_first_seq, self._expected - 1)
        if self._start is not None and rep.pruned and not rep.pruned[0].confirmed:
            self._fail(
                FailureKind.UNCONFIRMED_PRUNE,
                f"the stream starts at seq {self._start.size} but no prune entry confirms "
                "the removal of the entries before it",
                seq=self._start.size,
            )
        rep.mac_epochs_checked = sorted(self._checked)
        rep.mac_epochs_unchecked = sorted(self._unchecked - self._checked)
        return rep

    # -- the walk ----------------------------------------------------------
    def _fail(
        self,
        kind: FailureKind,
        reason: str,
        *,
        seq: int | None = None,
        line: int | None = None,
        segment: str | None = None,
    ) -> None:
        self.report.failures.append(Failure(kind, reason, seq, line, segment))

    def _fail_at(self, item: _Item, kind: FailureKind, reason: str) -> None:
        seq = item.entry.seq if item.entry is not None else None
        self._fail(kind, reason, seq=seq, line=item.line, segment=item.segment)

    def _process(self, cur: _Item, nxt: _Item | None) -> None:
        self._process_one(cur, nxt)
        if self._held is not None and cur is not self._held and self._held_after is cur:
            held, self._held = self._held, None
            self._reprocessing = True
            try:
                self._process_one(held, nxt)
            finally:
                self._reprocessing = False

    def _is_plain(self, cur: _Item, e: Entry) -> bool:
        """True for the common case: the next seq, chained, in the open epoch, MAC not failed."""
        return (
            cur.mac_state is not False
            and e.seq == self._expected
            and e.prev == self._prev
            and e.epoch == self._epoch
            and "ledger" not in e.fields
            and not self._epoch_sealed
            and self._pending_mac_fail is None
            and not self._suppress_chain
            and not self._last_flagged
        )

    def _process_one(self, cur: _Item, nxt: _Item | None) -> None:
        e = cur.entry
        if e is not None and self._is_plain(cur, e):
            self._accept_plain(cur, e)
            return
        if cur.entry is None:
            self._malformed(cur)
            return
        e = cur.entry
        s = e.seq
        if s == self._expected:
            if (
                nxt is not None
                and nxt.entry is not None
                and nxt.entry.seq == s
                and nxt.entry.prev == self._prev
                and nxt.mac_state is not False
                and (e.prev != self._prev or cur.mac_state is False)
            ):
                self._fail_at(cur, FailureKind.INSERTED_ENTRY, "entry was not written by the log")
                return
            self._accept(cur, check_chain=True)
            return
        if s < self._expected:
            slot = self._ring[s % _RECENT]
            known = slot[1] if slot is not None and slot[0] == s else None
            if known is not None and known == cur.h:
                self._fail_at(cur, FailureKind.REPLAYED_SEQ, f"seq {s} appears a second time")
            elif known is None and s < self._expected - _RECENT:
                self._fail_at(
                    cur, FailureKind.REPLAYED_SEQ, f"seq {s} appears again, far out of order"
                )
            else:
                self._fail_at(
                    cur, FailureKind.INSERTED_ENTRY, f"a second, different entry claims seq {s}"
                )
            return
        # s > expected: a gap, an entry moved here from later, or one that never belonged
        if nxt is not None and nxt.entry is not None and not self._reprocessing:
            n = nxt.entry
            chains_on = n.seq == self._expected and n.prev == self._prev
            if chains_on and not (s == n.seq + 1 and e.prev == nxt.h):
                self._fail_at(
                    cur,
                    FailureKind.INSERTED_ENTRY,
                    f"entry claiming seq {s} sits where seq {self._expected} belongs",
                )
                return
            if self._expected <= n.seq < s and self._held is None:
                self._fail_at(
                    cur, FailureKind.REORDERED_ENTRIES, f"seq {s} appears before seq {n.seq}"
                )
                self._held = cur
                self._held_after = nxt
                return
        first, last = self._expected, s - 1
        what = f"seq {first}" if first == last else f"seqs {first}..{last}"
        self._fail_at(cur, FailureKind.DELETED_ENTRIES, f"{what} missing before this entry")
        self._tree_broken = True
        self._expected = s
        self._accept(cur, check_chain=False)

    def _malformed(self, cur: _Item) -> None:
        self._fail_at(cur, FailureKind.MALFORMED_LINE, cur.error or "not a framed entry")
        self._classify_pending(None)
        self._tree_broken = True
        self._suppress_chain = True
        self._last_flagged = True
        if cur.h is not None:
            # Framing held: the bytes still take their place in the tree.
            self._frontier.append(cur.h)
            self._prev = cur.h
            self._check_checkpoints()
        else:
            self._tree_broken = True
            self._prev = None
        self._expected += 1

    def _classify_pending(self, next_prev: bytes | None) -> bool:
        item = self._pending_mac_fail
        if item is None:
            return False
        self._pending_mac_fail = None
        if next_prev is None and self._deferred_cps:
            # End of stream: a signed checkpoint over this very entry tells.
            intact = all(r.cp.root_hash == root for refs, root in self._deferred_cps for r in refs)
        else:
            intact = next_prev is not None and next_prev == item.h
        if intact:
            self._fail_at(item, FailureKind.MODIFIED_MAC, "MAC altered; the entry bytes are intact")
        else:
            self._fail_at(
                item, FailureKind.MODIFIED_ENTRY, "entry bytes altered: MAC does not match"
            )
            self._tree_broken = True
        self._release_deferred(intact)
        return True

    def _accept_plain(self, cur: _Item, e: Entry) -> None:
        """The common case, checked by the caller: the next seq, chained, in the open epoch."""
        h = cur.h
        assert h is not None
        seq = e.seq
        if not self._epoch_dirty:
            self._epoch_dirty = True
            self._epoch_first_seq = seq
        self._frontier.append(h)
        self._prev = h
        self._expected = seq + 1
        self._ring[seq % _RECENT] = (seq, h)
        self._last = cur
        self._last_fast = None
        rep = self.report
        if rep.first_seq is None:
            rep.first_seq = seq
        rep.last_seq = seq
        if self._cps:
            self._check_checkpoints()

    def _accept(self, cur: _Item, *, check_chain: bool) -> None:
        e = cur.entry
        assert e is not None
        assert cur.h is not None
        rep = self.report
        prev_flagged = self._classify_pending(e.prev) or self._last_flagged
        if (
            check_chain
            and not self._suppress_chain
            and self._prev is not None
            and e.prev != self._prev
            and not prev_flagged
            and cur.mac_state is not False
        ):
            last = self._last_item()
            if last is not None and cur.mac_state is None:
                # No MAC to tell whether the previous entry was altered or this one does
                # not belong: the next seal decides (its origin names the log it is from).
                self._pending_break = (last, cur)
            elif last is not None:
                self._fail_at(
                    last,
                    FailureKind.MODIFIED_ENTRY,
                    f"entry bytes altered: its hash no longer matches seq {e.seq}'s prev",
                )
            else:
                self._fail_at(cur, FailureKind.CHAIN_BREAK, "prev does not continue the stream")
            self._tree_broken = True
        breaks_chain = (
            check_chain
            and not self._suppress_chain
            and self._prev is not None
            and e.prev != self._prev
            and not prev_flagged
        )
        self._suppress_chain = False
        self._last_flagged = False
        if cur.mac_state is False and cur.newer_epoch is None and (breaks_chain or self._foreign):
            # Neither chained to the stream nor MAC'd with its key: lines of another log
            # (or forged ones). Report the run once, where it starts.
            if not self._foreign:
                self._fail_at(
                    cur,
                    FailureKind.CHAIN_BREAK,
                    "entry does not continue the stream and its MAC does not verify: "
                    "lines of another log, or forged",
                )
                self._tree_broken = True
                self._foreign = True
        elif cur.mac_state is False:
            self._foreign = False
            if cur.newer_epoch is not None:
                kind = (
                    FailureKind.SEAL_TOO_NEW_KEY
                    if e.ledger_kind == SEAL
                    else FailureKind.ENTRY_TOO_NEW_KEY
                )
                self._fail_at(
                    cur,
                    kind,
                    f"epoch {e.epoch} entry is MAC'd with the key of epoch {cur.newer_epoch}",
                )
                self._last_flagged = True
            else:
                self._pending_mac_fail = cur
        else:
            self._foreign = False
        self._epoch_rules(cur, e)
        if e.ledger_kind == SEAL:
            self._check_seal(cur, e)
        elif e.ledger_kind == PRUNE:
            self._check_prune(cur, e)
        self._frontier.append(cur.h)
        self._prev = cur.h
        self._expected = e.seq + 1
        self._ring[e.seq % _RECENT] = (e.seq, cur.h)
        self._last = cur
        self._last_fast = None
        if rep.first_seq is None:
            rep.first_seq = e.seq
        rep.last_seq = e.seq
        self._check_checkpoints()

    def _epoch_rules(self, cur: _Item, e: Entry) -> None:
        if self._epoch is None:
            self._epoch = e.epoch
            self._epoch_first_seq = e.seq
        elif e.epoch < self._epoch:
            self._fail_at(
                cur,
                FailureKind.EPOCH_BACKWARDS,
                f"epoch {e.epoch} after epoch {self._epoch}",
            )
            return
        elif e.epoch > self._epoch:
            if self._epoch_dirty and not self._epoch_sealed:
                self._fail_at(
                    cur,
                    FailureKind.MISSING_SEAL,
                    f"epoch {self._epoch} has entries but no seal before epoch {e.epoch} begins",
                )
            self._epoch = e.epoch
            self._epoch_sealed = False
            self._epoch_dirty = False
            self._epoch_first_seq = e.seq
        elif self._epoch_sealed:
            self._fail_at(cur, FailureKind.ENTRY_AFTER_SEAL, f"epoch {e.epoch} was already sealed")
            return
        if e.ledger_kind == SEAL:
            self._epoch_sealed = True
        else:
            if not self._epoch_dirty:
                self._epoch_first_seq = e.seq
            self._epoch_dirty = True

    def _resolve_break(self, *, foreign: bool) -> None:
        pending, self._pending_break = self._pending_break, None
        if pending is None:
            return
        last, cur = pending
        if foreign:
            self._fail_at(
                cur,
                FailureKind.CHAIN_BREAK,
                "entry does not continue the stream: lines of another log from here",
            )
        else:
            assert cur.entry is not None
            self._fail_at(
                last,
                FailureKind.MODIFIED_ENTRY,
                f"entry bytes altered: its hash no longer matches seq {cur.entry.seq}'s prev",
            )

    def _check_seal(self, cur: _Item, e: Entry) -> None:
        f = e.fields
        origin = f.get("origin")
        self._resolve_break(foreign=origin != self.material.origin)
        if origin != self.material.origin:
            self._fail_at(cur, FailureKind.FOREIGN_STREAM, f"seal of stream {origin!r}")
            self._last_flagged = True
            return
        if self._tree_broken:
            return  # an earlier failure already broke the tree; the seal cannot be compared
        size, root = f.get("size"), f.get("root")
        try:
            root_b = unb64(root, "seal root", 32) if isinstance(root, str) else None
        except FramingError:
            root_b = None
        if size != self._frontier.size or root_b is None:
            self._fail_at(
                cur,
                FailureKind.SEAL_MISMATCH,
                f"seal claims size {size!r} but {self._frontier.size} entries precede it",
            )
            return
        if not self._tree_broken and not self._seal_root_matches(root_b):
            self._fail_at(cur, FailureKind.SEAL_MISMATCH, "seal's root differs from the stream's")
            return
        if cur.mac_state is not False:
            self.report.seals_verified += 1

    def _seal_root_matches(self, root: bytes) -> bool:
        """Whether a seal's root is the stream's root before it (a segment walk defers this)."""
        return root == self._frontier.root()

    def _check_prune(self, cur: _Item, e: Entry) -> None:
        origin = e.fields.get("origin")
        if origin != self.material.origin:
            self._fail_at(cur, FailureKind.FOREIGN_STREAM, f"prune entry of stream {origin!r}")
            return
        try:
            recorded = StreamStart.from_fields(e.fields)
        except FramingError as exc:
            self._fail_at(cur, FailureKind.MALFORMED_LINE, f"prune entry: {exc}")
            return
        start = self._start
        if start is None or recorded.size != start.size:
            return  # a prune of entries this walk still holds or pruned further later
        if recorded.prev != start.prev or recorded.frontier != start.frontier:
            self._fail_at(
                cur,
                FailureKind.UNCONFIRMED_PRUNE,
                "prune entry records a different tree state than the stream resumes from",
            )
            return
        if cur.mac_state is False:
            return
        rng = self.report.pruned[0]
        self.report.pruned[0] = PrunedRange(rng.first, rng.last, recorded.reason, True)


Subtrees = tuple[tuple[int, bytes], ...]
"""``(height, root hash)`` of aligned perfect subtrees, left to right (see :class:`Frontier`)."""


@dataclass(frozen=True)
class SegmentSummary:
    """One segment walked on its own without any failure: what stitching it on needs.

    Made by :meth:`SegmentVerifier.summary` (typically in a worker process) and
    taken by :meth:`StreamVerifier.adopt_segment`. It is O(log n) in size: the
    leaf range as aligned subtrees, the same at each seal and checkpoint size
    (whose roots only the stitching walk can compute), the chain's ends, the
    epoch and key state, and the last few leaf hashes.
    """

    segment: str | None
    lines: int
    first_seq: int
    first_prev: bytes
    first_epoch: int
    end_seq: int
    last_hash: bytes
    last_line: int
    last_entry: bytes
    subtrees: Subtrees
    seals: tuple[tuple[Subtrees, bytes], ...]
    checkpoints: tuple[tuple[int, Subtrees], ...]
    epoch: int
    epoch_sealed: bool
    epoch_dirty: bool
    epoch_first_seq: int | None
    key_epoch: int | None
    checked: frozenset[int]
    unchecked: frozenset[int]
    seals_verified: int
    recent: tuple[tuple[int, bytes], ...]


class SegmentVerifier(StreamVerifier):
    """Walks one segment on its own, assuming it continues a stream that is intact so far.

    It takes the segment's first line at its word (its seq, prev and epoch) and
    checks everything else exactly as :class:`StreamVerifier` does, with the
    same code; what it cannot know (roots, which need the tree before the
    segment) it records for :meth:`StreamVerifier.adopt_segment` to check.
    :meth:`summary` is ``None`` whenever anything at all was found: the walk
    then feeds the segment itself and reports it.
    """

    def __init__(
        self,
        material: VerifierMaterial,
        *,
        segment: str | None = None,
        checkpoint_sizes: Collection[int] = (),
    ) -> None:
        """Prepare to walk ``segment``; ``checkpoint_sizes`` are the tree sizes checkpoints sign."""
        super().__init__(
            VerifierMaterial(material.origin, (), material.epoch0_key, material.current_epoch)
        )
        self._segment = segment
        self._cp_sizes = frozenset(checkpoint_sizes)
        self._anchored = False
        self._unusable = False
        self._first: tuple[int, bytes, int] | None = None
        self._seal_roots: list[tuple[Subtrees, bytes]] = []
        self._cp_snaps: list[tuple[int, Subtrees]] = []

    def feed(self, data: bytes, *, segment: str | None = None, line: int | None = None) -> None:
        """Feed the next line; the first one anchors the walk (see the class docstring)."""
        if not self._anchored:
            self._anchored = True
            try:
                e = parse_entry(unframe_line(data)[0])
            except FramingError:
                self._unusable = True
            else:
                self._first = (e.seq, e.prev, e.epoch)
                self._expected = e.seq
                self._prev = e.prev
                self._frontier = Frontier(start=e.seq)
                self._cps = {size: [] for size in self._cp_sizes if size > e.seq}
        super().feed(data, segment=segment, line=line)

    def _check_checkpoints(self) -> None:
        size = self._frontier.size
        if self._cps.pop(size, None) is not None:
            self._cp_snaps.append((size, self._frontier.subtrees()))

    def _seal_root_matches(self, root: bytes) -> bool:
        self._seal_roots.append((self._frontier.subtrees(), root))
        return True

    def _check_prune(self, cur: _Item, e: Entry) -> None:
        # Whether a prune entry confirms the stream's start is for the whole walk to say.
        self._unusable = True

    def summary(self) -> SegmentSummary | None:
        """The segment's summary, or ``None`` if it must be walked line by line after all."""
        if self._pending is not None:
            pending, self._pending = self._pending, None
            self._process(pending, None)
        last = self._last_item()
        if (
            self._unusable
            or self._first is None
            or last is None
            or last.entry is None
            or last.h is None
            or self._epoch is None
            or not self._pristine()
        ):
            return None
        first_seq, first_prev, first_epoch = self._first
        recent = sorted(
            (slot for slot in self._ring if slot is not None and slot[0] >= first_seq),
        )
        return SegmentSummary(
            segment=self._segment,
            lines=self._count,
            first_seq=first_seq,
            first_prev=first_prev,
            first_epoch=first_epoch,
            end_seq=self._expected,
            last_hash=last.h,
            last_line=last.line,
            last_entry=last.entry.raw,
            subtrees=self._frontier.subtrees(),
            seals=tuple(self._seal_roots),
            checkpoints=tuple(self._cp_snaps),
            epoch=self._epoch,
            epoch_sealed=self._epoch_sealed,
            epoch_dirty=self._epoch_dirty,
            epoch_first_seq=self._epoch_first_seq,
            key_epoch=self._key_epoch,
            checked=frozenset(self._checked),
            unchecked=frozenset(self._unchecked),
            seals_verified=self.report.seals_verified,
            recent=tuple(recent),
        )


def _signers(note: str) -> set[tuple[str, int | None]]:
    """(name, key id) of every signature line, leniently (for naming a failure only)."""
    found: set[tuple[str, int | None]] = set()
    for line in note.split("\n"):
        if line.startswith("\u2014 "):
            parts = line.split(" ")
            if len(parts) == 3:
                try:
                    kid: int | None = int.from_bytes(base64.b64decode(parts[2])[:4], "big")
                except (binascii.Error, ValueError):
                    kid = None
                found.add((parts[1], kid))
    return found


def verify_stream(
    lines: Iterable[LineInput],
    verifier_material: VerifierMaterial,
    trusted_checkpoint: str | None = None,
    *,
    checkpoints: Iterable[str] = (),
    start: StreamStart | None = None,
) -> VerificationReport:
    """Verify a whole stream in one pass and return its report (never a bare bool).

    ``lines`` are framed lines (bytes), or ``(segment, line_number, bytes)``
    tuples so that failures name their file and line.
    """
    v = StreamVerifier(
        verifier_material,
        checkpoints=checkpoints,
        trusted_checkpoint=trusted_checkpoint,
        start=start,
    )
    for item in lines:
        if isinstance(item, tuple):
            segment, number, data = item
            v.feed(data, segment=segment, line=number)
        else:
            v.feed(item)
    return v.finish()
