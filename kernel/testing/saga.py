"""Given / when / then for sagas, without a database: the outbox and deadlines in memory.

    (SagaScenario(TRANSFER)
        .when_started(TransferRequested(...))
        .then_calls(Call("inventory", "ReserveStock", {...}))
        .when_replied("reserve", reservation_id="t-1")
        .then_event_types(SourceReserved, ApprovalRequested)
        .when_time_passes(timedelta(minutes=10))
        .then_event_types(ApprovalExpired)
        .then_calls(Call("inventory", "ReleaseReservation", {...}))
        .when_replied("reserve.undo")
        .then_status(Status.COMPENSATED))

Each `when_` feeds one trigger, as the runtime does in one transaction; each `then_`
checks what that trigger decided. Time moves on the scenario's ManualClock only, and a
deadline fires when the clock passes it, as `TimerRunner.run_due()` would.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from kernel.clock import ManualClock
from kernel.saga.decisions import (
    DeadlinePassed,
    Decision,
    OperatorCancel,
    OperatorResolve,
    OperatorRetry,
    Replied,
    Signalled,
    Start,
    Trigger,
)
from kernel.saga.definition import Saga, SagaState
from kernel.saga.runtime import request_id
from kernel.saga.steps import Call, Outcome, Reply, Status

D = TypeVar("D")


class SagaScenario(Generic[D]):
    def __init__(
        self, saga: Saga[D], saga_id: str = "saga-1", clock: ManualClock | None = None
    ) -> None:
        self.saga = saga
        self.saga_id = saga_id
        self.clock = clock or ManualClock()
        self.state: SagaState[D] = saga.initial_state()
        self.recorded: list[Any] = []
        self.outbox: dict[str, Call] = {}
        self.deadlines: dict[str, datetime] = {}
        self.decisions: list[Decision] = []

    # Given

    def given(self, *events: Any) -> SagaScenario[D]:
        """Events already in the saga's stream (e.g. before a crash)."""
        for event in events:
            self.state = self.saga.evolve(self.state, event)
            self.recorded.append(event)
        return self

    # When

    def when_started(self, event: Any) -> SagaScenario[D]:
        return self._feed(Start(event, self.clock.now()))

    def when_replied(self, key: str, **response: Any) -> SagaScenario[D]:
        return self._reply(key, Reply(self.clock.now(), Outcome.OK, response))

    def when_refused(self, key: str, reason: str) -> SagaScenario[D]:
        return self._reply(key, Reply(self.clock.now(), Outcome.REFUSED, {}, reason))

    def when_exhausted(self, key: str) -> SagaScenario[D]:
        """Transient failures outlasted the dispatcher's retry budget."""
        return self._reply(key, Reply(self.clock.now(), Outcome.EXHAUSTED, {}, "UNAVAILABLE"))

    def when_signalled(self, event: Any) -> SagaScenario[D]:
        return self._feed(Signalled(event, self.clock.now()))

    def when_operator_retries(self, operator: str = "ops") -> SagaScenario[D]:
        return self._feed(OperatorRetry(self.clock.now(), operator))

    def when_operator_cancels(self, operator: str = "ops", why: str = "") -> SagaScenario[D]:
        return self._feed(OperatorCancel(self.clock.now(), operator, why))

    def when_operator_resolves(self, operator: str = "ops", why: str = "") -> SagaScenario[D]:
        return self._feed(OperatorResolve(self.clock.now(), operator, why))

    def when_time_passes(self, delta: timedelta) -> SagaScenario[D]:
        """Move the clock; every deadline passed on the way fires, earliest first."""
        self.clock.advance(delta)
        fired: list[Decision] = []
        while True:
            due = sorted((at, key) for key, at in self.deadlines.items() if at <= self.clock.now())
            if not due:
                break
            _, key = due[0]
            del self.deadlines[key]
            self._feed(DeadlinePassed(key, self.clock.now()))
            fired.append(self.decisions.pop())
        self.decisions.append(_merged(fired))
        return self

    # Then (about the last `when_`)

    @property
    def last(self) -> Decision:
        assert self.decisions, "nothing happened yet: call a when_ first"
        return self.decisions[-1]

    def then_events(self, *events: Any) -> SagaScenario[D]:
        assert list(self.last.events) == list(events), f"events: {list(self.last.events)}"
        return self

    def then_event_types(self, *types: type[Any]) -> SagaScenario[D]:
        got = [type(e) for e in self.last.events]
        assert got == list(types), f"event types: {[t.__name__ for t in got]}"
        return self

    def then_calls(self, *calls: Call) -> SagaScenario[D]:
        got = [out.call for out in self.last.calls]
        assert got == list(calls), f"calls: {got}"
        return self

    def then_no_calls(self) -> SagaScenario[D]:
        return self.then_calls()

    def then_status(self, status: Status) -> SagaScenario[D]:
        assert self.state.status is status, f"status: {self.state.status}"
        return self

    def then_deadline(self, key: str, due_at: datetime | None) -> SagaScenario[D]:
        """The deadline the step is kept to (None: no deadline pending)."""
        assert self.deadlines.get(key) == due_at, f"deadlines: {self.deadlines}"
        return self

    def request_id(self, key: str) -> str:
        """The request id the runtime sends the call `key` with, on every attempt."""
        return request_id(self.saga.name, self.saga_id, key)

    # Internals

    def _reply(self, key: str, reply: Reply) -> SagaScenario[D]:
        assert key in self.outbox, f"no call {key!r} outstanding (outbox: {list(self.outbox)})"
        del self.outbox[key]
        return self._feed(Replied(key, reply))

    def _feed(self, trigger: Trigger) -> SagaScenario[D]:
        decision = self.saga.decide(self.state, trigger)
        for event in decision.events:
            self.state = self.saga.evolve(self.state, event)
            self.recorded.append(event)
        for key in decision.cancelled_calls:
            self.outbox.pop(key, None)
        for out in decision.calls:
            self.outbox[out.key] = out.call
        for key in decision.cancelled_deadlines:
            self.deadlines.pop(key, None)
        for deadline in decision.deadlines:
            self.deadlines[deadline.key] = deadline.due_at
        self.decisions.append(decision)
        return self


def _merged(decisions: list[Decision]) -> Decision:
    return Decision(
        tuple(e for d in decisions for e in d.events),
        tuple(c for d in decisions for c in d.calls),
        tuple(t for d in decisions for t in d.deadlines),
        tuple(s for d in decisions for s in d.cancelled_deadlines),
        tuple(k for d in decisions for k in d.cancelled_calls),
    )
