"""Store diagnosis (门店诊断): unit economics per vehicle and the ratios against their
standards, said in words as the field says them (domain.md's worked case is the test).

Figures stay exact (Fractions of fen); words round half up, as the field writes them.
"Loss per vehicle" is the field's figure: full cost per vehicle minus gross profit per
vehicle (2,188 - 1,271 = 917); parts cost sits in both, so the store's net result per
vehicle ((revenue - costs) / vehicles, -417 in the case) is given beside it, and it is
what decides whether "each vehicle loses" is said: by the field's arithmetic a store
with a profit can still show a "loss per vehicle".
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import IntEnum
from fractions import Fraction

from services.analytics.domain.indicators import round_half_up
from services.analytics.domain.operating_figures import Costs, RevenueByLine
from services.analytics.domain.warnings import DEFAULT_ALARM_LINES

PRODUCTIVITY_STANDARD = (Fraction(18, 10), Fraction(22, 10))
PRODUCTIVITY_EXCELLENT = (Fraction(25, 10), Fraction(3))
PEOPLE_COST_HEALTHY = (Fraction(35, 100), Fraction(40, 100))
# The field's alarm lines, as the warnings hold them; HQ may move them (StoreMonth).
_DEFAULT_LINES = {a.indicator: a.line for a in DEFAULT_ALARM_LINES}
PEOPLE_COST_ALARM = _DEFAULT_LINES["people_cost_ratio"]
RENT_HEALTHY = (Fraction(12, 100), Fraction(18, 100))
RENT_ALARM = _DEFAULT_LINES["rent_ratio"]
REVENUE_PER_EMPLOYEE_PASS_FEN = 60_000_00
REVENUE_PER_EMPLOYEE_EXCELLENT_FEN = (80_000_00, 100_000_00)
QUOTE_ABANDONMENT_STANDARD = Fraction(15, 100)
# Our reading of "looks normal": bays busy enough that idle bays are not the problem.
BAY_UTILISATION_NORMAL = (Fraction(70, 100), Fraction(90, 100))


class Verdict(IntEnum):
    BELOW_STANDARD = 1
    STANDARD = 2
    EXCELLENT = 3
    HEALTHY = 4
    ABOVE_HEALTHY = 5
    ALARM = 6
    NORMAL = 7
    BELOW_NORMAL = 8
    ABOVE_NORMAL = 9


class FindingCode(IntEnum):
    TECHNICIANS_EXCEED_BAYS = 1
    EACH_VEHICLE_LOSES = 2
    COSTS_PAST_ALARM_LINES = 3
    REVENUE_PER_EMPLOYEE_BELOW_PASS = 4
    QUOTES_ABANDONED = 5


@dataclass(frozen=True, slots=True, kw_only=True)
class StoreMonth:
    """What the diagnosis needs of one store's month."""

    bays: int
    technicians: int
    employees: int
    open_hours_per_day: Fraction
    availability_factor: Fraction
    days: int
    vehicles: int
    hours_per_vehicle: Fraction  # actual bay hours a vehicle takes
    revenue: RevenueByLine
    costs: Costs
    quotes: int
    quotes_abandoned: int
    # The alarm lines in force (HQ's SetAlarmLine), the field's by default.
    people_cost_alarm: Fraction = PEOPLE_COST_ALARM
    rent_alarm: Fraction = RENT_ALARM


@dataclass(frozen=True, slots=True, kw_only=True)
class Ratio:
    value: Fraction
    verdict: Verdict
    # The alarm line the value was held against, where it has one.
    line: Fraction | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Finding:
    code: FindingCode
    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Diagnosis:
    vehicles_per_day: Fraction
    revenue_per_vehicle_fen: Fraction
    parts_cost_per_vehicle_fen: Fraction
    gross_profit_per_vehicle_fen: Fraction
    full_cost_per_vehicle_fen: Fraction
    loss_per_vehicle_fen: Fraction
    net_result_per_vehicle_fen: Fraction
    bay_utilisation: Ratio
    technician_productivity: Ratio
    people_cost_ratio: Ratio
    rent_ratio: Ratio
    revenue_per_employee_fen: Ratio
    quote_abandonment: Ratio | None
    findings: tuple[Finding, ...]


