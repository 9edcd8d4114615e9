"""Proto <-> domain for analytics: requests parsed into commands (every fault at once, the
domain's own checks included), views into replies."""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta
from fractions import Fraction
from typing import Any

from storemesh.analytics.events.v1 import events_pb2 as ev
from storemesh.analytics.v1 import analytics_pb2 as pb

from kernel import validation
from kernel.codec import decimal_fraction
from kernel.errors import Violations
from services.analytics.domain import indicators
from services.analytics.domain.alarm_settings import SetAlarmLine
from services.analytics.domain.operating_figures import (
    Costs,
    IndicatorFigure,
    OperatingFigures,
    RevenueByLine,
    Role,
    Staffing,
    check_figures,
)
from services.analytics.domain.operating_reports import REPORTED_KINDS, RecordOperatingReport
from services.analytics.domain.periods import Period, PeriodKind
from services.analytics.domain.targets import (
    MAX_SPRING_FESTIVAL_DIP,
    MIN_SPRING_FESTIVAL_DIP,
    SPRING_FESTIVAL_DIP,
    SetTarget,
    SetYearlyTarget,
    seasonality_weights,
)
from services.analytics.domain.warnings import Light
from services.analytics.queries_comparison import PeerFacet
from services.analytics.queries_kpis import Level, Scope

MIN_YEAR, MAX_YEAR = 2, 9998


def period(
    v: Violations, field: str, message: Any, kinds: frozenset[PeriodKind] | None = None
) -> Period | None:
    """A Period message: a kind (of `kinds`, when given) and the period's first day."""
    kind = validation.enum_member(v, f"{field}.kind", message.kind, PeriodKind)
    start = validation.day(v, f"{field}.start", message.start)
    if kind is None or start is None:
        return None
    if kinds is not None and kind not in kinds:
        names = " or ".join(k.name.lower() for k in sorted(kinds))
        v.add(f"{field}.kind", f"must be a {names}")
        return None
    found = Period(kind, start)
    if not found.is_well_formed():
        v.add(f"{field}.start", "must be the first day of the period (a Monday for a week)")
        return None
    return found


def period_message(p: Period) -> ev.Period:
    return ev.Period(kind=int(p.kind), start=p.start.isoformat())


def _figures(v: Violations, f: ev.OperatingFigures) -> OperatingFigures:
    staffing = []
    for n, s in enumerate(f.staffing):
        role = validation.enum_member(v, f"figures.staffing[{n}].role", s.role, Role)
        # Checked as a whole below; with no role the row is left out, so say it here.
        staffing.append(Staffing(role=role or Role.OTHER, headcount=s.headcount, leavers=s.leavers))
    figures = OperatingFigures(
        revenue=RevenueByLine(
            labour_fen=f.revenue.labour_fen,
            parts_fen=f.revenue.parts_fen,
            value_added_fen=f.revenue.value_added_fen,
            accessories_fen=f.revenue.accessories_fen,
            insurance_renewals_fen=f.revenue.insurance_renewals_fen,
        ),
        costs=Costs(
            people_fen=f.costs.people_fen,
            rent_fen=f.costs.rent_fen,
            parts_fen=f.costs.parts_fen,
            other_fen=f.costs.other_fen,
        ),
        staffing=tuple(staffing),
        floor_area_m2=f.floor_area_m2,
        csi=decimal_fraction(f.csi) if f.HasField("csi") else None,
        nps=decimal_fraction(f.nps) if f.HasField("nps") else None,
        complaints=f.complaints,
        returning_customers=f.returning_customers,
        other_figures=tuple(
            IndicatorFigure(indicator=o.indicator, value=decimal_fraction(o.value))
            for o in f.other_figures
        ),
    )
    check_figures(v, figures)
    return figures


def record_report(r: pb.RecordOperatingReportRequest, at: datetime) -> RecordOperatingReport:
    v = Violations()
    validation.request_id(v, "request_id", r.request_id)
    validation.store_code(v, "store_id", r.store_id)
    report_id = r.report_id or r.request_id
    if r.report_id:
        validation.identifier(v, "report_id", r.report_id)
    if r.supersedes_report_id:
        validation.identifier(v, "supersedes_report_id", r.supersedes_report_id)
    if not r.HasField("period"):
        v.add("period", "is required (a day or a month)")
    reported = period(v, "period", r.period, REPORTED_KINDS) if r.HasField("period") else None
    figures = _figures(v, r.figures)
    v.raise_if_any()
    assert reported is not None
    return RecordOperatingReport(
        store_id=r.store_id,
        report_id=report_id,
        period=reported,
        figures=figures,
        supersedes_report_id=r.supersedes_report_id or None,
        store_known=True,
        at=at,
    )


