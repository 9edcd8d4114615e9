"""SOP 2's events: asking for a technician, the lending store's answer, the booking and how
a support ends, as partners and the read model see them (the day itself:
support_day_events.py).

`store_id` is the store the event is addressed to (its subject): the LENDING store (the
technician's home) for what it must answer or prepare, the REQUESTING store (the host)
for the progress of its support. Money is fen, paid by HQ.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from kernel.saga.steps import Reply
from services.collab.domain.step_events import Built, ResolvedByOperator
from services.collab.domain.support_day_events import SUPPORT_DAY_EVENT_TYPES


class _ToLender(Built):
    addressed = "lending_store_id"


class _ToRequester(Built):
    addressed = "requesting_store_id"


@dataclass(frozen=True)
class SupportRequested:
    """The host store asked for a technician; the candidates are ranked, best first."""

    support_id: str
    store_id: str
    requesting_store_id: str
    specialty: str
    minimum_level: str
    starts_at: datetime
    ends_at: datetime
    fault: str
    urgent: bool
    candidate_technician_ids: tuple[str, ...]
    candidate_store_ids: tuple[str, ...]
    approval_deadline_seconds: int
    occurred_at: datetime


@dataclass(frozen=True)
class TechnicianHeld(_ToLender):
    support_id: str
    store_id: str
    technician_id: str
    lending_store_id: str
    booking_id: str
    subsidy_tier: str
    subsidy_fen: int
    travel_and_lodging_paid: bool
    distance_km: float
    occurred_at: datetime

    @classmethod
    def extra(cls, s: Any, reply: Reply) -> dict[str, Any]:
        subsidy = reply.response.get("subsidy", {})
        return {
            "subsidy_tier": str(subsidy.get("tier", "")),
            "subsidy_fen": int(subsidy.get("amount_fen", 0)),
            "travel_and_lodging_paid": bool(subsidy.get("travel_and_lodging_paid", False)),
            "distance_km": float(reply.response.get("distance_km", -1.0)),
        }


@dataclass(frozen=True)
class HoldRefused(_ToRequester):
    support_id: str
    store_id: str
    technician_id: str
    lending_store_id: str
    reason: str
    occurred_at: datetime


@dataclass(frozen=True)
class HoldUnanswered(_ToRequester):
    support_id: str
    store_id: str
    technician_id: str
    lending_store_id: str
    occurred_at: datetime


@dataclass(frozen=True)
class HoldReleased(_ToLender):
    support_id: str
    store_id: str
    technician_id: str
    lending_store_id: str
    occurred_at: datetime


@dataclass(frozen=True)
class SupportApprovalRequested(_ToLender):
    """The lending store is asked to lend its technician (partner apps show it)."""

    support_id: str
    store_id: str
    technician_id: str
    lending_store_id: str
    requesting_store_id: str
    specialty: str
    starts_at: datetime
    ends_at: datetime
    fault: str
    urgent: bool
    subsidy_fen: int
    due_at: datetime
    occurred_at: datetime

    @classmethod
    def extra(cls, s: Any, reply: Reply) -> dict[str, Any]:
        return {"due_at": reply.at + timedelta(seconds=s.approval_deadline_seconds)}


@dataclass(frozen=True)
class SupportApproved:
    support_id: str
    store_id: str
    technician_id: str
    lending_store_id: str
    approved_by: str
    occurred_at: datetime


@dataclass(frozen=True)
class SupportRejected:
    support_id: str
    store_id: str
    technician_id: str
    lending_store_id: str
    reason: str
    rejected_by: str
    occurred_at: datetime


@dataclass(frozen=True)
class SupportApprovalExpired(_ToLender):
    support_id: str
    store_id: str
    technician_id: str
    lending_store_id: str
    occurred_at: datetime


@dataclass(frozen=True)
class WorkOrderDue(_ToLender):
    """A day before the support: the booking is confirmed and the work order goes out."""

    support_id: str
    store_id: str
    technician_id: str
    lending_store_id: str
    starts_at: datetime
    occurred_at: datetime


@dataclass(frozen=True)
class SupportWithdrawn:
    support_id: str
    store_id: str
    technician_id: str
    lending_store_id: str
    reason: str
    reported_by: str
    occurred_at: datetime


@dataclass(frozen=True)
class SupportConfirmed(_ToLender):
    """The work order: the technician goes to the host store at starts_at."""

    support_id: str
    store_id: str
    technician_id: str
    lending_store_id: str
    requesting_store_id: str
    starts_at: datetime
    ends_at: datetime
    fault: str
    occurred_at: datetime


@dataclass(frozen=True)
class ConfirmRefused(_ToRequester):
    support_id: str
    store_id: str
    technician_id: str
    lending_store_id: str
    reason: str
    occurred_at: datetime


@dataclass(frozen=True)
class ConfirmUnanswered(_ToRequester):
    support_id: str
    store_id: str
    technician_id: str
    lending_store_id: str
    occurred_at: datetime


@dataclass(frozen=True)
class NextTechnicianChosen:
    support_id: str
    store_id: str
    technician_id: str
    lending_store_id: str
    previous_technician_id: str
    reason: str
    occurred_at: datetime

    @classmethod
    def of(cls, s: Any, reply: Reply) -> NextTechnicianChosen:
        i = s.candidate + 1
        store = s.candidate_store_ids[i]
        return cls(
            s.support_id,
            store,
            s.candidate_technician_ids[i],
            store,
            s.technician_id,
            s.reason,
            reply.at,
        )


@dataclass(frozen=True)
class SupportCompleted(_ToRequester):
    support_id: str
    store_id: str
    technician_id: str
    lending_store_id: str
    hours_worked: float
    fault_solved: bool
    subsidy_fen: int
    travel_and_lodging_fen: int
    occurred_at: datetime


@dataclass(frozen=True)
class NoTechnicianLeft(_ToRequester):
    support_id: str
    store_id: str
    technician_id: str
    lending_store_id: str
    specialty: str
    reason: str
    occurred_at: datetime


@dataclass(frozen=True)
class SupportStuck(_ToRequester):
    support_id: str
    store_id: str
    technician_id: str
    lending_store_id: str
    reason: str
    occurred_at: datetime


# Operator actions (the admin command line, kernel/saga/admin.py): addressed to the host,
# which owns the case, as SupportStuck is; `reason` says who acted, and why.


@dataclass(frozen=True)
class SupportStepRetried(_ToRequester):
    support_id: str
    store_id: str
    technician_id: str
    lending_store_id: str
    reason: str
    occurred_at: datetime


@dataclass(frozen=True)
class SupportCancelled(_ToRequester):
    support_id: str
    store_id: str
    technician_id: str
    lending_store_id: str
    reason: str
    occurred_at: datetime


@dataclass(frozen=True)
class SupportResolvedByHand(ResolvedByOperator, _ToRequester):
    """The support's end when an operator set right by hand the booking or loan workforce
    would not end: neither completed nor undone. Work the host reported finished is settled
    with it (domain/resolved.py): the lender's points, the subsidy, travel and lodging."""

    support_id: str
    store_id: str
    technician_id: str
    lending_store_id: str
    operator: str
    reason: str
    occurred_at: datetime


SUPPORT_EVENT_TYPES: tuple[type[Any], ...] = (
    SupportRequested,
    TechnicianHeld,
    HoldRefused,
    HoldUnanswered,
    HoldReleased,
    SupportApprovalRequested,
    SupportApproved,
    SupportRejected,
    SupportApprovalExpired,
    WorkOrderDue,
    SupportWithdrawn,
    SupportConfirmed,
    ConfirmRefused,
    ConfirmUnanswered,
    NextTechnicianChosen,
    SupportCompleted,
    NoTechnicianLeft,
    SupportStuck,
    SupportStepRetried,
    SupportCancelled,
    SupportResolvedByHand,
    *SUPPORT_DAY_EVENT_TYPES,
)