def diagnosis_gaps(store: StoreMonth) -> tuple[str, ...]:
    """What the month lacks for a diagnosis, in words (empty: it can be made): every
    figure of it divides by vehicles, revenue, staff or bay hours."""
    gaps = (
        (store.vehicles <= 0, "no vehicles in counted (capacity's visits of the month)"),
        (store.revenue.total_fen <= 0, "no revenue in the operating report"),
        (store.technicians <= 0, "no technicians in the operating report"),
        (store.employees <= 0, "no staff in the operating report"),
        (store.bays <= 0, "no bays in the store's profile"),
        (store.open_hours_per_day <= 0, "no opening hours in the store's profile"),
        (store.availability_factor <= 0, "no bay availability in the store's profile"),
        (store.days <= 0, "no days in the period"),
    )
    return tuple(text for missing, text in gaps if missing)


def diagnose(store: StoreMonth) -> Diagnosis | None:
    """None for a month without vehicles, revenue, staff or open bays: nothing to divide by."""
    if diagnosis_gaps(store):
        return None
    revenue = store.revenue.total_fen
    per_vehicle = Fraction(1, store.vehicles)
    gross_profit = (revenue - store.costs.parts_fen) * per_vehicle
    full_cost = store.costs.total_fen * per_vehicle
    vehicles_per_day = Fraction(store.vehicles, store.days)
    bay_utilisation = (vehicles_per_day * store.hours_per_vehicle) / (
        store.bays * store.open_hours_per_day * store.availability_factor
    )
    productivity = vehicles_per_day / store.technicians
    abandonment = Fraction(store.quotes_abandoned, store.quotes) if store.quotes > 0 else None
    diagnosis = Diagnosis(
        vehicles_per_day=vehicles_per_day,
        revenue_per_vehicle_fen=revenue * per_vehicle,
        parts_cost_per_vehicle_fen=store.costs.parts_fen * per_vehicle,
        gross_profit_per_vehicle_fen=gross_profit,
        full_cost_per_vehicle_fen=full_cost,
        loss_per_vehicle_fen=full_cost - gross_profit,
        net_result_per_vehicle_fen=(revenue - store.costs.total_fen) * per_vehicle,
        bay_utilisation=Ratio(value=bay_utilisation, verdict=_band(bay_utilisation)),
        technician_productivity=Ratio(value=productivity, verdict=_productivity(productivity)),
        people_cost_ratio=_cost_ratio(
            Fraction(store.costs.people_fen, revenue), PEOPLE_COST_HEALTHY, store.people_cost_alarm
        ),
        rent_ratio=_cost_ratio(
            Fraction(store.costs.rent_fen, revenue), RENT_HEALTHY, store.rent_alarm
        ),
        revenue_per_employee_fen=_revenue_per_employee(Fraction(revenue, store.employees)),
        quote_abandonment=None
        if abandonment is None
        else Ratio(
            value=abandonment,
            verdict=Verdict.BELOW_STANDARD
            if abandonment > QUOTE_ABANDONMENT_STANDARD
            else Verdict.STANDARD,
        ),
        findings=(),
    )
    return replace(diagnosis, findings=findings(diagnosis))


