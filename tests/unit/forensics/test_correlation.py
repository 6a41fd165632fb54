"""Query correlation on crafted query events: enumeration, probing, combined clearance.

The data exists first (documents, customers, a vault at LEVEL_5); then agents
search the audit data through AuditService, each search recorded by the
store as a ``query`` event with the requestor's id, clearance and criteria.
"""

from __future__ import annotations

import pytest

from logging_audit.audit_service import AuditService
from logging_audit.errors import ConfigError
from logging_audit.forensics.correlation import AggregationRule, QueryCorrelator


def _world(service: AuditService) -> None:
    for i in range(1, 16):
        service.record_event("A-owner", "write", {}, 2, resource=f"doc-{i:04d}")
    for i in range(1, 21):
        service.record_event("A-crm", "write", {}, 2, resource=f"cust-{i:02d}")
    service.record_event("A-vault", "write", {}, 5, resource="vault-1")


def _ask(service: AuditService, who: str, level: int, criteria: dict[str, object]) -> None:
    service.query_events(criteria=criteria, requestor_id=who, requestor_clearance=level)


def test_sequential_and_exhaustive_enumeration(service: AuditService) -> None:
    _world(service)
    for i in range(1, 13):
        _ask(service, "A-scraper", 3, {"resource": f"doc-{i:04d}"})
    report = QueryCorrelator(service).analyze()
    seq = report.of_kind("sequential_enumeration")
    assert [f.requestors for f in seq] == [("A-scraper",)]
    assert seq[0].details["run_length"] == 12
    assert seq[0].score == pytest.approx(0.880797, abs=1e-5)  # logistic(12; 8, 2)
    assert len(seq[0].evidence) == 12
    assert "doc-0001 … doc-0012" in seq[0].explanation
    exhaustive = report.of_kind("exhaustive_enumeration")
    assert len(exhaustive) == 1
    assert exhaustive[0].details["distinct"] == 12
    assert 0.0 <= exhaustive[0].score <= 1.0
    assert all(0.0 <= f.score <= 1.0 for f in report.findings)


def test_probing_above_clearance(service: AuditService) -> None:
    _world(service)
    _ask(service, "A-prober", 2, {"clearance": {"gte": 4}})
    _ask(service, "A-prober", 2, {"clearance_level": 5})
    _ask(service, "A-prober", 2, {"resource": "vault-1"})
    _ask(service, "A-honest", 2, {"clearance": {"lte": 2}})  # within its clearance
    report = QueryCorrelator(service).analyze()
    (level,) = report.of_kind("clearance_probe")
    assert level.requestors == ("A-prober",)
    assert level.details["probes"] == 2
    assert level.score == pytest.approx(1 - 2.718281828 ** (-3), abs=1e-4)  # gaps 3 + 3
    assert "LEVEL_2" in level.explanation
    assert "2 of these queries returned nothing" in level.explanation
    (target,) = report.of_kind("target_probe")
    assert target.requestors == ("A-prober",)
    assert "vault-1" in target.explanation
    assert not [f for f in report.findings if "A-honest" in f.requestors]


def test_several_agents_reach_together_what_none_was_cleared_for(service: AuditService) -> None:
    _world(service)
    customers = [f"cust-{i:02d}" for i in range(1, 21)]
    _ask(service, "A-1", 2, {"resource": customers[0:6]})
    _ask(service, "A-2", 2, {"resource": customers[6:12]})
    _ask(service, "A-3", 2, {"resource": customers[12:18]})
    _ask(service, "A-cleared", 4, {"resource": customers})  # cleared for the aggregate
    _ask(service, "A-small", 2, {"resource": customers[0:2]})
    rule = AggregationRule.parse("cust-*:15:LEVEL_4")
    report = QueryCorrelator(service, aggregation_rules=[rule]).analyze()
    (combined,) = report.of_kind("combined_clearance")
    assert set(combined.requestors) == {"A-1", "A-2", "A-3"}
    assert combined.details["union"] == 18
    assert combined.details["contributions"] == {"A-1": 6, "A-2": 6, "A-3": 6}
    assert combined.score == pytest.approx(0.5 + 0.3 * 1.0 + 0.2 * (3 / 15))
    assert "none of them holds" in combined.explanation
    assert len(combined.evidence) == 3
    assert not report.of_kind("aggregation")  # nobody crossed the limit alone


def test_one_requestor_over_the_aggregate_limit(service: AuditService) -> None:
    _world(service)
    customers = [f"cust-{i:02d}" for i in range(1, 21)]
    _ask(service, "A-greedy", 3, {"resource": customers})
    report = QueryCorrelator(service, aggregation_rules=["cust-*:15:LEVEL_4"]).analyze()
    (agg,) = report.of_kind("aggregation")
    assert agg.requestors == ("A-greedy",)
    assert agg.details["distinct"] == 20


def test_ordinary_queries_raise_nothing_and_the_analyst_is_left_out(
    service: AuditService,
) -> None:
    _world(service)
    _ask(service, "auditor", 5, {"resource": "doc-0003"})
    _ask(service, "auditor", 5, {"actor": "A-owner"})
    report = QueryCorrelator(service, aggregation_rules=["cust-*:15:LEVEL_4"]).analyze()
    assert report.findings == []
    assert report.queries == 2  # the correlator's own reads are not analysed
    assert report.to_dict()["rules"][0]["clearance_level"] == 4


def test_rules_are_checked() -> None:
    with pytest.raises(ConfigError):
        AggregationRule.parse("no-limit")
    with pytest.raises(ConfigError):
        AggregationRule("x-*", 1, 3)  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        QueryCorrelator(sequential_run=1)
