"""Clock offsets from causal links: bounds, midpoints, minimal corrections, chaining."""

from __future__ import annotations

import pytest

from logging_audit.errors import ConfigError
from logging_audit.forensics.skew import CausalItem, CausalLink, estimate_clocks, find_links

S = 1_000_000


def _link(a: str, b: str, ta: float, tb: float) -> CausalLink:
    return CausalLink(a, b, round(ta * S), round(tb * S), f"{a}@{ta}", f"{b}@{tb}")


def test_links_both_ways_give_the_midpoint() -> None:
    # b runs 10 s fast; latency 1 s each way
    links = [_link("a", "b", 0, 11), _link("b", "a", 20, 11)]
    report = estimate_clocks({"a": 5, "b": 2}, links)
    assert report.reference == "a"
    assert report.clocks["b"].offset_seconds == pytest.approx(10.0)
    assert report.clocks["b"].method == "estimated"
    assert report.violations_before == 1
    assert report.violations_after == 0


def test_one_way_links_correct_only_what_causality_demands() -> None:
    fine = estimate_clocks({"a": 2, "b": 1}, [_link("a", "b", 0, 3)])
    assert fine.clocks["b"].offset_seconds == 0
    behind = estimate_clocks({"a": 2, "b": 1}, [_link("a", "b", 10, 4)])
    assert behind.clocks["b"].offset_seconds == pytest.approx(-6.000001)
    assert behind.violations_after == 0


def test_contradicting_bounds_are_reported() -> None:
    links = [_link("a", "b", 0, 1), _link("b", "a", 10, 0)]
    report = estimate_clocks({"a": 2, "b": 2}, links, reference="a")
    assert "contradict" in report.clocks["b"].note


def test_offsets_chain_through_nodes_and_unlinked_nodes_stay() -> None:
    links = [
        _link("a", "b", 0, 11),
        _link("b", "a", 20, 11),  # b +10
        _link("b", "c", 30, 26),
        _link("c", "b", 40, 46),  # c is 5 s behind b
    ]
    report = estimate_clocks({"a": 9, "b": 1, "c": 1, "d": 1}, links)
    assert report.clocks["c"].offset_seconds == pytest.approx(5.0)
    assert report.clocks["d"].method == "not_estimated"
    assert report.clocks["d"].offset_seconds == 0


def test_given_offsets_anchor_and_are_validated() -> None:
    links = [_link("a", "b", 0, 11), _link("b", "a", 20, 11)]
    report = estimate_clocks({"a": 1, "b": 1}, links, given={"b": 3.5})
    assert report.clocks["b"].method == "given"
    assert report.clocks["b"].offset_seconds == 3.5
    with pytest.raises(ConfigError):
        estimate_clocks({"a": 1}, [], given={"a": "fast"})  # type: ignore[dict-item]


def test_links_are_found_between_nodes_only() -> None:
    items = [
        CausalItem("a", 0, "e1", ("e1", "s1"), ()),
        CausalItem("a", 1, "e2", ("e2",), ("s1",)),  # same node: no link
        CausalItem("b", 2, "e3", ("e3",), ("s1", "missing")),
    ]
    (link,) = find_links(items)
    assert (link.cause, link.effect) == ("e1", "e3")
    assert link.to_dict()["raw_delta_seconds"] == pytest.approx(2e-6)
