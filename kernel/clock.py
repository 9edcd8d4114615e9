"""Business time: every rule asks a Clock, so tests move time instead of sleeping."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from kernel.errors import Violations

# The zone whose calendar days count for network-wide daily figures (usage, fill rate).
# Stores keep their own zones for opening hours; the brands we serve run on China time.
DEFAULT_BUSINESS_ZONE = "Asia/Shanghai"


class Clock(Protocol):
    zone: ZoneInfo

    def now(self) -> datetime: ...

    def business_day(self, moment: datetime) -> date:
        """The calendar day of `moment` in the business zone."""
        ...


class SystemClock:
    def __init__(self, business_zone: str = DEFAULT_BUSINESS_ZONE) -> None:
        self.zone = ZoneInfo(business_zone)

    def now(self) -> datetime:
        return datetime.now(UTC)

    def business_day(self, moment: datetime) -> date:
        return moment.astimezone(self.zone).date()


class ManualClock:
    """A clock that only moves when told to."""

    def __init__(
        self, start: datetime | None = None, business_zone: str = DEFAULT_BUSINESS_ZONE
    ) -> None:
        self._now = start or datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
        if self._now.tzinfo is None:
            raise ValueError("ManualClock needs an aware datetime")
        self.zone = ZoneInfo(business_zone)

    def now(self) -> datetime:
        return self._now

    def business_day(self, moment: datetime) -> date:
        return moment.astimezone(self.zone).date()

    def advance(self, delta: timedelta) -> datetime:
        self._now += delta
        return self._now

    def set(self, moment: datetime) -> None:
        self._now = moment


def end_of_business_day(clock: Clock, day: date) -> datetime:
    """The first moment after `day` in the business zone: the start of the next day."""
    return datetime.combine(day + timedelta(days=1), time(0), clock.zone)


def check_aware(v: Violations, field_name: str, moment: datetime) -> bool:
    """Business time is absolute: a moment without its offset is refused."""
    if moment.utcoffset() is None:
        v.add(field_name, "must carry a time zone (business time is UTC)")
        return False
    return True
