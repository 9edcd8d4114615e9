"""Business time: every rule asks a Clock, so tests move time instead of sleeping."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

# The zone whose calendar days count for network-wide daily figures (usage, fill rate).
# Stores keep their own zones for opening hours; the brands we serve run on China time.
BUSINESS_ZONE = ZoneInfo(os.environ.get("STOREMESH_BUSINESS_TIMEZONE", "Asia/Shanghai"))


def business_day(moment: datetime) -> date:
    return moment.astimezone(BUSINESS_ZONE).date()


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock that only moves when told to."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
        if self._now.tzinfo is None:
            raise ValueError("ManualClock needs an aware datetime")

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> datetime:
        self._now += delta
        return self._now

    def set(self, moment: datetime) -> None:
        self._now = moment
