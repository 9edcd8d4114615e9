"""Business periods (day, week, month, quarter, year) that reports, targets and KPI refer to."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import IntEnum
from fractions import Fraction

# The earliest time zone on earth: a period that has begun nowhere yet is in the future.
EARLIEST_OFFSET = timedelta(hours=14)


class PeriodKind(IntEnum):
    DAY = 1
    WEEK = 2
    MONTH = 3
    QUARTER = 4
    YEAR = 5


@dataclass(frozen=True, slots=True, order=True)
class Period:
    """A calendar period named by its kind and first day (weeks start on Monday)."""

    kind: PeriodKind
    start: date

    @classmethod
    def day(cls, on: date) -> Period:
        return cls(PeriodKind.DAY, on)

    @classmethod
    def week_of(cls, on: date) -> Period:
        return cls(PeriodKind.WEEK, on - timedelta(days=on.weekday()))

    @classmethod
    def month(cls, year: int, month: int) -> Period:
        return cls(PeriodKind.MONTH, date(year, month, 1))

    @classmethod
    def quarter(cls, year: int, quarter: int) -> Period:
        return cls(PeriodKind.QUARTER, date(year, 3 * quarter - 2, 1))

    @classmethod
    def year(cls, year: int) -> Period:
        return cls(PeriodKind.YEAR, date(year, 1, 1))

    @classmethod
    def containing(cls, kind: PeriodKind, on: date) -> Period:
        match kind:
            case PeriodKind.DAY:
                return cls.day(on)
            case PeriodKind.WEEK:
                return cls.week_of(on)
            case PeriodKind.MONTH:
                return cls.month(on.year, on.month)
            case PeriodKind.QUARTER:
                return cls.quarter(on.year, (on.month - 1) // 3 + 1)
            case PeriodKind.YEAR:
                return cls.year(on.year)

    @property
    def end(self) -> date:
        """The first day after the period."""
        match self.kind:
            case PeriodKind.DAY:
                return self.start + timedelta(days=1)
            case PeriodKind.WEEK:
                return self.start + timedelta(days=7)
            case PeriodKind.MONTH:
                return _add_months(self.start, 1)
            case PeriodKind.QUARTER:
                return _add_months(self.start, 3)
            case PeriodKind.YEAR:
                return date(self.start.year + 1, 1, 1)

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    def contains(self, on: date) -> bool:
        return self.start <= on < self.end

    def is_well_formed(self) -> bool:
        return Period.containing(self.kind, self.start) == self

    def has_begun(self, at: datetime) -> bool:
        """Begun somewhere on earth by `at` (an aware moment)."""
        return self.start <= (at.astimezone(UTC) + EARLIEST_OFFSET).date()

    def elapsed(self, through: date) -> Fraction:
        """Share of the period's days done once `through` (inclusive) is over, 0 to 1."""
        done = (min(max(through, self.start - timedelta(days=1)), self.end) - self.start).days + 1
        return Fraction(max(0, min(done, self.days)), self.days)

    def months(self) -> tuple[Period, ...]:
        if self.kind not in (PeriodKind.MONTH, PeriodKind.QUARTER, PeriodKind.YEAR):
            return ()
        first = self.start
        count = {PeriodKind.MONTH: 1, PeriodKind.QUARTER: 3, PeriodKind.YEAR: 12}[self.kind]
        return tuple(Period(PeriodKind.MONTH, _add_months(first, n)) for n in range(count))

    @property
    def key(self) -> str:
        """Stable text form: 2026-11-30, 2026-W49, 2026-11, 2026-Q4, 2026."""
        match self.kind:
            case PeriodKind.DAY:
                return self.start.isoformat()
            case PeriodKind.WEEK:
                iso = self.start.isocalendar()
                return f"{iso.year}-W{iso.week:02d}"
            case PeriodKind.MONTH:
                return f"{self.start.year}-{self.start.month:02d}"
            case PeriodKind.QUARTER:
                return f"{self.start.year}-Q{(self.start.month - 1) // 3 + 1}"
            case PeriodKind.YEAR:
                return f"{self.start.year}"


_KEY = re.compile(
    r"^(?P<year>\d{4})(?:-(?:W(?P<week>\d{2})|Q(?P<quarter>[1-4])|(?P<month>\d{2})(?:-(?P<day>\d{2}))?))?$"
)


# The years a key may name: those a request may (kernel.validation's calendar, a year of
# margin at each end), so a period's end and the one before it stay computable.
FIRST_KEY_YEAR, LAST_KEY_YEAR = 2, 9998


def period_of_key(key: str) -> Period | None:
    """The period a `Period.key` names (2026-11-30, 2026-W49, 2026-11, 2026-Q4, 2026); None
    for text that names none, or a period at the very ends of the calendar."""
    found = _KEY.match(key)
    if found is None:
        return None
    year = int(found["year"])
    if not FIRST_KEY_YEAR <= year <= LAST_KEY_YEAR:
        return None
    try:
        if found["week"]:
            return Period.week_of(date.fromisocalendar(year, int(found["week"]), 1))
        if found["quarter"]:
            return Period.quarter(year, int(found["quarter"]))
        if found["day"]:
            return Period.day(date(year, int(found["month"]), int(found["day"])))
        if found["month"]:
            return Period.month(year, int(found["month"]))
        return Period.year(year)
    except ValueError:
        return None


def _add_months(first: date, months: int) -> date:
    index = first.year * 12 + first.month - 1 + months
    year, month = divmod(index, 12)
    return date(year, month + 1, min(first.day, calendar.monthrange(year, month + 1)[1]))
