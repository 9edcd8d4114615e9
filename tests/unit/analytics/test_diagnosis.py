"""Store diagnosis: domain.md's worked case, figure by figure and in words."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from fractions import Fraction

from services.analytics.domain.diagnosis import (
    Diagnosis,
    FindingCode,
    StoreMonth,
    Verdict,
    diagnose,
    diagnosis_gaps,
)
from services.analytics.domain.indicators import round_half_up
from services.analytics.domain.operating_figures import Costs, RevenueByLine

WORKED_CASE = StoreMonth(
    bays=8,
    technicians=12,
    employees=12 + 5 + 1,  # technicians, service advisors, manager
    open_hours_per_day=Fraction(95, 10),
    availability_factor=Fraction(85, 100),
    days=30,
    vehicles=480,
    hours_per_vehicle=Fraction(32, 10),
    revenue=RevenueByLine(labour_fen=420_000_00, parts_fen=350_000_00, value_added_fen=80_000_00),
    costs=Costs(
        people_fen=480_000_00, rent_fen=220_000_00, parts_fen=240_000_00, other_fen=110_000_00
    ),
    quotes=100,
    quotes_abandoned=30,
)


def case() -> Diagnosis:
    diagnosis = diagnose(WORKED_CASE)
    assert diagnosis is not None
    return diagnosis


def yuan(fen: Fraction) -> Decimal:
    return round_half_up(fen / 100)


def test_the_worked_case_adds_up_to_a_loss_of_200k() -> None:
    assert WORKED_CASE.revenue.total_fen == 850_000_00
    assert WORKED_CASE.costs.total_fen == 1_050_000_00
    assert WORKED_CASE.vehicles / WORKED_CASE.days == 16


def test_per_vehicle_revenue_1771_parts_500_gross_profit_1271_full_cost_2188_loss_917() -> None:
    d = case()
    assert yuan(d.revenue_per_vehicle_fen) == 1771
    assert yuan(d.parts_cost_per_vehicle_fen) == 500
    assert yuan(d.gross_profit_per_vehicle_fen) == 1271
    assert d.full_cost_per_vehicle_fen == 2187_50  # exactly half a yuan: the field rounds up
    assert yuan(d.full_cost_per_vehicle_fen) == 2188
    assert yuan(d.loss_per_vehicle_fen) == 917


def test_the_net_result_per_vehicle_is_given_beside_the_field_figure() -> None:
    assert yuan(case().net_result_per_vehicle_fen) == -417


def test_bay_utilisation_is_16_x_3_2_over_8_x_9_5_x_0_85_which_is_79_percent() -> None:
    d = case()
    assert d.bay_utilisation.value == Fraction(16 * 32 * 100 * 10, 8 * 95 * 85 * 10)
    assert round_half_up(d.bay_utilisation.value * 100) == 79
    assert d.bay_utilisation.verdict == Verdict.NORMAL


def test_technician_productivity_1_33_is_below_the_1_8_standard() -> None:
    d = case()
    assert d.technician_productivity.value == Fraction(480, 12 * 30)
    assert round_half_up(d.technician_productivity.value, 2) == Decimal("1.33")
    assert d.technician_productivity.verdict == Verdict.BELOW_STANDARD


def test_people_cost_56_5_and_rent_25_9_percent_are_past_their_alarm_lines() -> None:
    d = case()
    assert round_half_up(d.people_cost_ratio.value * 100, 1) == Decimal("56.5")
    assert d.people_cost_ratio.verdict == Verdict.ALARM
    assert round_half_up(d.rent_ratio.value * 100, 1) == Decimal("25.9")
    assert d.rent_ratio.verdict == Verdict.ALARM


def test_revenue_per_employee_47k_is_below_the_60k_pass_line() -> None:
    d = case()
    assert round_half_up(d.revenue_per_employee_fen.value / 100_000) == 47
    assert d.revenue_per_employee_fen.verdict == Verdict.BELOW_STANDARD


def test_quote_abandonment_30_percent_is_worse_than_the_industry_15() -> None:
    d = case()
    assert d.quote_abandonment is not None
    assert d.quote_abandonment.value == Fraction(30, 100)
    assert d.quote_abandonment.verdict == Verdict.BELOW_STANDARD


def test_the_findings_are_said_in_words_as_the_field_says_them() -> None:
    said = {f.code: f.text for f in case().findings}
    assert said[FindingCode.TECHNICIANS_EXCEED_BAYS] == (
        "Bay utilisation looks normal (79%) while technician productivity is far below "
        "standard (1.33 vehicles a day against 1.8-2.2): the store has more technicians than "
        "its bays can use."
    )
    assert said[FindingCode.EACH_VEHICLE_LOSES] == (
        "Each vehicle loses 917 CNY: more customers alone would only lose more."
    )
    assert said[FindingCode.COSTS_PAST_ALARM_LINES] == (
        "People cost ratio 56.5% and rent ratio 25.9%: both past their alarm lines (45%, 20%)."
    )
    assert said[FindingCode.REVENUE_PER_EMPLOYEE_BELOW_PASS] == (
        "Revenue per employee 47k a month is below the pass line of 60k."
    )
    assert said[FindingCode.QUOTES_ABANDONED] == (
        "30% of customers leave after a quote (industry standard 15%)."
    )


def test_a_healthy_store_gets_no_findings() -> None:
    from dataclasses import replace

    healthy = replace(
        WORKED_CASE,
        technicians=8,
        employees=12,
        vehicles=600,
        hours_per_vehicle=Fraction(24, 10),
        revenue=RevenueByLine(labour_fen=600_000_00, parts_fen=400_000_00),
        costs=Costs(people_fen=380_000_00, rent_fen=150_000_00, parts_fen=250_000_00),
        quotes_abandoned=10,
    )
    d = diagnose(healthy)
    assert d is not None
    assert d.technician_productivity.verdict == Verdict.EXCELLENT
    assert d.people_cost_ratio.verdict == Verdict.HEALTHY
    assert d.rent_ratio.verdict == Verdict.HEALTHY
    assert d.revenue_per_employee_fen.verdict == Verdict.EXCELLENT
    assert d.findings == ()


def test_a_profitable_store_is_not_told_each_vehicle_loses() -> None:
    from dataclasses import replace

    profitable = replace(
        WORKED_CASE,
        revenue=RevenueByLine(labour_fen=600_000_00, parts_fen=400_000_00),
        costs=Costs(people_fen=380_000_00, rent_fen=150_000_00, parts_fen=250_000_00),
    )
    d = diagnose(profitable)
    assert d is not None
    assert d.net_result_per_vehicle_fen > 0
    assert d.loss_per_vehicle_fen > 0  # the field's arithmetic counts parts twice
    assert FindingCode.EACH_VEHICLE_LOSES not in {f.code for f in d.findings}


def test_a_month_without_vehicles_cannot_be_diagnosed() -> None:
    from dataclasses import replace

    assert diagnose(replace(WORKED_CASE, vehicles=0)) is None


def test_the_worked_case_lacks_nothing() -> None:
    assert diagnosis_gaps(WORKED_CASE) == ()


def test_a_month_without_vehicles_or_staff_says_what_it_lacks_and_is_not_diagnosed() -> None:
    lacking = replace(WORKED_CASE, vehicles=0, technicians=0)
    assert diagnosis_gaps(lacking) == (
        "no vehicles in counted (capacity's visits of the month)",
        "no technicians in the operating report",
    )
    assert diagnose(lacking) is None


def test_hq_moving_the_people_cost_line_to_60_percent_leaves_rent_alone_past_its_line() -> None:
    moved = diagnose(replace(WORKED_CASE, people_cost_alarm=Fraction(60, 100)))
    assert moved is not None
    assert moved.people_cost_ratio.verdict == Verdict.ABOVE_HEALTHY  # 56.5%: above 35-40%
    assert moved.people_cost_ratio.line == Fraction(60, 100)
    assert moved.rent_ratio.verdict == Verdict.ALARM
    (said,) = [f for f in moved.findings if f.code == FindingCode.COSTS_PAST_ALARM_LINES]
    assert said.text == "Rent ratio 25.9%: past its alarm line (20%)."


def test_hq_lowering_the_rent_line_to_25_percent_still_finds_25_9_past_it() -> None:
    moved = diagnose(replace(WORKED_CASE, rent_alarm=Fraction(25, 100)))
    assert moved is not None and moved.rent_ratio.verdict == Verdict.ALARM
    (said,) = [f for f in moved.findings if f.code == FindingCode.COSTS_PAST_ALARM_LINES]
    assert said.text.endswith("both past their alarm lines (45%, 25%).")
