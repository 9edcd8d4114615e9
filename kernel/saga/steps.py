"""The words a saga is written in: its steps, the calls they make, what comes back."""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any


class Status(enum.StrEnum):
    """Where a saga is. It ends COMPLETED (every step done), COMPENSATED (it gave up and
    undid what it had done, after its last retry round) or FAILED (an undo was refused or
    never answered: something may be left that an operator must look at). An operator
    closes a FAILED saga RESOLVED once what its call could not do was set right by hand:
    neither done nor undone by the saga (its service may still settle, with the end, what
    the saga had achieved before it got stuck)."""

    NEW = "new"
    RUNNING = "running"
    COMPENSATING = "compensating"
    COMPLETED = "completed"
    COMPENSATED = "compensated"
    FAILED = "failed"
    RESOLVED = "resolved"

    @property
    def terminal(self) -> bool:
        return self in (Status.COMPLETED, Status.COMPENSATED, Status.FAILED, Status.RESOLVED)


class Outcome(enum.StrEnum):
    OK = "ok"
    # The participant refused for a business reason (FAILED_PRECONDITION and kin).
    REFUSED = "refused"
    # Transient failures outlasted the retry budget: the effect may or may not exist.
    EXHAUSTED = "exhausted"


@dataclass(frozen=True)
class Call:
    """A call to another service's gRPC method; `fields` build its request message."""

    participant: str
    method: str
    fields: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Reply:
    """What came back of a call, or what happened instead (a deadline, a signal)."""

    at: datetime
    outcome: Outcome = Outcome.OK
    response: Mapping[str, Any] = field(default_factory=dict)
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.OK


# A domain event class the saga records at a transition: `cls.of(data, reply)` builds it.
EventClass = type[Any]


@dataclass(frozen=True)
class Invoke:
    """Call a participant; `done` on success, `refused` when it says no, `expired` when it
    did not answer by the deadline or within the retries (then compensate, this step too:
    it may have acted)."""

    name: str
    call: Callable[[Any], Call]
    done: EventClass
    refused: EventClass
    undo: Callable[[Any], Call] | None = None
    undone: EventClass | None = None
    deadline: timedelta | None = None
    expired: EventClass | None = None
    # Past the point of no return (a delivered part is at the requester, a technician's
    # work is done): a refusal, retries run out or its deadline stop the saga FAILED for
    # an operator, whose retry sends the call again, instead of undoing the steps before
    # it on a premise that no longer holds.
    stops_on_failure: bool = False
    # A call that may have acted unseen and that undoing the steps before it cannot take
    # back (a cancellation elsewhere: undoing the booking it followed would leave the
    # customer booked nowhere): retries run out or its deadline stop the saga FAILED for an
    # operator, whose retry sends it again under the same request id; a refusal still
    # compensates.
    stops_when_unanswered: bool = False

    def stops(self, *, unanswered: bool) -> bool:
        """Whether a failure of this step stops the saga for an operator instead of
        undoing the steps before it (`unanswered`: no reply by the deadline or retries)."""
        return self.stops_on_failure or (unanswered and self.stops_when_unanswered)


@dataclass(frozen=True)
class Await:
    """Record `ask` (a request partners receive), then wait for a `done` or `refused`
    event signalled to the saga, until `deadline` (then `expired`, and compensate); the
    deadline runs from `until(data)` when given, else from the asking."""

    name: str
    ask: EventClass
    done: EventClass
    refused: EventClass
    deadline: timedelta
    expired: EventClass
    # When set, the deadline counts from this moment of the data instead of from asking:
    # an answer tied to a booked time (check in by 2 h after the support starts).
    until: Callable[[Any], datetime] | None = None


@dataclass(frozen=True)
class Wait:
    """Wait for a moment of the data (`until(data) + deadline`: the work order goes out one
    day before the support), then record `then` and go on; at once when it is past. A
    `refused` event signalled meanwhile (a support called off) compensates instead."""

    name: str
    then: EventClass
    until: Callable[[Any], datetime]
    deadline: timedelta = timedelta(0)
    refused: EventClass | None = None


Step = Invoke | Await | Wait


@dataclass(frozen=True)
class Retry:
    """Once a round is undone, another round from the first step while `when(data)`
    holds (e.g. a next source is left); `event` records the switch, and the data it
    evolves names what the new round works with."""

    event: EventClass
    when: Callable[[Any], bool]


# A participant's reason meaning "there is nothing of this call to undo" (NOT_FOUND).
NOTHING_TO_UNDO = "NOT_FOUND"
