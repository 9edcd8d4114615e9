"""A store's week: opening hours per weekday in its own time zone, and the local day of a moment."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import IntEnum
from functools import cache
from zoneinfo import ZoneInfo, available_timezones

from kernel.errors import Violations

MINUTES_PER_DAY = 24 * 60


class Weekday(IntEnum):
    """ISO weekday numbers (Monday 1 … Sunday 7), so 0 stays free for UNSPECIFIED."""

    MONDAY = 1
    TUESDAY = 2
    WEDNESDAY = 3
    THURSDAY = 4
    FRIDAY = 5
    SATURDAY = 6
    SUNDAY = 7

    @classmethod
    def of(cls, day: date) -> Weekday:
        return cls(day.isoweekday())


@dataclass(frozen=True, slots=True, kw_only=True)
class OpeningHours:
    """The hours of one weekday, in minutes after local midnight: open from `opens_minute`
    up to (not including) `closes_minute`. A weekday without an entry is a closed day."""

    weekday: Weekday
    opens_minute: int
    closes_minute: int

    @property
    def hours(self) -> float:
        return (self.closes_minute - self.opens_minute) / 60

    def contains(self, minute_of_day: int) -> bool:
        return self.opens_minute <= minute_of_day < self.closes_minute


def check_opening_hours(v: Violations, field_name: str, week: Sequence[OpeningHours]) -> None:
    seen: set[Weekday] = set()
    for index, hours in enumerate(week):
        name = f"{field_name}[{index}]"
        if hours.weekday in seen:
            v.add(f"{name}.weekday", f"{hours.weekday.name} is given more than once")
        seen.add(hours.weekday)
        if not 0 <= hours.opens_minute < MINUTES_PER_DAY:
            v.add(f"{name}.opens_minute", f"must be from 0 to {MINUTES_PER_DAY - 1}")
        if not 0 < hours.closes_minute <= MINUTES_PER_DAY:
            v.add(f"{name}.closes_minute", f"must be from 1 to {MINUTES_PER_DAY}")
        elif hours.closes_minute <= hours.opens_minute:
            v.add(f"{name}.closes_minute", "must be after opens_minute")


def check_time_zone(v: Violations, field_name: str, name: str) -> None:
    if not name:
        v.add(field_name, "is required (an IANA name such as Asia/Shanghai)")
        return
    if name not in known_time_zones():
        shown = name if len(name) <= 64 else f"{name[:64]}..."
        v.add(field_name, f"{shown!r} is not a known IANA time zone (such as Asia/Shanghai)")


@cache
def known_time_zones() -> frozenset[str]:
    """The IANA names this installation knows; a name is looked up here, never as a file
    path (a long or odd name would otherwise reach the file system)."""
    return frozenset(available_timezones())


@cache
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def local_day(moment: datetime, time_zone: str) -> date:
    return moment.astimezone(zone(time_zone)).date()


def hours_on(week: Sequence[OpeningHours], weekday: Weekday) -> OpeningHours | None:
    return next((hours for hours in week if hours.weekday == weekday), None)


def open_hours_on(week: Sequence[OpeningHours], day: date) -> float:
    hours = hours_on(week, Weekday.of(day))
    return 0.0 if hours is None else hours.hours


def is_open_at(week: Sequence[OpeningHours], time_zone: str, moment: datetime) -> bool:
    local = moment.astimezone(zone(time_zone))
    hours = hours_on(week, Weekday.of(local.date()))
    return hours is not None and hours.contains(local.hour * 60 + local.minute)