def report_lookup(r: pb.GetOperatingReportRequest, today: date) -> tuple[str, Period, date]:
    v = Violations()
    validation.store_code(v, "store_id", r.store_id)
    found = period(v, "period", r.period, REPORTED_KINDS)
    on = as_of_up_to_today(v, r.as_of, today)
    v.raise_if_any()
    assert found is not None
    return r.store_id, found, on


def _indicator(v: Violations, field: str, code: str) -> indicators.Indicator | None:
    if not code:
        v.add(field, "is required (an indicator code of ListIndicators)")
        return None
    found = indicators.find(code)
    if found is None:
        v.add(field, f"unknown indicator {code!r}")
    return found


# Targets, totals and weights a person sets: whole fen to shares of a percent. Beyond
# either bound the exact value would not fit the read model's text of it.
MAX_SET_VALUE = 10**15
SET_VALUE_DECIMALS = 6


def _set_value(v: Violations, field: str, raw: float) -> Fraction:
    """A value HQ sets, exactly; a violation (and 0) when out of bounds or too precise."""
    if not math.isfinite(raw) or abs(raw) > MAX_SET_VALUE:
        v.add(field, f"must be a number from -{MAX_SET_VALUE:.0e} to {MAX_SET_VALUE:.0e}")
        return Fraction(0)
    value = decimal_fraction(raw)
    if (value * 10**SET_VALUE_DECIMALS).denominator != 1:
        v.add(field, f"must have at most {SET_VALUE_DECIMALS} decimal places")
    return value


def set_target(r: pb.SetTargetRequest, at: datetime) -> SetTarget:
    v = Violations()
    validation.request_id(v, "request_id", r.request_id)
    validation.store_code(v, "store_id", r.store_id)
    _indicator(v, "indicator", r.indicator)
    if not r.HasField("period"):
        v.add("period", "is required")
    target_period = period(v, "period", r.period) if r.HasField("period") else None
    if target_period is not None and not MIN_YEAR <= target_period.start.year <= MAX_YEAR:
        v.add("period.start", f"must be in the years {MIN_YEAR} to {MAX_YEAR}")
    value = _set_value(v, "value", r.value)
    v.raise_if_any()
    assert target_period is not None
    return SetTarget(
        store_id=r.store_id,
        indicator=r.indicator,
        period=target_period,
        value=value,
        store_known=True,
        at=at,
    )


def set_yearly_target(r: pb.SetYearlyTargetRequest, at: datetime) -> SetYearlyTarget:
    v = Violations()
    validation.request_id(v, "request_id", r.request_id)
    validation.store_code(v, "store_id", r.store_id)
    _indicator(v, "indicator", r.indicator)
    if not MIN_YEAR <= r.year <= MAX_YEAR:
        v.add("year", f"must be from {MIN_YEAR} to {MAX_YEAR}")
    if not 0 <= r.total <= MAX_SET_VALUE:
        v.add("total", f"must be from 0 to {MAX_SET_VALUE:.0e}")
    weights: tuple[Fraction, ...] = ()
    if r.weights:
        if len(r.weights) != 12:
            v.add("weights", "must be 12 weights, January first (or none for the default)")
        elif any(w < 0 for w in r.weights) or sum(r.weights) <= 0:
            v.add("weights", "must be non-negative and not all zero")
        else:
            weights = tuple(_set_value(v, "weights", w) for w in r.weights)
        if r.spring_festival_month or r.spring_festival_dip:
            v.add("spring_festival_month", "applies only when weights is empty")
    else:
        dip = decimal_fraction(r.spring_festival_dip) if r.spring_festival_dip else None
        if not 1 <= r.spring_festival_month <= 12:
            v.add("spring_festival_month", "must be from 1 to 12 when weights is empty")
        if dip is not None and not MIN_SPRING_FESTIVAL_DIP <= dip <= MAX_SPRING_FESTIVAL_DIP:
            v.add("spring_festival_dip", "must be from 0.10 to 0.15 (0: 0.13)")
        if not v.items:
            weights = seasonality_weights(r.spring_festival_month, dip or SPRING_FESTIVAL_DIP)
    v.raise_if_any()
    return SetYearlyTarget(
        store_id=r.store_id,
        indicator=r.indicator,
        year=r.year,
        total=r.total,
        weights=weights,
        store_known=True,
        at=at,
    )


