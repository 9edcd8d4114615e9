"""KPI from the facts the other services' events leave, per store and day, summed over a
period: each indicator of the library the facts allow, and none whose denominator is 0.

A month with an operating report in force adds what only the DMS knows (revenue by line,
costs, staffing); a figure both give (CSI, complaints) is taken from the events first,
since they cover every day and every visit.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import date
from fractions import Fraction

from services.analytics.domain.operating_figures import (
    KEY_ROLES,
    Costs,
    OperatingFigures,
    RevenueByLine,
    Role,
    Staffing,
)

ZERO = Fraction(0)
SECONDS_PER_MINUTE = 60


@dataclass(frozen=True, slots=True, kw_only=True)
class Facts:
    """Counters of one store and day (or their sum over stores and days)."""

    # inventory: part requests served from own stock, and those short
    part_issues: int = 0
    shortages: int = 0
    # collab: transfers given (source) and received (requester), received within the SLA
    transfers_given: int = 0
    transfers_received: int = 0
    transfers_in_sla: int = 0
    transfer_response_seconds: int = 0
    # capacity: arrivals, visits completed and what they brought
    vehicles_in: int = 0
    visits_completed: int = 0
    labour_hours: Fraction = ZERO
    labour_revenue_fen: int = 0
    parts_revenue_fen: int = 0
    other_revenue_fen: int = 0
    satisfaction_sum: int = 0
    satisfaction_count: int = 0
    complaints: int = 0
    quotes_abandoned: int = 0
    booked: int = 0
    # vehicles in with a customer reference: first seen in the network, or seen before
    # (domain/customers.py); vehicles in without one are neither
    new_customers_in: int = 0
    returning_customers_in: int = 0
    capacity: int = 0
    bay_hours: Fraction = ZERO
    # SOP 3: offered and accepted at the overloaded store, received at the other
    diversions_offered: int = 0
    diversions_accepted: int = 0
    diversions_received: int = 0
    # workforce: supports lent by the home store, received by the host; hours
    supports_lent: int = 0
    supports_received: int = 0
    productive_hours: Fraction = ZERO
    available_hours: Fraction = ZERO
    # collab: points earned, HQ's cost incurred for the store
    contribution_points: int = 0
    collaboration_cost_fen: int = 0

    def __add__(self, other: Facts) -> Facts:
        return Facts(
            **{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(Facts)}
        )

    @property
    def visit_revenue_fen(self) -> int:
        return self.labour_revenue_fen + self.parts_revenue_fen + self.other_revenue_fen


COUNTERS: tuple[str, ...] = tuple(f.name for f in fields(Facts))


def total(facts: Sequence[Facts]) -> Facts:
    summed = Facts()
    for f in facts:
        summed = summed + f
    return summed


@dataclass(frozen=True, slots=True, kw_only=True)
class StoreShape:
    """What a day's capacity and bay hours are taken from (capacity's store profile)."""

    bays: int
    default_daily_capacity: int
    availability_factor: Fraction
    # Open hours Monday (0) to Sunday (6); 0 when closed.
    open_hours: tuple[Fraction, ...]

    def open_on(self, day: date) -> Fraction:
        return self.open_hours[day.weekday()] if len(self.open_hours) == 7 else ZERO

    def capacity_on(self, day: date, override: int | None) -> int:
        """The book's rule: the day's override, else the default on open days, else 0."""
        if override is not None:
            return override
        return self.default_daily_capacity if self.open_on(day) > 0 else 0

    def bay_hours_on(self, day: date) -> Fraction:
        """Bays x open hours x availability factor: bay utilisation's denominator."""
        return self.bays * self.open_on(day) * self.availability_factor

    def capacity_over(self, weekdays: Sequence[int]) -> int:
        """`capacity_on` summed over days without overrides, given as how many of each
        weekday (Monday first, `weekday_counts`): a month in 7 products, not 30 days."""
        if len(self.open_hours) != 7:
            return 0
        return self.default_daily_capacity * sum(
            n for n, hours in zip(weekdays, self.open_hours, strict=True) if hours > 0
        )

    def bay_hours_over(self, weekdays: Sequence[int]) -> Fraction:
        """`bay_hours_on` summed over the days `weekday_counts` describes."""
        if len(self.open_hours) != 7:
            return ZERO
        hours = sum((n * h for n, h in zip(weekdays, self.open_hours, strict=True)), ZERO)
        return self.bays * hours * self.availability_factor


def weekday_counts(start: date, end: date) -> tuple[int, ...]:
    """How many Mondays, Tuesdays, ... Sundays the days [start, end) hold."""
    days = max(0, (end - start).days)
    weeks, rest = divmod(days, 7)
    first = start.weekday()
    return tuple(weeks + (1 if (w - first) % 7 < rest else 0) for w in range(7))


