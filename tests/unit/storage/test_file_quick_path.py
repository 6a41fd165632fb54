"""The loggers' hot path writes exactly what the general path writes.

``info()`` and friends queue a plain call as a tuple and the writer builds its
entry (and its encrypted field group) in one go; ``log()`` and the handler
build a dict first. Both must give the same entries, encrypted the same way,
with the same time format, and the batched frontier must be the one that
appending leaf by leaf gives.
"""

from __future__ import annotations

import json
import logging
import os
import random
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from storage_helpers import MakeLogger, entries

from logging_audit.crypto.fields import FieldCipher, decrypt_fields
from logging_audit.ledger.frontier import Frontier
from logging_audit.ledger.writer import LedgerWriter, _fold, ts_from_ns
from logging_audit.reader import read_records
from logging_audit.storage.files.stream import json_default

TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
LEDGER = {"seq", "ts", "prev", "epoch", "mac"}
ODD_EXTRA: dict[Any, Any] = {
    "bytes": b"\x00\xff",
    "set": {3, 1, 2},
    "big": 1 << 70,
    7: "int key",
    "nested": {"t": (1, 2)},
}


def _segment(log_dir: Path) -> Path:
    return log_dir / "app" / "segments" / "00000001.jsonl"


def _without_ledger(entry: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in entry.items() if k not in LEDGER}


@pytest.mark.parametrize("extra", [None, {"user": "u1", "status": 200}, ODD_EXTRA])
def test_info_writes_what_log_writes(
    make_logger: MakeLogger, log_dir: Path, extra: dict[str, Any] | None
) -> None:
    logger = make_logger(flush_interval=60)
    for level, name in ((logging.DEBUG, "debug"), (logging.INFO, "info")):
        logger.level = level
        getattr(logger, name)("the same message", extra=extra)  # the hot path
        logger.log(level, "the same message", extra=extra)  # the general path
    logger.warning("w", extra=extra)
    logger.log(logging.WARNING, "w", extra=extra)
    logger.error("e", extra=extra)
    logger.log(logging.ERROR, "e", extra=extra)
    logger.flush()
    lines = _segment(log_dir).read_bytes().splitlines()
    got = entries(_segment(log_dir))
    assert len(got) == 8
    for quick, general, quick_line, general_line in zip(
        got[::2], got[1::2], lines[::2], lines[1::2], strict=True
    ):
        assert _without_ledger(quick) == _without_ledger(general)
        assert list(quick) == list(general)  # the same keys in the same (sorted) order
        assert TS.match(quick["ts"]), quick["ts"]
        # byte for byte too, once the ledger fields are taken out
        assert re.sub(rb'"(seq|ts|prev|mac)":[^,}]*', b"", quick_line) == re.sub(
            rb'"(seq|ts|prev|mac)":[^,}]*', b"", general_line
        )
    assert logger.verify_log_integrity()["verified"] is True


@pytest.mark.parametrize("fields", [None, ("msg",), ("msg", "extra", "level")])
@pytest.mark.parametrize("extra", [None, {"user": "u1"}, ODD_EXTRA])
def test_encrypted_info_reads_back_as_log_does(
    make_logger: MakeLogger,
    log_dir: Path,
    fields: tuple[str, ...] | None,
    extra: dict[str, Any] | None,
) -> None:
    options: dict[str, Any] = {"encryption_enabled": True, "flush_interval": 60}
    if fields is not None:
        options["encrypted_fields"] = fields
    logger = make_logger(**options)
    logger.info("secret", extra=extra)
    logger.log(logging.INFO, "secret", extra=extra)
    logger.flush()
    raw = entries(_segment(log_dir))
    for entry in raw:
        assert "msg" not in entry
        assert set(entry["enc"]) == {"ct", "kid", "nonce"}
    assert [sorted(e) for e in raw[:1]] == [sorted(e) for e in raw[1:]]
    records = [r for r in read_records(log_dir / "app") if r.kind == "record"]
    assert [r.status for r in records] == ["ok", "ok"]
    assert records[0].fields == records[1].fields
    assert records[0].fields["msg"] == "secret"
    assert logger.verify_log_integrity()["verified"] is True


def test_a_quick_encryptor_seals_what_encrypt_seals() -> None:
    key = os.urandom(32)
    cipher = FieldCipher(key, "dk-1", "logaudit/n/app", ("msg", "extra", "details"))
    quick = cipher.quick_encryptor(json_default)
    assert quick is not None
    assert FieldCipher(key, "dk-1", "o", ("msg",)).quick_encryptor() is None
    assert FieldCipher(key, "dk-1", "o", ("msg", "extra", "node")).quick_encryptor() is None
    for extra in (None, {"a": 1}):
        enc = quick("hello", extra, 41)
        opened = decrypt_fields({"enc": enc}, lambda kid: key, "logaudit/n/app", 41)
        assert opened == ({"msg": "hello"} if extra is None else {"msg": "hello", "extra": extra})
        general = cipher.encrypt(
            {"msg": "hello", **({} if extra is None else {"extra": extra})}, 41, json_default
        )
        assert set(general["enc"]) == set(enc)
        assert enc["nonce"] != general["enc"]["nonce"]  # never the same nonce twice


def test_time_from_nanoseconds_is_the_ledger_format() -> None:
    for ns in (0, 1_700_000_000_123_456_789, 1_700_000_000_999_999_999, 4_102_444_800_000_001_000):
        when = datetime.fromtimestamp(ns // 1_000_000_000, timezone.utc).replace(
            microsecond=ns // 1000 % 1_000_000
        )
        assert ts_from_ns(ns) == when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_batched_frontier_equals_leaf_by_leaf() -> None:
    rnd = random.Random(7)
    for _ in range(300):
        size = rnd.choice([0, 1, 2, 3, 7, 8, rnd.randrange(0, 3000)])
        new = [os.urandom(32) for _ in range(rnd.choice([0, 1, 2, 5, rnd.randrange(0, 700)]))]
        base = Frontier()
        base.extend(os.urandom(32) for _ in range(size))
        ref = Frontier(base.size, base.hashes)
        ref.extend(new)
        assert _fold(base.hashes, base.size, list(new)) == list(ref.hashes), (size, len(new))


def test_a_batch_of_tuples_chains_like_single_appends() -> None:
    key = b"k" * 32
    batch_writer = LedgerWriter("logaudit/n/app", key)
    single = LedgerWriter("logaudit/n/app", key)
    records: list[tuple[str | int, Any]] = []
    expected = []
    for i in range(1000):
        ts = ts_from_ns(1_700_000_000_000_000_000 + i * 1_000_001)
        extra = {"i": i} if i % 3 else None
        records.append(
            (1_700_000_000_000_000_000 + i * 1_000_001, ("INFO", "app", f"m{i}", "n", extra))
        )
        fields: dict[str, Any] = {"level": "INFO", "logger": "app", "msg": f"m{i}", "node": "n"}
        if extra is not None:
            fields["extra"] = dict(extra)
        expected.append(single.append(fields, ts=ts) + b"\n")
    assert batch_writer.append_owned_batch(records, json_default) == b"".join(expected)
    assert batch_writer.state() == single.state()
    assert batch_writer.root() == single.root()
    assert json.loads(expected[-1])["seq"] == 999