def list_targets(r: pb.ListTargetsRequest) -> None:
    v = Violations()
    if r.store_id:
        validation.store_code(v, "store_id", r.store_id)
    if r.indicator:
        _indicator(v, "indicator", r.indicator)
    if not MIN_YEAR <= r.year <= MAX_YEAR:
        v.add("year", f"is required: from {MIN_YEAR} to {MAX_YEAR}")
    v.raise_if_any()


def set_alarm_line(r: pb.SetAlarmLineRequest, at: datetime) -> SetAlarmLine:
    v = Violations()
    validation.request_id(v, "request_id", r.request_id)
    found = _indicator(v, "indicator", r.indicator)
    if found is not None and found.unit != indicators.Unit.RATIO:
        v.add("indicator", "alarm lines are set on ratios")
    line = Fraction(0)
    if not 0 <= r.line <= 1:
        v.add("line", "must be a share from 0 to 1")
    else:
        line = _set_value(v, "line", r.line)
    v.raise_if_any()
    return SetAlarmLine(indicator=r.indicator, line=line, at=at)


def category(r: pb.ListIndicatorsRequest) -> indicators.Category | None:
    v = Violations()
    found = validation.enum_member(v, "category", r.category, indicators.Category, required=False)
    v.raise_if_any()
    return found


_LEVELS = {
    pb.SCOPE_LEVEL_STORE: Level.STORE,
    pb.SCOPE_LEVEL_REGION: Level.REGION,
    pb.SCOPE_LEVEL_NETWORK: Level.NETWORK,
}
KPI_KINDS = frozenset({PeriodKind.DAY, PeriodKind.WEEK, PeriodKind.MONTH})


def scope(v: Violations, r: pb.Scope) -> Scope | None:
    level = validation.enum_choice(v, "scope.level", r.level, _LEVELS, pb.ScopeLevel.Name)
    if level is None:
        return None
    if level == Level.STORE:
        validation.store_code(v, "scope.id", r.id)
    elif level == Level.REGION:
        validation.text(v, "scope.id", r.id)
    elif r.id:
        v.add("scope.id", "must be empty for the network")
    return Scope(level, r.id)


def as_of(v: Violations, raw: str, today: date) -> date:
    return validation.day(v, "as_of", raw, required=False) or today


def as_of_up_to_today(v: Violations, raw: str, today: date) -> date:
    """`as_of` of what is recorded by a day: a day still to come reads as today, nothing
    is recorded after it yet (as every report's as_of, a plausible date is not refused)."""
    return min(as_of(v, raw, today), today)


def kpis_request(r: pb.GetKpisRequest, today: date) -> tuple[Scope, Period, date]:
    v = Violations()
    found = scope(v, r.scope)
    asked = period(v, "period", r.period, KPI_KINDS)
    on = as_of(v, r.as_of, today)
    v.raise_if_any()
    assert found is not None and asked is not None
    return found, asked, on


def ranking_month(r: pb.GetContributionRankingRequest, today: date) -> tuple[Period | None, date]:
    """The month asked (None: the last published one) and as_of."""
    v = Violations()
    found = None
    if r.month.kind or r.month.start:
        found = period(v, "month", r.month, frozenset({PeriodKind.MONTH}))
    if r.region:
        validation.text(v, "region", r.region)
    on = as_of_up_to_today(v, r.as_of, today)
    v.raise_if_any()
    return found, on


def champions_period(r: pb.GetSupportChampionsRequest, today: date) -> tuple[Period, date]:
    v = Violations()
    found = period(v, "period", r.period, frozenset({PeriodKind.QUARTER, PeriodKind.YEAR}))
    on = as_of_up_to_today(v, r.as_of, today)
    v.raise_if_any()
    assert found is not None
    return found, on


def warnings_request(r: pb.ListWarningsRequest, today: date) -> tuple[Scope, Light, date]:
    v = Violations()
    found = scope(v, r.scope)
    level = validation.enum_member(v, "min_level", r.min_level, Light, required=False)
    if r.indicator:
        _indicator(v, "indicator", r.indicator)
    on = as_of(v, r.as_of, today)
    v.raise_if_any()
    assert found is not None
    return found, max(level or Light.YELLOW, Light.YELLOW), on