def findings(d: Diagnosis) -> tuple[Finding, ...]:
    said: list[Finding] = []
    if (
        d.bay_utilisation.verdict != Verdict.BELOW_NORMAL
        and d.technician_productivity.verdict == Verdict.BELOW_STANDARD
    ):
        said.append(
            Finding(
                code=FindingCode.TECHNICIANS_EXCEED_BAYS,
                text=f"Bay utilisation looks normal ({_percent(d.bay_utilisation.value, 0)}) "
                "while technician productivity is far below standard "
                f"({round_half_up(d.technician_productivity.value, 2)} vehicles a day against "
                "1.8-2.2): the store has more technicians than its bays can use.",
            )
        )
    # Said when the store really loses money per vehicle; the figure is the field's.
    if d.net_result_per_vehicle_fen < 0:
        said.append(
            Finding(
                code=FindingCode.EACH_VEHICLE_LOSES,
                text=f"Each vehicle loses {_yuan(d.loss_per_vehicle_fen)} CNY: "
                "more customers alone would only lose more.",
            )
        )
    past = [
        (name, ratio.value, ratio.line)
        for name, ratio in (
            ("people cost ratio", d.people_cost_ratio),
            ("rent ratio", d.rent_ratio),
        )
        if ratio.verdict == Verdict.ALARM and ratio.line is not None
    ]
    if past:
        figures = " and ".join(f"{name} {_percent(value, 1)}" for name, value, _ in past)
        lines = ", ".join(_percent(line, 0) for _, _, line in past)
        both = "both past their alarm lines" if len(past) > 1 else "past its alarm line"
        said.append(
            Finding(
                code=FindingCode.COSTS_PAST_ALARM_LINES,
                text=f"{figures[0].upper()}{figures[1:]}: {both} ({lines}).",
            )
        )
    if d.revenue_per_employee_fen.verdict == Verdict.BELOW_STANDARD:
        said.append(
            Finding(
                code=FindingCode.REVENUE_PER_EMPLOYEE_BELOW_PASS,
                text=f"Revenue per employee {_thousands(d.revenue_per_employee_fen.value)}k a "
                "month is below the pass line of 60k.",
            )
        )
    if d.quote_abandonment is not None and d.quote_abandonment.verdict == Verdict.BELOW_STANDARD:
        said.append(
            Finding(
                code=FindingCode.QUOTES_ABANDONED,
                text=f"{_percent(d.quote_abandonment.value, 0)} of customers leave after a "
                "quote (industry standard 15%).",
            )
        )
    return tuple(said)


def _band(utilisation: Fraction) -> Verdict:
    low, high = BAY_UTILISATION_NORMAL
    if utilisation < low:
        return Verdict.BELOW_NORMAL
    return Verdict.NORMAL if utilisation <= high else Verdict.ABOVE_NORMAL


def _productivity(value: Fraction) -> Verdict:
    if value >= PRODUCTIVITY_EXCELLENT[0]:
        return Verdict.EXCELLENT
    return Verdict.STANDARD if value >= PRODUCTIVITY_STANDARD[0] else Verdict.BELOW_STANDARD


def _cost_ratio(value: Fraction, healthy: tuple[Fraction, Fraction], alarm: Fraction) -> Ratio:
    if value > alarm:
        return Ratio(value=value, verdict=Verdict.ALARM, line=alarm)
    verdict = Verdict.HEALTHY if value <= healthy[1] else Verdict.ABOVE_HEALTHY
    return Ratio(value=value, verdict=verdict, line=alarm)


def _revenue_per_employee(fen: Fraction) -> Ratio:
    if fen >= REVENUE_PER_EMPLOYEE_EXCELLENT_FEN[0]:
        return Ratio(value=fen, verdict=Verdict.EXCELLENT)
    if fen >= REVENUE_PER_EMPLOYEE_PASS_FEN:
        return Ratio(value=fen, verdict=Verdict.STANDARD)
    return Ratio(value=fen, verdict=Verdict.BELOW_STANDARD)


def _percent(share: Fraction, places: int) -> str:
    return f"{round_half_up(share * 100, places)}%"


def _yuan(fen: Fraction) -> str:
    return f"{round_half_up(fen / 100):,}"


def _thousands(fen: Fraction) -> str:
    return f"{round_half_up(fen / 100_000)}"
