"""The weekly collaboration report, its value created from a configurable lifetime value."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime
from fractions import Fraction

from kernel.testing.scenario import Scenario
from services.analytics.domain.periods import Period
from services.analytics.domain.weekly_report import (
    CUSTOMER_LIFETIME_VALUE_FEN,
    DiversionOffered,
    PublishWeeklyReport,
    SupportDone,
    TransferDone,
    WeeklyCollaborationReportPublished,
    weekly_publication,
    weekly_report,
)

WEEK = Period.week_of(date(2026, 11, 25))
TRANSFERS = [
    TransferDone(transfer_id="t1", response_minutes=Fraction(30), customer_retained=True),
    TransferDone(transfer_id="t2", response_minutes=Fraction(45), customer_retained=False),
    TransferDone(transfer_id="t1", response_minutes=Fraction(30), customer_retained=True),
]
SUPPORTS = [
    SupportDone(support_id="s1", complex_fault_solved=True, satisfaction=Fraction(5)),
    SupportDone(support_id="s2", complex_fault_solved=False, satisfaction=Fraction(4)),
    SupportDone(support_id="s3", complex_fault_solved=True, satisfaction=None),
]
DIVERSIONS = [
    DiversionOffered(diversion_id=f"d{n}", accepted=n != 0, compensation_fen=200_00)
    for n in range(4)
]


def test_the_week_counts_each_section_and_values_a_kept_customer_at_80000() -> None:
    report = weekly_report(WEEK, TRANSFERS, SUPPORTS, DIVERSIONS)
    assert WEEK.start == date(2026, 11, 23)
    assert CUSTOMER_LIFETIME_VALUE_FEN == 80_000_00
    t = report.transfers
    assert (t.count, t.average_response_minutes, t.customers_retained, t.value_fen) == (
        2,
        Fraction(75, 2),
        1,
        80_000_00,
    )
    s = report.supports
    assert (s.count, s.complex_faults_solved, s.average_satisfaction) == (3, 2, Fraction(9, 2))
    d = report.diversions
    assert (d.offered, d.accepted, d.acceptance_rate) == (4, 3, Fraction(3, 4))
    assert (d.compensation_fen, d.value_retained_fen) == (600_00, 240_000_00)
    assert report.value_created_fen == 320_000_00


def test_hq_sets_the_customer_lifetime_value() -> None:
    report = weekly_report(
        WEEK, TRANSFERS, SUPPORTS, DIVERSIONS, customer_lifetime_value_fen=50_000_00
    )
    assert report.value_created_fen == 4 * 50_000_00


def test_an_empty_week_has_no_averages() -> None:
    report = weekly_report(WEEK, [], [], [])
    assert report.transfers.average_response_minutes is None
    assert report.diversions.acceptance_rate is None
    assert report.value_created_fen == 0


def test_the_weekly_report_is_published_once() -> None:
    at = datetime(2026, 11, 9, 1, 0, tzinfo=UTC)
    week = Period.week_of(date(2026, 11, 2))
    report = weekly_report(
        week,
        [TransferDone(transfer_id="T1", response_minutes=Fraction(50), customer_retained=True)],
        [],
        [DiversionOffered(diversion_id="D1", accepted=True, compensation_fen=200_00)],
    )
    scenario = Scenario(weekly_publication)
    published = WeeklyCollaborationReportPublished(
        week=week,
        customer_lifetime_value_fen=80_000_00,
        transfers=1,
        average_response_minutes=Fraction(50),
        customers_retained=1,
        supports=0,
        complex_faults_solved=0,
        average_satisfaction=None,
        diversions_offered=1,
        diversions_accepted=1,
        compensation_fen=200_00,
        value_created_fen=160_000_00,
        occurred_at=at,
    )
    scenario.given().when(PublishWeeklyReport(report=report, at=at)).then(published)
    scenario.given(published).when(PublishWeeklyReport(report=report, at=at)).then_nothing_happens()
    regional = dataclasses.replace(published, region="South China")
    scenario.given().when(PublishWeeklyReport(report=report, at=at, region="South China")).then(
        regional
    )
    wrong = weekly_report(Period.month(2026, 11), [], [], [])
    scenario.given().when(PublishWeeklyReport(report=wrong, at=at)).then_invalid("week")
