"""The operating figures a store's DMS reports for a day or a month, and their validation."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from fractions import Fraction

from kernel.errors import Violations
from services.analytics.domain import indicators

MAX_FEN = 10**15  # 10 trillion CNY: far beyond any store, small enough for exact doubles


class Role(IntEnum):
    TECHNICIAN = 1
    SERVICE_ADVISOR = 2
    MANAGER = 3
    OTHER = 4


KEY_ROLES = frozenset({Role.TECHNICIAN, Role.SERVICE_ADVISOR})


@dataclass(frozen=True, slots=True, kw_only=True)
class RevenueByLine:
    labour_fen: int = 0
    parts_fen: int = 0
    value_added_fen: int = 0
    accessories_fen: int = 0
    insurance_renewals_fen: int = 0

    @property
    def total_fen(self) -> int:
        return (
            self.labour_fen
            + self.parts_fen
            + self.value_added_fen
            + self.accessories_fen
            + self.insurance_renewals_fen
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Costs:
    people_fen: int = 0
    rent_fen: int = 0
    parts_fen: int = 0
    other_fen: int = 0

    @property
    def total_fen(self) -> int:
        return self.people_fen + self.rent_fen + self.parts_fen + self.other_fen


@dataclass(frozen=True, slots=True, kw_only=True)
class Staffing:
    role: Role
    headcount: int
    leavers: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class IndicatorFigure:
    """A figure the DMS knows and the other services do not (training completion, waits)."""

    indicator: str
    value: Fraction


@dataclass(frozen=True, slots=True, kw_only=True)
class OperatingFigures:
    revenue: RevenueByLine = RevenueByLine()
    costs: Costs = Costs()
    staffing: tuple[Staffing, ...] = ()
    floor_area_m2: int = 0
    csi: Fraction | None = None
    nps: Fraction | None = None
    complaints: int = 0
    returning_customers: int = 0
    other_figures: tuple[IndicatorFigure, ...] = ()

    @property
    def headcount(self) -> int:
        return sum(s.headcount for s in self.staffing)

    @property
    def leavers(self) -> int:
        return sum(s.leavers for s in self.staffing)

    def headcount_of(self, role: Role) -> int:
        return sum(s.headcount for s in self.staffing if s.role == role)


def check_figures(v: Violations, figures: OperatingFigures, prefix: str = "figures") -> None:
    """Every fault at once: negative money or counts, scores off their scale, unknown codes."""
    for name in (
        "labour_fen",
        "parts_fen",
        "value_added_fen",
        "accessories_fen",
        "insurance_renewals_fen",
    ):
        _money(v, f"{prefix}.revenue.{name}", getattr(figures.revenue, name))
    for name in ("people_fen", "rent_fen", "parts_fen", "other_fen"):
        _money(v, f"{prefix}.costs.{name}", getattr(figures.costs, name))
    roles: set[Role] = set()
    for n, staffing in enumerate(figures.staffing):
        field = f"{prefix}.staffing[{n}]"
        if staffing.role in roles:
            v.add(f"{field}.role", "is listed twice")
        roles.add(staffing.role)
        _count(v, f"{field}.headcount", staffing.headcount)
        _count(v, f"{field}.leavers", staffing.leavers)
    _count(v, f"{prefix}.floor_area_m2", figures.floor_area_m2)
    _count(v, f"{prefix}.complaints", figures.complaints)
    _count(v, f"{prefix}.returning_customers", figures.returning_customers)
    if figures.csi is not None and not 0 <= figures.csi <= 100:
        v.add(f"{prefix}.csi", "must be from 0 to 100")
    if figures.nps is not None and not -100 <= figures.nps <= 100:
        v.add(f"{prefix}.nps", "must be from -100 to 100")
    codes: set[str] = set()
    for n, figure in enumerate(figures.other_figures):
        field = f"{prefix}.other_figures[{n}]"
        indicator = indicators.find(figure.indicator)
        if indicator is None:
            v.add(f"{field}.indicator", f"unknown indicator {figure.indicator!r}")
            continue
        if figure.indicator in codes:
            v.add(f"{field}.indicator", "is listed twice")
        codes.add(figure.indicator)
        if indicator.unit != indicators.Unit.SCORE and figure.value < 0:
            v.add(f"{field}.value", "must not be negative")
        if indicator.unit == indicators.Unit.FEN and figure.value.denominator != 1:
            v.add(f"{field}.value", "must be whole fen")


def _money(v: Violations, field: str, fen: int) -> None:
    if fen < 0:
        v.add(field, "must not be negative")
    elif fen > MAX_FEN:
        v.add(field, f"must be at most {MAX_FEN} fen")


def _count(v: Violations, field: str, value: int) -> None:
    if value < 0:
        v.add(field, "must not be negative")
