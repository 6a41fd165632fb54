"""Several processes and threads recording into one audit stream: nothing lost, no fork."""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from logging_audit.audit.events import AuditEvent
from logging_audit.audit.factory import open_store
from logging_audit.audit.query import EventQuery
from logging_audit.audit.records import Requestor
from logging_audit.audit.testing import (
    pg_test_url,
    pg_unavailable_reason,
    record_in_process,
    temporary_pg_schema,
)
from logging_audit.persistence.models import ClearanceLevel

TOP = Requestor("auditor", ClearanceLevel.LEVEL_5)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, Any]]:
    if request.param == "sqlite":
        yield {"database": str(tmp_path / "audit.db"), "key_dir": None, "schema": "logaudit"}
        return
    reason = pg_unavailable_reason()
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    with temporary_pg_schema() as schema:
        yield {"database": pg_test_url(), "key_dir": str(tmp_path / "keys"), "schema": schema}


def test_processes_record_concurrently_across_epochs(location: dict[str, Any]) -> None:
    # create the stream first so that every worker opens an existing one
    open_store(location["database"], key_dir=location["key_dir"], schema=location["schema"],
               epoch_seconds=1).close()  # fmt: skip
    jobs = [
        {
            **location,
            "worker": f"w{i}",
            "count": 24,
            "epoch_seconds": 1,
            "pause": 0.05,
            "batch": 1 + i % 3,
        }
        for i in range(4)
    ]
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(4) as pool:
        results = pool.map(record_in_process, jobs)
    assert sum(len(r) for r in results) == 96
    store = open_store(location["database"], key_dir=location["key_dir"], schema=location["schema"])
    try:
        for i, ids in enumerate(results):
            events = list(store.iter_events(EventQuery.build({"actor": f"w{i}"}), TOP))
            assert [e.event.event_id for e in events] == ids
            assert [e.event.details["i"] for e in events] == list(range(24))
        report = store.verify_integrity()
        assert report.verified, report.to_dict()
        assert report.ledger.seals_verified >= 2  # epochs ended while workers were recording
    finally:
        store.close()


def test_threads_share_one_store(location: dict[str, Any]) -> None:
    store = open_store(location["database"], key_dir=location["key_dir"], schema=location["schema"])
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(20):
                store.append([AuditEvent("system", "tick", f"t{n}", details={"i": i})])
                if i % 5 == 0:
                    store.search(EventQuery.build({"actor": f"t{n}"}), TOP)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert errors == []
        assert store.count(EventQuery.build({"action": "tick"}), TOP) == 80
        assert store.verify_integrity().verified
    finally:
        store.close()
