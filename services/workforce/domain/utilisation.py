"""Technician utilisation = productive hours / available hours, over a span of days."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from services.workforce.domain.events import ProductiveHoursLogged, ShiftPlanned, WorkforceEvent


@dataclass(frozen=True)
class Utilisation:
    productive_hours: float
    available_hours: float

    @property
    def ratio(self) -> float | None:
        """Productive over available hours; above 1 means overtime, None means no shifts."""
        if self.available_hours <= 0:
            return None
        return self.productive_hours / self.available_hours


def utilisation_between(
    events: Iterable[WorkforceEvent], first_day: date, last_day: date
) -> Utilisation:
    """Utilisation over the days first_day..last_day inclusive, from a technician's events.

    A shift planned again for the same day replaces the earlier plan; productive hours add up.
    """
    available: dict[date, float] = {}
    productive = 0.0
    for event in events:
        if isinstance(event, ShiftPlanned) and first_day <= event.day <= last_day:
            available[event.day] = event.available_hours
        elif isinstance(event, ProductiveHoursLogged) and first_day <= event.day <= last_day:
            productive += event.hours
    return Utilisation(productive_hours=productive, available_hours=sum(available.values()))