def percentile(values: Sequence[Fraction], share: Fraction) -> Fraction | None:
    """Nearest rank: the smallest value with at least `share` of the values at or below it."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(share * len(ordered)))
    return ordered[rank - 1]


def _ratio(part: Fraction | int, whole: Fraction | int) -> Fraction | None:
    return Fraction(part) / Fraction(whole) if whole else None


def indicator_values(
    facts: Facts, report: OperatingFigures | None = None, days: int = 0
) -> dict[str, Fraction]:
    """Every indicator the facts (and the month's report, when given) allow; `days`, the
    period's days so far, gives technician efficiency with the report's technicians."""
    requests = facts.part_issues + facts.shortages
    covered = facts.part_issues + min(facts.shortages, facts.transfers_in_sla)
    found: dict[str, Fraction | None] = {
        "parts_fill_rate": _ratio(facts.part_issues, requests),
        "network_fill_rate": _ratio(covered, requests),
        "technician_utilisation": _ratio(facts.productive_hours, facts.available_hours),
        "bay_utilisation": _ratio(facts.labour_hours, facts.bay_hours),
        "capacity_utilisation": _ratio(facts.booked, facts.capacity),
        "transfers": Fraction(facts.transfers_given),
        "transfer_response_time": _ratio(
            facts.transfer_response_seconds, facts.transfers_received * SECONDS_PER_MINUTE
        ),
        "supports": Fraction(facts.supports_lent),
        "diversions": Fraction(facts.diversions_received),
        "diversion_acceptance_rate": _ratio(facts.diversions_accepted, facts.diversions_offered),
        "vehicles_in": Fraction(facts.vehicles_in),
        "average_ticket": _ratio(facts.visit_revenue_fen, facts.visits_completed),
        "csi": _ratio(facts.satisfaction_sum, facts.satisfaction_count),
        "complaint_rate": _ratio(facts.complaints, facts.vehicles_in),
        "quote_abandonment_rate": _ratio(
            facts.quotes_abandoned, facts.quotes_abandoned + facts.visits_completed
        ),
        "revenue": Fraction(facts.visit_revenue_fen),
    }
    if report is not None:
        found.update(_reported(facts, report, found, days))
    return {code: value for code, value in found.items() if value is not None}


def _reported(
    facts: Facts, report: OperatingFigures, found: Mapping[str, Fraction | None], days: int
) -> dict[str, Fraction | None]:
    revenue = report.revenue.total_fen
    costs = report.costs
    headcount = report.headcount
    key = sum(s.headcount for s in report.staffing if s.role in KEY_ROLES)
    key_leavers = sum(s.leavers for s in report.staffing if s.role in KEY_ROLES)
    return {
        "revenue": Fraction(revenue),
        "gross_margin": _ratio(revenue - costs.parts_fen, revenue),
        "net_margin": _ratio(revenue - costs.total_fen, revenue),
        "cost_ratio": _ratio(costs.total_fen, revenue),
        "people_cost_ratio": _ratio(costs.people_fen, revenue),
        "rent_ratio": _ratio(costs.rent_fen, revenue),
        "revenue_per_employee": _ratio(revenue, headcount),
        "revenue_per_m2": _ratio(revenue, report.floor_area_m2),
        "staff_turnover": _ratio(report.leavers, headcount),
        "key_role_turnover": _ratio(key_leavers, key),
        "average_ticket": _ratio(revenue, facts.vehicles_in) or found.get("average_ticket"),
        "csi": found.get("csi") or report.csi,
        "nps": report.nps,
        "complaint_rate": found.get("complaint_rate")
        if facts.complaints
        else _ratio(report.complaints, facts.vehicles_in),
        "returning_rate": _ratio(report.returning_customers, facts.vehicles_in),
        "technician_efficiency": technician_productivity(
            facts.vehicles_in, report.headcount_of(Role.TECHNICIAN), days
        ),
        **{f.indicator: f.value for f in report.other_figures},
    }


def technician_productivity(vehicles_in: int, technicians: int, days: int) -> Fraction | None:
    """Vehicles a technician a day (domain.md's diagnosis: 480 / 12 / 30 = 1.33): the
    vehicles in over the technicians the report counts and the period's days."""
    if technicians <= 0 or days <= 0:
        return None
    return Fraction(vehicles_in, technicians * days)


def combined(reports: Sequence[OperatingFigures]) -> OperatingFigures | None:
    """The reports of a region's (or the network's) stores as one: money, staffing by
    role, floor area, complaints and returning customers add up; CSI and NPS are the mean
    of the stores that reported them; a store's own extra figures are not additive and
    are left out (one store's report is that store's, extra figures and all). None when
    no store reported."""
    if not reports:
        return None
    if len(reports) == 1:
        return reports[0]
    staffing: dict[Role, tuple[int, int]] = {}
    for report in reports:
        for s in report.staffing:
            headcount, leavers = staffing.get(s.role, (0, 0))
            staffing[s.role] = (headcount + s.headcount, leavers + s.leavers)
    csi = [r.csi for r in reports if r.csi is not None]
    nps = [r.nps for r in reports if r.nps is not None]
    return OperatingFigures(
        revenue=RevenueByLine(
            **{
                f.name: sum(getattr(r.revenue, f.name) for r in reports)
                for f in fields(RevenueByLine)
            }
        ),
        costs=Costs(
            **{f.name: sum(getattr(r.costs, f.name) for r in reports) for f in fields(Costs)}
        ),
        staffing=tuple(
            Staffing(role=role, headcount=h, leavers=left)
            for role, (h, left) in sorted(staffing.items())
        ),
        floor_area_m2=sum(r.floor_area_m2 for r in reports),
        csi=sum(csi, ZERO) / len(csi) if csi else None,
        nps=sum(nps, ZERO) / len(nps) if nps else None,
        complaints=sum(r.complaints for r in reports),
        returning_customers=sum(r.returning_customers for r in reports),
    )


def scope_indicator_values(
    per_store: Mapping[str, Facts],
    reports: Mapping[str, OperatingFigures],
    days: int = 0,
) -> dict[str, Fraction]:
    """A region's or the network's indicators from its stores' facts: `scope_values` of
    their sums."""
    report = combined([reports[s] for s in sorted(reports)])
    reporting = total([per_store.get(s, Facts()) for s in reports])
    return scope_values(total(list(per_store.values())), reporting, report, days)


def scope_values(
    summed: Facts, reporting: Facts, report: OperatingFigures | None, days: int = 0
) -> dict[str, Fraction]:
    """A region's or the network's indicators: `summed`, the stores' counters summed (a
    ratio of sums), and `report`, the operating reports of the stores that have one
    (`combined`), set against those stores' counters only (`reporting`, their sum), so a
    reported numerator (revenue, complaints, returning customers) never meets the vehicles
    of stores that did not report. `days`: the period's days so far, for technician
    productivity."""
    found = indicator_values(summed)
    if report is None:
        return found
    reported = _reported(reporting, report, indicator_values(reporting), days)
    # Revenue adds up as each store's KPI shows it: the report's where there is one, the
    # visits' elsewhere.
    unreported_fen = summed.visit_revenue_fen - reporting.visit_revenue_fen
    reported["revenue"] = Fraction(report.revenue.total_fen + unreported_fen)
    # The visits' own CSI and complaints cover every store: they go first, as for a store.
    if summed.satisfaction_count:
        reported["csi"] = found.get("csi")
    if summed.complaints:
        reported["complaint_rate"] = found.get("complaint_rate")
    found.update({code: value for code, value in reported.items() if value is not None})
    return found


def revenue_by_line(
    per_store: Mapping[str, Facts], reports: Mapping[str, OperatingFigures]
) -> RevenueByLine:
    """Revenue by line of stores as each store's KPI shows it (`revenue_lines`)."""
    reporting = total([per_store.get(s, Facts()) for s in reports])
    return revenue_lines(
        combined(list(reports.values())), total(list(per_store.values())), reporting
    )


def revenue_lines(
    report: OperatingFigures | None, summed: Facts, reporting: Facts
) -> RevenueByLine:
    """Revenue by line as each store's KPI shows it: the lines of the stores' reports
    (`combined`) where there is one, else their visits' (labour, parts, value-added):
    `summed` over every store less `reporting`, the sum over those with a report."""
    lines = report.revenue if report is not None else RevenueByLine()
    return RevenueByLine(
        labour_fen=lines.labour_fen + summed.labour_revenue_fen - reporting.labour_revenue_fen,
        parts_fen=lines.parts_fen + summed.parts_revenue_fen - reporting.parts_revenue_fen,
        value_added_fen=lines.value_added_fen
        + summed.other_revenue_fen
        - reporting.other_revenue_fen,
        accessories_fen=lines.accessories_fen,
        insurance_renewals_fen=lines.insurance_renewals_fen,
    )


def customers_split(
    per_store: Mapping[str, Facts], reports: Mapping[str, OperatingFigures]
) -> tuple[int, int] | None:
    """(new, returning) customers of the stores: a store that counted customer references
    in the period (capacity's check-ins, domain/customers.py) has them from its counters,
    exact for every vehicle in and every day; one that counted none, from its operating
    report (its returning customers, and its vehicles in less those); a store with
    neither adds nothing. None: no store had either."""
    new = returning = 0
    known = False
    for store in per_store.keys() | reports.keys():
        facts, report = per_store.get(store, Facts()), reports.get(store)
        if facts.new_customers_in or facts.returning_customers_in:
            new, returning = new + facts.new_customers_in, returning + facts.returning_customers_in
        elif report is not None:
            new += max(0, facts.vehicles_in - report.returning_customers)
            returning += report.returning_customers
        else:
            continue
        known = True
    return (new, returning) if known else None


def new_customers(
    per_store: Mapping[str, Facts], reports: Mapping[str, OperatingFigures]
) -> int | None:
    """The new customers of `customers_split` (None: no store counted or reported)."""
    split = customers_split(per_store, reports)
    return None if split is None else split[0]
