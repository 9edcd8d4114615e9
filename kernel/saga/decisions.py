"""What a saga decision takes in and gives out: the triggers the runtime feeds a saga
(each in its own transaction) and the Decision it returns (no I/O: the runtime acts on it)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kernel.saga.steps import Call, Reply

# Triggers: what the runtime feeds a saga, each in its own transaction.


@dataclass(frozen=True)
class Start:
    event: Any
    at: datetime


@dataclass(frozen=True)
class Replied:
    key: str
    reply: Reply


@dataclass(frozen=True)
class Signalled:
    event: Any
    at: datetime


@dataclass(frozen=True)
class DeadlinePassed:
    key: str
    at: datetime


@dataclass(frozen=True)
class OperatorRetry:
    """An operator re-issues the call the saga is stuck on (its undo that failed, or a call
    still retrying), under the same key: the participant sees the same request id."""

    at: datetime
    operator: str


@dataclass(frozen=True)
class OperatorCancel:
    """An operator gives the saga up: undo what it did, in reverse, and end compensated
    without another round."""

    at: datetime
    operator: str
    why: str


@dataclass(frozen=True)
class OperatorResolve:
    """An operator closes a FAILED saga whose stuck call will never succeed because what it
    was to do was set right by hand (the stock counted, the booking cancelled at the
    store): the call is dropped, and the saga ends resolved, neither completed nor undone."""

    at: datetime
    operator: str
    why: str


Trigger = (
    Start | Replied | Signalled | DeadlinePassed | OperatorRetry | OperatorCancel | OperatorResolve
)


@dataclass(frozen=True)
class Outgoing:
    """A call of this saga under its key (`reserve`, `reserve.undo`): one key, one
    request id, however many times the call is retried."""

    key: str
    call: Call


@dataclass(frozen=True)
class Deadline:
    key: str
    due_at: datetime


@dataclass(frozen=True)
class Decision:
    events: tuple[Any, ...] = ()
    calls: tuple[Outgoing, ...] = ()
    deadlines: tuple[Deadline, ...] = ()
    cancelled_deadlines: tuple[str, ...] = ()
    # Calls no longer wanted (their step expired); one in flight may still land.
    cancelled_calls: tuple[str, ...] = ()