def dashboard_request(r: pb.GetDashboardRequest, today: date) -> tuple[Scope, date, int]:
    v = Violations()
    found = scope(v, r.scope)
    on = as_of(v, r.as_of, today)
    if not 0 <= r.risk_limit <= MAX_RISKS:
        v.add("risk_limit", f"must be from 0 (the default, {DEFAULT_RISKS}) to {MAX_RISKS}")
    v.raise_if_any()
    assert found is not None
    return found, on, r.risk_limit or DEFAULT_RISKS


DEFAULT_RISKS, MAX_RISKS = 20, 200


_FACETS = {
    pb.PEER_FACET_SIZE: PeerFacet.SIZE,
    pb.PEER_FACET_LOCATION_TIER: PeerFacet.LOCATION_TIER,
    pb.PEER_FACET_AGE: PeerFacet.AGE,
    pb.PEER_FACET_CUSTOMER_SEGMENT: PeerFacet.CUSTOMER_SEGMENT,
}


def comparison_request(r: Any, today: date) -> tuple[str, str, Period, date, list[PeerFacet]]:
    """store_id, indicator, period (a day, week or month), as_of and the peer group's facets
    (empty: all four) of a comparison."""
    v = Violations()
    validation.store_code(v, "store_id", r.store_id)
    _indicator(v, "indicator", r.indicator)
    asked = period(v, "period", r.period, KPI_KINDS)
    on = as_of(v, r.as_of, today)
    facets = validation.enum_choices(v, "facets", r.facets, _FACETS, pb.PeerFacet.Name)
    v.raise_if_any()
    assert asked is not None
    return r.store_id, r.indicator, asked, on, facets


MAX_MONTHS, DEFAULT_MONTHS = 36, 12


def vertical_request(
    r: pb.GetVerticalComparisonRequest, today: date
) -> tuple[str, str, Period, int, date]:
    v = Violations()
    validation.store_code(v, "store_id", r.store_id)
    _indicator(v, "indicator", r.indicator)
    through = period(v, "through_month", r.through_month, frozenset({PeriodKind.MONTH}))
    if not 0 <= r.months <= MAX_MONTHS:
        v.add("months", f"must be from 0 (the default, {DEFAULT_MONTHS}) to {MAX_MONTHS}")
    on = as_of(v, r.as_of, today)
    v.raise_if_any()
    assert through is not None
    return r.store_id, r.indicator, through, r.months or DEFAULT_MONTHS, on


def diagnosis_request(r: pb.GetDiagnosisRequest, today: date) -> tuple[str, Period, date]:
    v = Violations()
    validation.store_code(v, "store_id", r.store_id)
    month = period(v, "month", r.month, frozenset({PeriodKind.MONTH}))
    on = as_of_up_to_today(v, r.as_of, today)
    v.raise_if_any()
    assert month is not None
    return r.store_id, month, on


MAX_LIFETIME_VALUE_FEN = 10**12


def weekly_request(
    r: pb.GetWeeklyCollaborationReportRequest, today: date
) -> tuple[Period, int | None, date]:
    """The week, the customer lifetime value (None: HQ's for the week) and as_of of a
    weekly report."""
    v = Violations()
    if r.region:
        validation.text(v, "region", r.region)
    on = validation.day(v, "week_of", r.week_of, required=False)
    if not 0 <= r.customer_lifetime_value_fen <= MAX_LIFETIME_VALUE_FEN:
        v.add(
            "customer_lifetime_value_fen",
            f"must be from 0 (the default) to {MAX_LIFETIME_VALUE_FEN}",
        )
    upto = as_of_up_to_today(v, r.as_of, today)
    v.raise_if_any()
    week = Period.week_of(on if on is not None else today - timedelta(days=7))
    return week, r.customer_lifetime_value_fen or None, upto


def structure_request(r: pb.GetStructureComparisonRequest, today: date) -> tuple[str, Period, date]:
    v = Violations()
    validation.store_code(v, "store_id", r.store_id)
    found = period(v, "period", r.period, KPI_KINDS)
    on = as_of(v, r.as_of, today)
    v.raise_if_any()
    assert found is not None
    return r.store_id, found, on
