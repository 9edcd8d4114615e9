"""SOP 2's events of the day itself: the technician expected, arriving, checking in, at
work, the work recorded, and the stores' ratings after. `store_id` as in support_events.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kernel.saga.steps import Reply
from services.collab.domain.step_events import Built


class _ToLender(Built):
    addressed = "lending_store_id"


class _ToRequester(Built):
    addressed = "requesting_store_id"


@dataclass(frozen=True)
class TechnicianExpected(_ToRequester):
    """The host prepares tools, parts, travel and lodging; check-in is due by check_in_due_at."""

    support_id: str
    store_id: str
    technician_id: str
    lending_store_id: str
    starts_at: datetime
    ends_at: datetime
    check_in_due_at: datetime
    occurred_at: datetime

    @classmethod
    def extra(cls, s: Any, reply: Reply) -> dict[str, Any]:
        return {"check_in_due_at": s.starts_at + s.check_in_grace}


@dataclass(frozen=True)
class TechnicianArrived:
    support_id: str
    store_id: str
    technician_id: str
    lending_store_id: str
    reported_by: str
    occurred_at: datetime


@dataclass(frozen=True)
class SupportCalledOff:
    support_id: str
    store_id: str
    technician_id: str
    lending_store_id: str
    reason: str
    reported_by: str
    occurred_at: datetime


@dataclass(frozen=True)
class TechnicianNoShow(_ToRequester):
    support_id: str
    store_id: str
    technician_id: str
    lending_store_id: str
    occurred_at: datetime


@dataclass(frozen=True)
class SupportCheckedIn(_ToRequester):
    support_id: str
    store_id: str
    technician_id: str
    lending_store_id: str
    occurred_at: datetime


@dataclass(frozen=True)
class CheckInRefused(_ToRequester):
    support_id: str
    store_id: str
    technician_id: str
    lending_store_id: str
    reason: str
    occurred_at: datetime


@dataclass(frozen=True)
class SupportUnderway(_ToRequester):
    support_id: str
    store_id: str
    technician_id: str
    lending_store_id: str
    ends_at: datetime
    occurred_at: datetime


@dataclass(frozen=True)
class SupportWorkFinished:
    support_id: str
    store_id: str
    technician_id: str
    lending_store_id: str
    hours_worked: float
    fault_solved: bool
    travel_and_lodging_fen: int
    reported_by: str
    occurred_at: datetime


@dataclass(frozen=True)
class SupportWorkAbandoned:
    support_id: str
    store_id: str
    technician_id: str
    lending_store_id: str
    reason: str
    reported_by: str
    occurred_at: datetime


@dataclass(frozen=True)
class SupportWorkUnreported(_ToRequester):
    support_id: str
    store_id: str
    technician_id: str
    lending_store_id: str
    occurred_at: datetime


@dataclass(frozen=True)
class SupportWorkRecorded(_ToLender):
    support_id: str
    store_id: str
    technician_id: str
    lending_store_id: str
    hours_worked: float
    fault_solved: bool
    occurred_at: datetime


@dataclass(frozen=True)
class CompletionRefused(_ToRequester):
    support_id: str
    store_id: str
    technician_id: str
    lending_store_id: str
    reason: str
    occurred_at: datetime


@dataclass(frozen=True)
class SupportRated:
    """One store rated the other (store_id: the store rated)."""

    support_id: str
    store_id: str
    rated_by_store_id: str
    rating: int
    comment: str
    occurred_at: datetime


SUPPORT_DAY_EVENT_TYPES: tuple[type[Any], ...] = (
    TechnicianExpected,
    TechnicianArrived,
    SupportCalledOff,
    TechnicianNoShow,
    SupportCheckedIn,
    CheckInRefused,
    SupportUnderway,
    SupportWorkFinished,
    SupportWorkAbandoned,
    SupportWorkUnreported,
    SupportWorkRecorded,
    CompletionRefused,
    SupportRated,
)
