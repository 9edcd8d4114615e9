"""domain.md's figures that analytics answers for, beyond the per-module tests: the
diagnosis case's month through the KPI and its alarm lines, the standards' exact bounds,
the field's diversion acceptance, the before/after of the South China brand against the
warning rules, and the pilot's widening (3, then 8, then 15 stores)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from fractions import Fraction

import pytest

from services.analytics.domain.diagnosis import Verdict, diagnose
from services.analytics.domain.indicators import BY_CODE
from services.analytics.domain.kpis import Facts, indicator_values
from services.analytics.domain.operating_figures import (
    Costs,
    OperatingFigures,
    RevenueByLine,
    Role,
    Staffing,
)
from services.analytics.domain.periods import Period
from services.analytics.domain.pilot import Participation, split
from services.analytics.domain.warnings import Light, Rule, alarm_warnings, target_warning

from .test_diagnosis import WORKED_CASE

NOVEMBER = Period.month(2026, 11)
P = Fraction

# The diagnosis case as its DMS reports the month (people 480k, rent 220k, parts 240k,
# other 110k against 850k of revenue; 12 technicians, 5 advisors, 1 manager).
CASE_REPORT = OperatingFigures(
    revenue=WORKED_CASE.revenue,
    costs=WORKED_CASE.costs,
    staffing=(
        Staffing(role=Role.TECHNICIAN, headcount=12),
        Staffing(role=Role.SERVICE_ADVISOR, headcount=5),
        Staffing(role=Role.MANAGER, headcount=1),
    ),
)


def test_the_diagnosis_case_month_crosses_the_cost_people_and_rent_alarm_lines() -> None:
    values = indicator_values(Facts(vehicles_in=480), CASE_REPORT, days=30)
    assert values["cost_ratio"] == P(1_050, 850)  # 123.5%, past 75%
    assert values["people_cost_ratio"] == P(480, 850)  # 56.5%, past 45%
    assert values["rent_ratio"] == P(220, 850)  # 25.9%, past 20%
    assert values["technician_efficiency"] == P(480, 12 * 30)  # 1.33 a day
    assert values["staff_turnover"] == 0
    found = alarm_warnings("SZ01", NOVEMBER, values)
    assert {(w.indicator, w.rule, w.level) for w in found} == {
        ("cost_ratio", Rule.ALARM_LINE, Light.RED),
        ("people_cost_ratio", Rule.ALARM_LINE, Light.RED),
        ("rent_ratio", Rule.ALARM_LINE, Light.RED),
    }


def test_staff_turnover_above_10_percent_a_month_is_an_alarm() -> None:
    def turnover(leavers: int) -> list[str]:
        report = replace(
            CASE_REPORT,
            costs=Costs(),
            staffing=(Staffing(role=Role.TECHNICIAN, headcount=20, leavers=leavers),),
        )
        values = indicator_values(Facts(vehicles_in=480), report, days=30)
        return [w.indicator for w in alarm_warnings("SZ01", NOVEMBER, values)]

    assert turnover(2) == []  # exactly 10%: on the line
    assert turnover(3) == ["staff_turnover"]  # 15%


@pytest.mark.parametrize(
    ("vehicles", "verdict"),
    [
        (647, Verdict.BELOW_STANDARD),  # 1.797 a day
        (648, Verdict.STANDARD),  # 1.8 = 648 / 12 / 30
        (899, Verdict.STANDARD),
        (900, Verdict.EXCELLENT),  # 2.5
    ],
)
def test_technician_productivity_standard_1_8_and_excellent_2_5(
    vehicles: int, verdict: Verdict
) -> None:
    d = diagnose(replace(WORKED_CASE, vehicles=vehicles))
    assert d is not None and d.technician_productivity.verdict == verdict


def _costs(people: int, rent: int) -> Costs:
    return Costs(people_fen=people, rent_fen=rent, parts_fen=240_000_00, other_fen=110_000_00)


@pytest.mark.parametrize(
    ("people_fen", "verdict"),
    [
        (340_000_00, Verdict.HEALTHY),  # 40%
        (382_500_00, Verdict.ABOVE_HEALTHY),  # exactly 45%: the alarm is above it
        (382_500_01, Verdict.ALARM),
    ],
)
def test_people_cost_healthy_to_40_alarm_above_45(people_fen: int, verdict: Verdict) -> None:
    d = diagnose(replace(WORKED_CASE, costs=_costs(people_fen, 100_000_00)))
    assert d is not None and d.people_cost_ratio.verdict == verdict


@pytest.mark.parametrize(
    ("rent_fen", "verdict"),
    [
        (153_000_00, Verdict.HEALTHY),  # 18%
        (170_000_00, Verdict.ABOVE_HEALTHY),  # exactly 20%
        (170_000_01, Verdict.ALARM),
    ],
)
def test_rent_healthy_to_18_alarm_above_20(rent_fen: int, verdict: Verdict) -> None:
    d = diagnose(replace(WORKED_CASE, costs=_costs(300_000_00, rent_fen)))
    assert d is not None and d.rent_ratio.verdict == verdict


@pytest.mark.parametrize(
    ("revenue_fen", "verdict"),
    [
        (1_079_999_99, Verdict.BELOW_STANDARD),  # 18 people: just under 60k each
        (1_080_000_00, Verdict.STANDARD),  # 60k: the pass line
        (1_440_000_00, Verdict.EXCELLENT),  # 80k
    ],
)
def test_revenue_per_employee_passes_at_60k_excellent_from_80k(
    revenue_fen: int, verdict: Verdict
) -> None:
    d = diagnose(replace(WORKED_CASE, revenue=RevenueByLine(labour_fen=revenue_fen)))
    assert d is not None and d.revenue_per_employee_fen.verdict == verdict


def test_quote_abandonment_at_the_industry_15_percent_is_standard() -> None:
    d = diagnose(replace(WORKED_CASE, quotes=100, quotes_abandoned=15))
    assert d is not None and d.quote_abandonment is not None
    assert d.quote_abandonment.verdict == Verdict.STANDARD


def test_92_percent_of_offered_customers_accepted_a_diversion() -> None:
    values = indicator_values(Facts(diversions_offered=100, diversions_accepted=92))
    assert values["diversion_acceptance_rate"] == P(92, 100)


def test_the_south_china_brand_before_collaboration_against_its_six_month_figures() -> None:
    """Complaints 35% and fill rate 82% before, 8% and 96% after; the 2-hour transfer
    response against the platform's 30 minutes. After, complaints are still past 5%."""

    def colour(code: str, actual: Fraction, target: Fraction) -> Light | None:
        found = target_warning("SZ01", BY_CODE[code], NOVEMBER, actual, target)
        return None if found is None else found.level

    assert colour("complaint_rate", P(35, 100), P(8, 100)) == Light.RED
    assert colour("parts_fill_rate", P(82, 100), P(96, 100)) == Light.YELLOW  # 14.6% short
    assert colour("technician_utilisation", P(58, 100), P(85, 100)) == Light.RED
    response = indicator_values(Facts(transfers_received=1, transfer_response_seconds=2 * 3600))
    assert response["transfer_response_time"] == 120
    assert colour("transfer_response_time", P(120), P(30)) == Light.RED
    after = alarm_warnings("SZ01", NOVEMBER, {"complaint_rate": P(8, 100)})
    assert [(w.indicator, w.reference) for w in after] == [("complaint_rate", P(5, 100))]


def test_the_pilot_widens_from_3_stores_to_8_then_15() -> None:
    stores = [f"S{n:02}" for n in range(1, 16)]
    months = (date(2026, 1, 1), date(2026, 2, 1), date(2026, 3, 1))
    joined = {
        store_id: Participation(
            store_id=store_id, joined_on=months[0 if n < 3 else 1 if n < 8 else 2]
        )
        for n, store_id in enumerate(stores)
    }
    sizes = [len(split(stores, joined, month).participants) for month in months]
    assert sizes == [3, 8, 15]
