"""The weekly report's diversion compensation comes from collab's cost ledger
(CollaborationCostRecorded, kind compensation), with domain.md's figures: 200 CNY a
diverted customer, 92% of offered customers accepting, a kept customer worth 80,000 CNY."""

from __future__ import annotations

from datetime import date
from fractions import Fraction

from services.analytics.domain.periods import Period
from services.analytics.domain.weekly_report import weekly_report
from services.analytics.queries_reports import diversion_of, diversions_offered

WEEK = Period.week_of(date(2026, 11, 2))


def test_a_hold_belongs_to_the_diversion_collab_took_it_for() -> None:
    assert diversion_of("D-7:1") == "D-7"
    assert diversion_of("7c1d0a3e-0000-4000-8000-000000000001:2") == (
        "7c1d0a3e-0000-4000-8000-000000000001"
    )
    assert diversion_of("H-1") == "H-1"  # a hold not taken by collab's saga


def test_the_week_of_25_offers_23_accepted_costs_4600_and_keeps_1840000() -> None:
    # 25 customers offered another store, 23 accepted (domain.md: 92% accept); collab
    # recorded 200 CNY compensation for each of the 23 completed diversions.
    holds = [(f"D-{n}:1", n < 23) for n in range(25)]
    ledger = {f"D-{n}": 200_00 for n in range(23)}

    report = weekly_report(WEEK, [], [], diversions_offered(holds, ledger))

    d = report.diversions
    assert (d.offered, d.accepted, d.acceptance_rate) == (25, 23, Fraction(92, 100))
    assert d.compensation_fen == 4_600_00
    assert d.value_retained_fen == 1_840_000_00
    assert report.value_created_fen == 1_840_000_00  # compensation beside it, not netted


def test_compensation_counts_only_what_collab_recorded_for_an_accepted_offer() -> None:
    # D-1 was declined (no cost recorded); D-2's second receiver took the car; D-3 was
    # accepted but its completion (and so its cost) is not projected yet.
    holds = [("D-1:1", False), ("D-2:2", True), ("D-3:1", True)]
    ledger = {"D-2": 300_00, "D-9": 200_00}

    offered = diversions_offered(holds, ledger)

    assert [(o.diversion_id, o.accepted, o.compensation_fen) for o in offered] == [
        ("D-1:1", False, 0),
        ("D-2:2", True, 300_00),
        ("D-3:1", True, 0),
    ]
    assert weekly_report(WEEK, [], [], offered).diversions.compensation_fen == 300_00
