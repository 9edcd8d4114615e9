"""KPI from a store's projected facts: given the counters, then the indicators they allow."""

from __future__ import annotations

from datetime import date, timedelta
from fractions import Fraction

from services.analytics.domain.kpis import (
    Facts,
    StoreShape,
    indicator_values,
    percentile,
    total,
    weekday_counts,
)
from services.analytics.domain.operating_figures import (
    Costs,
    OperatingFigures,
    RevenueByLine,
    Role,
    Staffing,
)

MONDAY, SUNDAY = date(2026, 11, 2), date(2026, 11, 8)
SHAPE = StoreShape(
    bays=8,
    default_daily_capacity=30,
    availability_factor=Fraction(85, 100),
    open_hours=(Fraction(19, 2),) * 6 + (Fraction(0),),
)


def test_fill_rates_count_a_shortage_covered_by_a_transfer_in_sla_for_the_network() -> None:
    facts = Facts(part_issues=8, shortages=2, transfers_in_sla=1, transfers_received=1)
    values = indicator_values(facts)
    assert values["parts_fill_rate"] == Fraction(8, 10)
    assert values["network_fill_rate"] == Fraction(9, 10)


def test_a_transfer_in_sla_never_covers_more_than_the_shortages() -> None:
    values = indicator_values(Facts(part_issues=5, shortages=0, transfers_in_sla=3))
    assert values["network_fill_rate"] == 1


def test_an_indicator_without_a_denominator_is_left_out() -> None:
    values = indicator_values(Facts())
    assert "parts_fill_rate" not in values and "csi" not in values
    assert values["vehicles_in"] == 0 and values["transfers"] == 0


def test_utilisations_and_visit_figures() -> None:
    facts = Facts(
        vehicles_in=16,
        visits_completed=16,
        labour_hours=Fraction(512, 10),
        labour_revenue_fen=800_000,
        parts_revenue_fen=400_000,
        satisfaction_sum=180,
        satisfaction_count=2,
        complaints=1,
        booked=32,
        capacity=30,
        bay_hours=SHAPE.bay_hours_on(MONDAY),
        productive_hours=Fraction(60),
        available_hours=Fraction(80),
        diversions_offered=4,
        diversions_accepted=3,
        transfers_received=2,
        transfer_response_seconds=2 * 45 * 60,
    )
    values = indicator_values(facts)
    # domain.md's diagnosis: 16 vehicles x 3.2 h / (8 bays x 9.5 h x 0.85) = 79%
    assert round(float(values["bay_utilisation"]), 2) == 0.79
    assert values["capacity_utilisation"] == Fraction(32, 30)
    assert values["technician_utilisation"] == Fraction(3, 4)
    assert values["average_ticket"] == 75_000
    assert values["csi"] == 90 and values["complaint_rate"] == Fraction(1, 16)
    assert values["diversion_acceptance_rate"] == Fraction(3, 4)
    assert values["transfer_response_time"] == 45


def test_a_months_report_adds_what_only_the_dms_knows() -> None:
    report = OperatingFigures(
        revenue=RevenueByLine(
            labour_fen=42_000_000, parts_fen=35_000_000, value_added_fen=8_000_000
        ),
        costs=Costs(
            people_fen=48_000_000, rent_fen=22_000_000, parts_fen=24_000_000, other_fen=11_000_000
        ),
        staffing=(
            Staffing(role=Role.TECHNICIAN, headcount=12, leavers=1),
            Staffing(role=Role.SERVICE_ADVISOR, headcount=5),
            Staffing(role=Role.MANAGER, headcount=1),
        ),
        csi=Fraction(88),
        returning_customers=300,
    )
    values = indicator_values(Facts(vehicles_in=480), report)
    assert values["revenue"] == 85_000_000
    assert round(float(values["people_cost_ratio"]), 3) == 0.565
    assert round(float(values["rent_ratio"]), 3) == 0.259
    assert values["revenue_per_employee"] == Fraction(85_000_000, 18)
    assert values["csi"] == 88  # no visit scores: the report's
    assert values["returning_rate"] == Fraction(300, 480)
    assert values["key_role_turnover"] == Fraction(1, 17)


def test_capacity_of_a_day_is_its_override_else_the_default_on_open_days() -> None:
    assert SHAPE.capacity_on(MONDAY, None) == 30
    assert SHAPE.capacity_on(SUNDAY, None) == 0
    assert SHAPE.capacity_on(SUNDAY, 12) == 12
    assert SHAPE.bay_hours_on(SUNDAY) == 0


def test_weekday_counts_of_november_2026() -> None:
    # 1 November 2026 is a Sunday: five Sundays and Mondays, four of the rest.
    assert weekday_counts(date(2026, 11, 1), date(2026, 12, 1)) == (5, 4, 4, 4, 4, 4, 5)
    assert weekday_counts(MONDAY, MONDAY + timedelta(days=1)) == (1, 0, 0, 0, 0, 0, 0)
    assert weekday_counts(MONDAY, MONDAY) == (0,) * 7
    assert weekday_counts(MONDAY, SUNDAY) == (1, 1, 1, 1, 1, 1, 0)


def test_capacity_and_bay_hours_over_weekdays_equal_the_day_by_day_sums() -> None:
    uneven = StoreShape(
        bays=5,
        default_daily_capacity=17,
        availability_factor=Fraction(7, 10),
        open_hours=(
            Fraction(28, 3),
            Fraction(0),
            Fraction(19, 2),
            *(Fraction(8),) * 3,
            Fraction(6),
        ),
    )
    for shape in (SHAPE, uneven):
        for start, length in ((date(2026, 11, 1), 30), (date(2026, 2, 11), 17), (MONDAY, 1)):
            days = [start + timedelta(days=n) for n in range(length)]
            counts = weekday_counts(start, start + timedelta(days=length))
            assert shape.capacity_over(counts) == sum(shape.capacity_on(d, None) for d in days)
            assert shape.bay_hours_over(counts) == sum(shape.bay_hours_on(d) for d in days)
    assert SHAPE.capacity_over(weekday_counts(MONDAY, SUNDAY + timedelta(days=1))) == 6 * 30
    assert SHAPE.bay_hours_over((1,) * 7) == 8 * 6 * Fraction(19, 2) * Fraction(85, 100)


def test_p90_is_the_nearest_rank() -> None:
    minutes = [Fraction(m) for m in (30, 10, 20, 40, 50, 60, 70, 80, 90, 100)]
    assert percentile(minutes, Fraction(9, 10)) == 90
    assert percentile([], Fraction(9, 10)) is None


def test_facts_add_up_over_stores_and_days() -> None:
    summed = total([Facts(vehicles_in=2, labour_hours=Fraction(1, 2)), Facts(vehicles_in=3)])
    assert summed == Facts(vehicles_in=5, labour_hours=Fraction(1, 2))
