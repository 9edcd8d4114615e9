"""A region's or the network's KPI with the stores' DMS operating reports, and technician
productivity as domain.md's diagnosis defines it (480 vehicles / 12 technicians / 30 days)."""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

from services.analytics.domain.kpis import (
    Facts,
    combined,
    indicator_values,
    new_customers,
    revenue_by_line,
    scope_indicator_values,
    technician_productivity,
)
from services.analytics.domain.operating_figures import (
    Costs,
    IndicatorFigure,
    OperatingFigures,
    RevenueByLine,
    Role,
    Staffing,
)

# domain.md's diagnosed store: 850k revenue, 1,050k costs, 12 technicians, 480 vehicles.
DIAGNOSED = OperatingFigures(
    revenue=RevenueByLine(labour_fen=42_000_000, parts_fen=35_000_000, value_added_fen=8_000_000),
    costs=Costs(
        people_fen=48_000_000, rent_fen=22_000_000, parts_fen=24_000_000, other_fen=11_000_000
    ),
    staffing=(
        Staffing(role=Role.TECHNICIAN, headcount=12, leavers=1),
        Staffing(role=Role.SERVICE_ADVISOR, headcount=5),
        Staffing(role=Role.MANAGER, headcount=1),
    ),
    floor_area_m2=1_000,
    csi=Fraction(88),
    complaints=24,
    returning_customers=300,
)
# A healthier neighbour: 1,150k revenue, 750k costs, 8 technicians, 520 vehicles.
NEIGHBOUR = OperatingFigures(
    revenue=RevenueByLine(labour_fen=60_000_000, parts_fen=55_000_000),
    costs=Costs(
        people_fen=40_000_000, rent_fen=15_000_000, parts_fen=15_000_000, other_fen=5_000_000
    ),
    staffing=(
        Staffing(role=Role.TECHNICIAN, headcount=8),
        Staffing(role=Role.MANAGER, headcount=2),
    ),
    floor_area_m2=1_500,
    csi=Fraction(92),
    complaints=6,
    returning_customers=400,
)


def test_technician_productivity_is_domain_md_s_480_over_12_over_30() -> None:
    assert technician_productivity(480, 12, 30) == Fraction(4, 3)  # 1.33 vehicles a day
    assert technician_productivity(480, 0, 30) is None
    assert technician_productivity(480, 12, 0) is None


def test_a_store_month_with_its_report_has_technician_efficiency_over_the_days_so_far() -> None:
    values = indicator_values(Facts(vehicles_in=480), DIAGNOSED, days=30)
    assert values["technician_efficiency"] == Fraction(4, 3)
    assert "technician_efficiency" not in indicator_values(Facts(vehicles_in=480), DIAGNOSED)


def test_reports_combine_by_adding_money_and_staff_by_role_and_averaging_scores() -> None:
    both = combined([DIAGNOSED, NEIGHBOUR])
    assert both is not None
    assert both.revenue.total_fen == 200_000_000
    assert both.costs.total_fen == 180_000_000
    assert both.headcount_of(Role.TECHNICIAN) == 20
    assert both.headcount == 28 and both.leavers == 1
    assert (both.csi, both.complaints, both.returning_customers) == (90, 30, 700)
    assert both.floor_area_m2 == 2_500
    assert combined([]) is None


def test_a_region_s_ratios_are_ratios_of_the_reporting_stores_sums() -> None:
    per_store = {
        "SZ01": Facts(vehicles_in=480),
        "GZ01": Facts(vehicles_in=520),
        # No report this month: its 100 vehicles never meet the others' revenue.
        "DG01": Facts(vehicles_in=100, visits_completed=100, labour_revenue_fen=5_000_000),
    }
    values = scope_indicator_values(per_store, {"SZ01": DIAGNOSED, "GZ01": NEIGHBOUR}, days=30)
    assert values["cost_ratio"] == Fraction(180, 200)  # 90%: past the 75% alarm line
    assert values["people_cost_ratio"] == Fraction(88, 200)
    assert values["rent_ratio"] == Fraction(37, 200)
    assert values["net_margin"] == Fraction(20, 200)
    assert values["revenue_per_employee"] == Fraction(200_000_000, 28)
    assert values["average_ticket"] == Fraction(200_000_000, 1_000)
    assert values["returning_rate"] == Fraction(700, 1_000)
    assert values["complaint_rate"] == Fraction(30, 1_000)
    assert values["technician_efficiency"] == Fraction(1_000, 20 * 30)
    assert values["csi"] == 90
    # Revenue adds up as each store shows it: two reports and the third store's visits.
    assert values["revenue"] == 200_000_000 + 5_000_000
    assert values["vehicles_in"] == 1_100


def test_the_visits_own_csi_and_complaints_go_before_the_reports() -> None:
    per_store = {
        "SZ01": Facts(vehicles_in=480, satisfaction_sum=800, satisfaction_count=10, complaints=5),
        "GZ01": Facts(vehicles_in=520),
    }
    values = scope_indicator_values(per_store, {"SZ01": DIAGNOSED, "GZ01": NEIGHBOUR})
    assert values["csi"] == 80
    assert values["complaint_rate"] == Fraction(5, 1_000)


def test_without_reports_a_region_has_the_counters_indicators_only() -> None:
    values = scope_indicator_values({"SZ01": Facts(vehicles_in=10)}, {})
    assert values == indicator_values(Facts(vehicles_in=10))
    assert "cost_ratio" not in values


def test_revenue_by_line_takes_a_report_where_there_is_one_and_visits_elsewhere() -> None:
    per_store = {
        "SZ01": Facts(labour_revenue_fen=1, parts_revenue_fen=1),
        "DG01": Facts(labour_revenue_fen=700, parts_revenue_fen=300, other_revenue_fen=50),
    }
    lines = revenue_by_line(per_store, {"SZ01": DIAGNOSED})
    assert (lines.labour_fen, lines.parts_fen, lines.value_added_fen) == (
        42_000_700,
        35_000_300,
        8_000_050,
    )


def test_new_customers_are_the_reporting_stores_vehicles_less_their_returning() -> None:
    per_store = {"SZ01": Facts(vehicles_in=480), "DG01": Facts(vehicles_in=100)}
    assert new_customers(per_store, {"SZ01": DIAGNOSED}) == 180
    assert new_customers(per_store, {}) is None


def test_one_stores_reports_combined_keep_its_own_extra_figures() -> None:
    own = replace(
        DIAGNOSED,
        other_figures=(IndicatorFigure(indicator="training_completion", value=Fraction(9, 10)),),
    )
    alone = combined([own])
    assert alone is not None
    assert alone.other_figures == own.other_figures
    both = combined([own, NEIGHBOUR])
    assert both is not None and both.other_figures == ()  # not additive over stores
