"""Support availability: the time windows in which a technician may be lent to another store."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from enum import IntEnum

from kernel.clock import check_aware
from kernel.errors import Violations


@dataclass(frozen=True)
class TimeWindow:
    """A half-open span of business time [starts_at, ends_at): touching windows do not overlap."""

    starts_at: datetime
    ends_at: datetime

    def __post_init__(self) -> None:
        if self.starts_at.utcoffset() is None or self.ends_at.utcoffset() is None:
            raise ValueError("a time window needs aware datetimes")
        if self.ends_at <= self.starts_at:
            raise ValueError("a time window must end after it starts")

    @property
    def duration(self) -> timedelta:
        return self.ends_at - self.starts_at

    def overlaps(self, other: TimeWindow) -> bool:
        return self.starts_at < other.ends_at and other.starts_at < self.ends_at

    def contains(self, other: TimeWindow) -> bool:
        return self.starts_at <= other.starts_at and other.ends_at <= self.ends_at

    def describe(self) -> str:
        return f"{self.starts_at.isoformat()} to {self.ends_at.isoformat()}"


class PartOfDay(IntEnum):
    ALL_DAY = 1
    MORNING = 2
    AFTERNOON = 3


# Store-local hours of each part of the working day; morning and afternoon touch at noon,
# so a store that publishes both has published the whole day.
DAY_PARTS: dict[PartOfDay, tuple[time, time]] = {
    PartOfDay.ALL_DAY: (time(8, 0), time(18, 0)),
    PartOfDay.MORNING: (time(8, 0), time(12, 0)),
    PartOfDay.AFTERNOON: (time(12, 0), time(18, 0)),
}


def window_on(day: date, part: PartOfDay, store_timezone: tzinfo) -> TimeWindow:
    """The window "Wednesday all day" or "Friday afternoon" means on one date, in UTC."""
    start, end = DAY_PARTS[part]
    return TimeWindow(
        datetime.combine(day, start, store_timezone).astimezone(UTC),
        datetime.combine(day, end, store_timezone).astimezone(UTC),
    )


def merged(windows: Iterable[TimeWindow]) -> tuple[TimeWindow, ...]:
    """Overlapping or touching windows joined into the longest spans they cover."""
    spans: list[TimeWindow] = []
    for window in sorted(windows, key=lambda w: w.starts_at):
        if spans and window.starts_at <= spans[-1].ends_at:
            if window.ends_at > spans[-1].ends_at:
                spans[-1] = TimeWindow(spans[-1].starts_at, window.ends_at)
        else:
            spans.append(window)
    return tuple(spans)


def covers(windows: Iterable[TimeWindow], span: TimeWindow) -> bool:
    """Whether the published windows, joined where they touch, cover the whole span."""
    return any(window.contains(span) for window in merged(windows))


def check_window(v: Violations, starts_at: datetime, ends_at: datetime) -> None:
    """Adds the faults that keep (starts_at, ends_at) from being a TimeWindow."""
    starts_ok = check_aware(v, "starts_at", starts_at)
    ends_ok = check_aware(v, "ends_at", ends_at)
    if starts_ok and ends_ok and ends_at <= starts_at:
        v.add("ends_at", "must be after starts_at")


def utc_window(starts_at: datetime, ends_at: datetime) -> TimeWindow:
    return TimeWindow(starts_at.astimezone(UTC), ends_at.astimezone(UTC))
