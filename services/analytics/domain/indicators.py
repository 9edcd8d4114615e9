"""The indicator library (指标库): what each indicator means, its unit, category and direction."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from enum import IntEnum
from fractions import Fraction


class Category(IntEnum):
    FINANCE = 1
    CUSTOMERS = 2
    OPERATIONS = 3
    PEOPLE = 4


class Direction(IntEnum):
    HIGHER_IS_BETTER = 1
    LOWER_IS_BETTER = 2


class Unit(IntEnum):
    FEN = 1  # money, CNY fen
    RATIO = 2  # a share, 0.565 is 56.5%
    COUNT = 3
    SCORE = 4  # CSI 0-100, NPS -100..100
    MINUTES = 5
    FEN_PER_HOUR = 6
    FEN_PER_SQUARE_METRE = 7
    VEHICLES_PER_BAY_DAY = 8
    VEHICLES_PER_TECHNICIAN_DAY = 9


@dataclass(frozen=True, slots=True, kw_only=True)
class Indicator:
    code: str
    name: str
    definition: str
    unit: Unit
    category: Category
    direction: Direction
    # Summing the months gives the year (revenue, vehicles in): only these split a yearly target.
    additive: bool = False
    # Listed among domain.md's comparable indicators (门店对比).
    comparable: bool = True


def _i(
    code: str,
    name: str,
    definition: str,
    unit: Unit,
    category: Category,
    direction: Direction = Direction.HIGHER_IS_BETTER,
    *,
    additive: bool = False,
    comparable: bool = True,
) -> Indicator:
    return Indicator(
        code=code,
        name=name,
        definition=definition,
        unit=unit,
        category=category,
        direction=direction,
        additive=additive,
        comparable=comparable,
    )


F, C, OPS, P = Category.FINANCE, Category.CUSTOMERS, Category.OPERATIONS, Category.PEOPLE
LOWER = Direction.LOWER_IS_BETTER

LIBRARY: tuple[Indicator, ...] = (
    # finance
    _i(
        "revenue",
        "Revenue",
        "labour + parts + value-added + accessories + insurance renewals",
        Unit.FEN,
        F,
        additive=True,
    ),
    _i("gross_margin", "Gross margin", "(revenue - parts cost) / revenue", Unit.RATIO, F),
    _i("net_margin", "Net margin", "(revenue - all costs) / revenue", Unit.RATIO, F),
    _i("revenue_per_employee", "Revenue per employee", "monthly revenue / headcount", Unit.FEN, F),
    _i(
        "revenue_per_m2",
        "Revenue per m²",
        "monthly revenue / floor area",
        Unit.FEN_PER_SQUARE_METRE,
        F,
    ),
    _i("cost_ratio", "Cost ratio", "all costs / revenue", Unit.RATIO, F, LOWER, comparable=False),
    _i(
        "people_cost_ratio",
        "People cost ratio",
        "people cost / revenue",
        Unit.RATIO,
        F,
        LOWER,
        comparable=False,
    ),
    _i("rent_ratio", "Rent ratio", "rent / revenue", Unit.RATIO, F, LOWER, comparable=False),
    # customers
    _i(
        "vehicles_in",
        "Vehicles in (进店台次)",
        "vehicles that arrived",
        Unit.COUNT,
        C,
        additive=True,
    ),
    _i("new_customer_share", "New-customer share", "new customers / vehicles in", Unit.RATIO, C),
    _i("returning_rate", "Returning rate", "returning customers / vehicles in", Unit.RATIO, C),
    _i("average_ticket", "Average ticket (客单价)", "revenue / vehicles in", Unit.FEN, C),
    _i(
        "churn_rate",
        "Churn",
        "customers with no return in 3 months / customers",
        Unit.RATIO,
        C,
        LOWER,
    ),
    _i("csi", "CSI", "customer satisfaction index, 0-100", Unit.SCORE, C),
    _i("nps", "NPS", "promoters minus detractors, -100..100", Unit.SCORE, C),
    _i("complaint_rate", "Complaint rate", "complaints / vehicles in", Unit.RATIO, C, LOWER),
    _i(
        "quote_abandonment_rate",
        "Quote abandonment",
        "customers leaving after a quote / quotes",
        Unit.RATIO,
        C,
        LOWER,
        comparable=False,
    ),
    # operations
    _i(
        "bay_turnover",
        "Bay turnover",
        "vehicles per bay per open day",
        Unit.VEHICLES_PER_BAY_DAY,
        OPS,
    ),
    _i(
        "technician_efficiency",
        "Technician efficiency",
        "vehicles per technician per day (technician productivity)",
        Unit.VEHICLES_PER_TECHNICIAN_DAY,
        OPS,
    ),
    _i("labour_rate", "Labour rate", "labour revenue / labour hours sold", Unit.FEN_PER_HOUR, OPS),
    _i("parts_margin", "Parts margin", "(parts sales - parts cost) / parts sales", Unit.RATIO, OPS),
    _i("appointment_rate", "Appointment rate", "booked visits / vehicles in", Unit.RATIO, OPS),
    _i(
        "customer_waiting_time",
        "Customer waiting time",
        "average wait before service",
        Unit.MINUTES,
        OPS,
        LOWER,
    ),
    _i(
        "on_time_delivery_rate",
        "On-time delivery",
        "vehicles returned by the promised time / vehicles delivered",
        Unit.RATIO,
        OPS,
    ),
    _i(
        "parts_fill_rate",
        "Parts fill rate",
        "part requests served from own stock / requests",
        Unit.RATIO,
        OPS,
        comparable=False,
    ),
    _i(
        "network_fill_rate",
        "Network fill rate",
        "part requests served from own stock or by a transfer received within its SLA / requests",
        Unit.RATIO,
        OPS,
        comparable=False,
    ),
    _i(
        "technician_utilisation",
        "Technician utilisation",
        "hours worked on vehicles / hours on duty",
        Unit.RATIO,
        OPS,
        comparable=False,
    ),
    _i(
        "bay_utilisation",
        "Bay utilisation",
        "vehicles/day x hours per vehicle / (bays x open hours x availability factor)",
        Unit.RATIO,
        OPS,
        comparable=False,
    ),
    _i(
        "capacity_utilisation",
        "Capacity utilisation",
        "booked / daily capacity",
        Unit.RATIO,
        OPS,
        comparable=False,
    ),
    _i(
        "transfers",
        "Transfers",
        "parts transfers given",
        Unit.COUNT,
        OPS,
        additive=True,
        comparable=False,
    ),
    _i(
        "transfer_response_time",
        "Transfer response time",
        "minutes from request to receipt at the requesting store (SOP 1: within 2 h)",
        Unit.MINUTES,
        OPS,
        LOWER,
        comparable=False,
    ),
    _i(
        "supports",
        "Technician supports",
        "supports lent",
        Unit.COUNT,
        OPS,
        additive=True,
        comparable=False,
    ),
    _i(
        "diversions",
        "Diversions received",
        "customers taken from other stores",
        Unit.COUNT,
        OPS,
        additive=True,
        comparable=False,
    ),
    _i(
        "diversion_acceptance_rate",
        "Diversion acceptance",
        "customers who accepted / customers offered",
        Unit.RATIO,
        OPS,
        comparable=False,
    ),
    _i(
        "stale_stock_value",
        "Stale stock value (呆滞库存)",
        "value of stock without movement for 90 days (inventory's daily valuation)",
        Unit.FEN,
        OPS,
        LOWER,
        comparable=False,
    ),
    # people
    _i(
        "staff_turnover", "Staff turnover", "leavers in the month / headcount", Unit.RATIO, P, LOWER
    ),
    _i(
        "key_role_turnover",
        "Key-role turnover",
        "technician and service-advisor leavers / their headcount",
        Unit.RATIO,
        P,
        LOWER,
    ),
    _i("headcount_vs_plan", "Headcount vs plan", "headcount / planned headcount", Unit.RATIO, P),
    _i(
        "training_completion",
        "Training completion",
        "trainings completed / trainings due",
        Unit.RATIO,
        P,
    ),
)

BY_CODE: dict[str, Indicator] = {indicator.code: indicator for indicator in LIBRARY}


def find(code: str) -> Indicator | None:
    return BY_CODE.get(code)


def round_half_up(value: Fraction, places: int = 0) -> Decimal:
    """How the field writes a figure (2,187.5 is 2,188): half away from zero, never banker's."""
    exact = Decimal(value.numerator) / Decimal(value.denominator)
    return exact.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
