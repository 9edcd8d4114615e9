"""Operating reports: recorded per store and period; a correction supersedes and says so."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from fractions import Fraction

from kernel.testing.scenario import Scenario
from services.analytics.domain import reasons
from services.analytics.domain.operating_figures import (
    Costs,
    IndicatorFigure,
    OperatingFigures,
    RevenueByLine,
    Role,
    Staffing,
)
from services.analytics.domain.operating_reports import (
    OperatingReportEvent,
    OperatingReportRecorded,
    OperatingReports,
    OperatingReportSuperseded,
    RecordOperatingReport,
    operating_report,
)
from services.analytics.domain.periods import Period, PeriodKind

reports: Scenario[OperatingReports, RecordOperatingReport, OperatingReportEvent] = Scenario(
    operating_report
)
NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)  # 10:00 in Shenzhen
NOVEMBER = Period.month(2026, 11)
FIGURES = OperatingFigures(
    revenue=RevenueByLine(labour_fen=420_000_00, parts_fen=350_000_00, value_added_fen=80_000_00),
    costs=Costs(
        people_fen=480_000_00, rent_fen=220_000_00, parts_fen=240_000_00, other_fen=110_000_00
    ),
    staffing=(
        Staffing(role=Role.TECHNICIAN, headcount=12, leavers=1),
        Staffing(role=Role.SERVICE_ADVISOR, headcount=5),
        Staffing(role=Role.MANAGER, headcount=1),
    ),
    floor_area_m2=1_200,
    csi=Fraction(88),
    nps=Fraction(35),
    complaints=12,
    returning_customers=300,
    other_figures=(IndicatorFigure(indicator="training_completion", value=Fraction(9, 10)),),
)


def record(
    report_id: str = "R1", supersedes: str | None = None, **changes: object
) -> RecordOperatingReport:
    command = RecordOperatingReport(
        store_id="SZ01",
        report_id=report_id,
        period=NOVEMBER,
        figures=FIGURES,
        supersedes_report_id=supersedes,
        store_known=True,
        at=NOW,
    )
    return replace(command, **changes)  # type: ignore[arg-type]


RECORDED = OperatingReportRecorded(
    store_id="SZ01",
    report_id="R1",
    period=NOVEMBER,
    figures=FIGURES,
    supersedes_report_id=None,
    occurred_at=NOW,
)


def test_a_month_report_is_recorded_with_all_its_figures() -> None:
    reports.given().when(record()).then(RECORDED)
    assert FIGURES.revenue.total_fen == 850_000_00
    assert FIGURES.headcount == 18 and FIGURES.leavers == 1


def test_a_correction_supersedes_the_report_in_force_and_says_so() -> None:
    corrected = replace(FIGURES, complaints=10)
    reports.given(RECORDED).when(record("R2", supersedes="R1", figures=corrected)).then(
        OperatingReportRecorded(
            store_id="SZ01",
            report_id="R2",
            period=NOVEMBER,
            figures=corrected,
            supersedes_report_id="R1",
            occurred_at=NOW,
        ),
        OperatingReportSuperseded(
            store_id="SZ01",
            report_id="R1",
            period=NOVEMBER,
            superseded_by_report_id="R2",
            occurred_at=NOW,
        ),
    )


def test_a_second_report_that_does_not_name_the_one_it_corrects_is_refused() -> None:
    reports.given(RECORDED).when(record("R2")).then_refused(reasons.REPORT_ALREADY_RECORDED)


def test_a_correction_of_a_report_no_longer_in_force_is_refused() -> None:
    second = OperatingReportRecorded(
        store_id="SZ01",
        report_id="R2",
        period=NOVEMBER,
        figures=FIGURES,
        supersedes_report_id="R1",
        occurred_at=NOW,
    )
    reports.given(RECORDED, second).when(record("R3", supersedes="R1")).then_refused(
        reasons.REPORT_NOT_IN_FORCE
    )


def test_a_retried_report_changes_nothing_but_a_reused_id_with_other_figures_is_refused() -> None:
    reports.given(RECORDED).when(record()).then_nothing_happens()
    reports.given(RECORDED).when(record(figures=replace(FIGURES, complaints=1))).then_refused(
        reasons.REPORT_ID_REUSED
    )


def test_negative_money_is_refused_naming_every_field() -> None:
    bad = replace(
        FIGURES,
        revenue=replace(FIGURES.revenue, labour_fen=-1),
        costs=replace(FIGURES.costs, rent_fen=-5),
    )
    reports.given().when(record(figures=bad)).then_invalid(
        "figures.revenue.labour_fen", "figures.costs.rent_fen"
    )


def test_an_unknown_indicator_is_refused() -> None:
    bad = replace(FIGURES, other_figures=(IndicatorFigure(indicator="vibes", value=Fraction(1)),))
    reports.given().when(record(figures=bad)).then_invalid("figures.other_figures[0].indicator")


def test_scores_off_their_scale_and_negative_counts_are_refused() -> None:
    bad = replace(FIGURES, csi=Fraction(101), nps=Fraction(-101), complaints=-1)
    reports.given().when(record(figures=bad)).then_invalid(
        "figures.csi", "figures.nps", "figures.complaints"
    )


def test_an_unknown_store_is_refused() -> None:
    reports.given().when(record(store_known=False)).then_refused(reasons.UNKNOWN_STORE)


def test_a_period_not_yet_begun_anywhere_is_refused() -> None:
    december = Period.month(2026, 12)
    before = datetime(2026, 11, 30, 9, 59, tzinfo=UTC)  # 23:59 on 30 Nov at UTC+14
    reports.given().when(record(period=december, at=before)).then_refused(
        reasons.PERIOD_IN_THE_FUTURE
    )
    begun = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)  # midnight on 1 Dec at UTC+14
    assert reports.given().when(record(period=december, at=begun)).events


def test_a_report_covers_a_calendar_day_or_month_only() -> None:
    reports.given().when(record(period=Period.year(2026))).then_invalid("period.kind")
    reports.given().when(record(period=Period(PeriodKind.MONTH, date(2026, 11, 2)))).then_invalid(
        "period.start"
    )
    assert reports.given().when(record(period=Period.day(date(2026, 11, 30)))).events
