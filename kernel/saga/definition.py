"""A saga definition: its steps, deadlines and compensations, and its pure decide/evolve.

A saga reads like its SOP: a tuple of steps, each an `Invoke` (a call to another service
over its gRPC API, undone by another call), an `Await` (ask someone, then wait for their
answer until a deadline) or a `Wait` (until a moment of the saga's data, e.g. a day
ahead). Progress is recorded only as the owning service's domain events, named per step
(`done=SourceReserved`), so partners see business events and the saga's state is a fold
of its own stream. Nothing here does I/O: `decide` says
which events to record, which calls to put in the outbox and which deadlines to keep.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Generic, TypeVar

from kernel.errors import RuleViolated
from kernel.saga.decisions import (
    Deadline,
    DeadlinePassed,
    Decision,
    OperatorCancel,
    OperatorResolve,
    OperatorRetry,
    Outgoing,
    Replied,
    Signalled,
    Start,
    Trigger,
)
from kernel.saga.steps import (
    NOTHING_TO_UNDO,
    Await,
    EventClass,
    Invoke,
    Outcome,
    Reply,
    Retry,
    Status,
    Step,
    Wait,
)

D = TypeVar("D")

# Refusal reasons a caller of the saga's service sees (FAILED_PRECONDITION).
NOT_AWAITING = "SAGA_NOT_AWAITING"
ALREADY_STARTED = "SAGA_ALREADY_STARTED"
# Refusals of an operator's retry, cancel or resolve (kernel/saga/admin.py).
ALREADY_ENDED = "SAGA_ALREADY_ENDED"
NOTHING_TO_RETRY = "SAGA_NOTHING_TO_RETRY"
CANNOT_CANCEL = "SAGA_CANNOT_CANCEL"
NOT_FAILED = "SAGA_NOT_FAILED"
NO_OPERATOR_EVENTS = "SAGA_HAS_NO_OPERATOR_EVENTS"


@dataclass(frozen=True)
class SagaState(Generic[D]):
    data: D | None = None
    status: Status = Status.NEW
    step: int = 0
    # Steps whose effect exists (or may exist) and has an undo, in the order they ran.
    done: tuple[int, ...] = ()
    # Steps still to undo, the next first.
    to_undo: tuple[int, ...] = ()
    reason: str = ""
    round: int = 0
    # An operator cancelled it: compensate to the end, no further round.
    cancelled: bool = False
    # A step that stops on failure was refused or expired ("refused"/"expired"): its
    # `failed` follows in the same decision. Left set between decisions only by a stream
    # written before the step stopped on failure, which undid the steps before it then:
    # that undo is under way (`_undoing`).
    stopping: str = ""


UNDO = ".undo"


@dataclass(frozen=True)
class Saga(Generic[D]):
    """One saga type. `evolve_data` folds every event of the stream into the data the
    steps build their calls and events from."""

    name: str
    started_by: EventClass
    evolve_data: Callable[[D | None, Any], D]
    steps: tuple[Step, ...]
    completed: EventClass
    compensated: EventClass
    failed: EventClass
    retry: Retry | None = None
    # What an operator's retry, cancel and resolve record (kernel/saga/admin.py); built
    # with `cls.of(data, reply)`, the reply's reason saying who did it and why (a resolve's
    # reply also carries `operator` and `why` in its response). The resolve is the saga's
    # last event: it ends RESOLVED.
    operator_retried: EventClass | None = None
    operator_cancelled: EventClass | None = None
    operator_resolved: EventClass | None = None
    transitions: dict[EventClass, tuple[str, int]] = field(init=False, compare=False)

    def __post_init__(self) -> None:
        table: dict[EventClass, tuple[str, int]] = {}

        def bind(cls: EventClass | None, kind: str, index: int) -> None:
            if cls is None:
                return
            if cls in table:
                raise ValueError(f"saga {self.name}: {cls.__name__} marks two transitions")
            table[cls] = (kind, index)

        bind(self.started_by, "started", -1)
        for i, step in enumerate(self.steps):
            if isinstance(step, Wait):
                bind(step.then, "done", i)
                bind(step.refused, "refused", i)
                continue
            bind(step.done, "done", i)
            bind(step.refused, "refused", i)
            bind(step.expired, "expired", i)
            if isinstance(step, Await):
                bind(step.ask, "asked", i)
            else:
                bind(step.undone, "undone", i)
                if (step.undo is None) != (step.undone is None):
                    raise ValueError(f"saga {self.name}: step {step.name} needs undo and undone")
                if step.undo is not None and step.expired is None:
                    # A call unanswered (deadline, retries exhausted) may have acted: its
                    # `expired` event marks it to be undone.
                    raise ValueError(f"saga {self.name}: step {step.name} needs expired")
                if step.deadline is not None and step.expired is None:
                    raise ValueError(f"saga {self.name}: step {step.name} needs expired")
        bind(self.completed, "completed", -1)
        bind(self.compensated, "compensated", -1)
        bind(self.failed, "failed", -1)
        if self.retry is not None:
            bind(self.retry.event, "retried", -1)
        bind(self.operator_retried, "operator_retried", -1)
        bind(self.operator_cancelled, "operator_cancelled", -1)
        bind(self.operator_resolved, "operator_resolved", -1)
        object.__setattr__(self, "transitions", table)

    def initial_state(self) -> SagaState[D]:
        return SagaState()

    def key(self, state: SagaState[D], step: int) -> str:
        """Names a step's call and deadline: `reserve`, then `reserve#1` in the next round,
        so each round's calls carry request ids of their own."""
        name = self.steps[step].name
        return name if state.round == 0 else f"{name}#{state.round}"

    def pending_call(self, state: SagaState[D]) -> str | None:
        """The key of the call whose reply the saga waits for, if any."""
        state = self._undoing(state)
        running = state.status is Status.RUNNING and state.step < len(self.steps)
        if running and isinstance(self.steps[state.step], Invoke):
            return self.key(state, state.step)
        if state.status is Status.COMPENSATING and state.to_undo:
            return self.key(state, state.to_undo[0]) + UNDO
        return None

    def evolve(self, state: SagaState[D], event: Any) -> SagaState[D]:
        data = self.evolve_data(state.data, event)
        kind, i = self.transitions.get(type(event), ("data", -1))
        state = replace(state, data=data)
        if kind != "failed":
            state = self._undoing(state)
        if kind == "started":
            return replace(state, status=Status.RUNNING, step=0)
        if kind == "done":
            step = self.steps[i]
            undoable = isinstance(step, Invoke) and step.undo is not None
            return replace(state, step=i + 1, done=(*state.done, i) if undoable else state.done)
        if kind in ("refused", "expired"):
            step = self.steps[i]
            if isinstance(step, Invoke) and step.stops(unanswered=kind == "expired"):
                # `failed` follows
                return replace(state, reason=f"{step.name} {kind}", stopping=kind)
            return self._compensating(state, i, kind)
        if kind == "undone":
            return replace(state, to_undo=tuple(j for j in state.to_undo if j != i))
        if kind == "completed":
            return replace(state, status=Status.COMPLETED)
        if kind == "compensated":
            return replace(state, status=Status.COMPENSATED)
        if kind == "failed":
            state = replace(state, stopping="")
            if state.status is Status.RUNNING:
                # A step that stops on failure: its call is what an operator sees to.
                reason = state.reason or f"{self.steps[state.step].name} failed"
                return replace(state, status=Status.FAILED, reason=reason)
            # Say which undo is left: that is what an operator must see to.
            left = state.to_undo[0] if state.to_undo else None
            reason = state.reason if left is None else f"{self.steps[left].name}{UNDO} failed"
            return replace(state, status=Status.FAILED, reason=reason)
        if kind == "operator_retried":
            # A failed undo is tried again, or the call of a step that stopped on failure;
            # a call still in flight just goes again now.
            status = state.status
            if status is Status.FAILED:
                status = Status.COMPENSATING if state.to_undo else Status.RUNNING
            return replace(state, status=status)
        if kind == "operator_cancelled":
            done = state.done
            current = self.steps[state.step] if state.step < len(self.steps) else None
            if state.status is Status.RUNNING and isinstance(current, Invoke) and current.undo:
                done = (*done, state.step)  # its call may have acted: undo it too
            to_undo = (
                state.to_undo if state.status is Status.COMPENSATING else tuple(reversed(done))
            )
            return replace(
                state,
                status=Status.COMPENSATING,
                done=done,
                to_undo=to_undo,
                reason="cancelled by an operator",
                cancelled=True,
            )
        if kind == "operator_resolved":
            # What was left is said with the end: the undo (or call) set right by hand.
            reason = f"resolved by hand: {state.reason}" if state.reason else "resolved by hand"
            return replace(state, status=Status.RESOLVED, reason=reason)
        if kind == "retried":
            return replace(
                state,
                status=Status.RUNNING,
                step=0,
                done=(),
                to_undo=(),
                reason="",
                round=state.round + 1,
            )
        return state

    def decide(self, state: SagaState[D], trigger: Trigger) -> Decision:
        return _Deciding(self, self._undoing(state)).run(trigger)

    def _compensating(self, state: SagaState[D], i: int, kind: str) -> SagaState[D]:
        """Step `i` was refused or expired: undo the steps done, the last first."""
        step = self.steps[i]
        done = state.done
        # An Invoke step expired while its call was in flight may still take effect.
        if kind == "expired" and isinstance(step, Invoke) and step.undo is not None:
            done = (*done, i)
        return replace(
            state,
            status=Status.COMPENSATING,
            done=done,
            to_undo=tuple(reversed(done)),
            reason=f"{step.name} {kind}",
            stopping="",
        )

    def _undoing(self, state: SagaState[D]) -> SagaState[D]:
        """A stopping step's refusal with no `failed` after it: the stream was written
        before the step stopped on failure (e.g. SOP 2's `complete`), when its refusal
        undid the steps before it. That undo is under way: its reply and events go on
        as they would have, not a wait for a call no one sends again."""
        if not state.stopping:
            return state
        return self._compensating(state, state.step, state.stopping)


class _Deciding(Generic[D]):
    """One decision: records events on a local copy of the state as it goes, so each
    transition sees the data the previous one left."""

    def __init__(self, saga: Saga[D], state: SagaState[D]) -> None:
        self.saga = saga
        self.state = state
        self.events: list[Any] = []
        self.calls: list[Outgoing] = []
        self.deadlines: list[Deadline] = []
        self.cancelled_deadlines: list[str] = []
        self.cancelled_calls: list[str] = []

    def record(self, event: Any) -> None:
        self.events.append(event)
        self.state = self.saga.evolve(self.state, event)

    def emit(self, cls: EventClass, reply: Reply) -> None:
        self.record(cls.of(self.state.data, reply))

    def run(self, trigger: Trigger) -> Decision:
        match trigger:
            case Start(event=event, at=at):
                if self.state.status is not Status.NEW:
                    raise RuleViolated(ALREADY_STARTED, f"{self.saga.name} already started")
                if not isinstance(event, self.saga.started_by):
                    raise TypeError(f"{self.saga.name} starts with {self.saga.started_by}")
                self.record(event)
                self.enter(0, Reply(at=at))
            case Replied(key=key, reply=reply):
                if key == self.saga.pending_call(self.state):
                    self.replied(key, reply)
                # else: a late or repeated reply of a call the saga gave up on: nothing.
            case Signalled(event=event, at=at):
                self.signalled(event, Reply(at=at))
            case OperatorRetry(at=at, operator=operator):
                self.operator_retry(Reply(at=at, reason=f"retried by {operator}"))
            case OperatorCancel(at=at, operator=operator, why=why):
                self.operator_cancel(Reply(at=at, reason=f"cancelled by {operator}: {why}"))
            case OperatorResolve(at=at, operator=operator, why=why):
                self.operator_resolve(
                    Reply(
                        at=at,
                        response={"operator": operator, "why": why},
                        reason=f"resolved by {operator}: {why}",
                    )
                )
            case DeadlinePassed(key=key, at=at):
                i = self.state.step
                if self.state.status is Status.RUNNING and self.saga.key(self.state, i) == key:
                    step = self.saga.steps[i]
                    if isinstance(step, Wait):
                        self.emit(step.then, Reply(at=at))
                        self.enter(i + 1, Reply(at=at))
                        return self.decision()
                    assert step.expired is not None
                    if isinstance(step, Invoke):
                        self.cancelled_calls.append(key)
                    self.emit(step.expired, Reply(at=at, outcome=Outcome.REFUSED))
                    if isinstance(step, Invoke) and step.stops(unanswered=True):
                        # Unanswered by its deadline, as when retries run out: it stops.
                        self.emit(self.saga.failed, Reply(at=at))
                    else:
                        self.compensate(Reply(at=at))
        return self.decision()

    def decision(self) -> Decision:
        return Decision(
            tuple(self.events),
            tuple(self.calls),
            tuple(self.deadlines),
            tuple(self.cancelled_deadlines),
            tuple(self.cancelled_calls),
        )

    def operator_event(self, cls: EventClass | None, act: str) -> EventClass:
        if cls is None:
            raise RuleViolated(NO_OPERATOR_EVENTS, f"{self.saga.name} records no operator {act}")
        return cls

    def ended(self, *also: Status) -> None:
        status = self.state.status
        if status in (Status.COMPLETED, Status.COMPENSATED, Status.RESOLVED, *also):
            hint = ": retry it, or resolve it by hand" if status is Status.FAILED else ""
            raise RuleViolated(
                ALREADY_ENDED,
                f"{self.saga.name} already ended {status.value}"
                + (f" ({self.state.reason})" if self.state.reason else "")
                + hint,
                subject=self.saga.name,
                metadata={"status": status.value},
            )

    def failed_call(self) -> str:
        """The key of the call a FAILED saga is stuck on: its undo that failed, or the call
        of a step that stopped on failure."""
        if self.state.to_undo:
            return self.saga.key(self.state, self.state.to_undo[0]) + UNDO
        return self.saga.key(self.state, self.state.step)

    def operator_retry(self, reply: Reply) -> None:
        event = self.operator_event(self.saga.operator_retried, "retry")
        self.ended()
        key = self.saga.pending_call(self.state)
        if self.state.status is Status.FAILED:
            key = self.failed_call()
        if key is None:
            waiting = self.saga.steps[self.state.step].name
            raise RuleViolated(
                NOTHING_TO_RETRY,
                f"{self.saga.name} makes no call now: it waits for {waiting}",
                subject=self.saga.name,
                metadata={"step": waiting},
            )
        self.emit(event, reply)
        if self.state.status is Status.COMPENSATING:
            step = self.saga.steps[self.state.to_undo[0]]
            assert isinstance(step, Invoke) and step.undo is not None
            self.calls.append(Outgoing(key, step.undo(self.state.data)))
        else:
            step = self.saga.steps[self.state.step]
            assert isinstance(step, Invoke)
            self.calls.append(Outgoing(key, step.call(self.state.data)))

    def operator_cancel(self, reply: Reply) -> None:
        event = self.operator_event(self.saga.operator_cancelled, "cancel")
        self.ended(Status.FAILED)
        if self.state.cancelled:
            raise RuleViolated(
                ALREADY_ENDED, f"{self.saga.name} is already being cancelled", self.saga.name
            )
        if self.state.status is Status.COMPENSATING:
            self.emit(event, reply)  # its undo is under way; no further round after it
            return
        i = self.state.step
        step = self.saga.steps[i]
        if isinstance(step, Invoke) and step.undo is None:
            raise RuleViolated(
                CANNOT_CANCEL,
                f"{self.saga.name} is at {step.name}, which cannot be undone: retry it",
                subject=self.saga.name,
                metadata={"step": step.name},
            )
        self.leave(i)
        if isinstance(step, Invoke):
            self.cancelled_calls.append(self.saga.key(self.state, i))
        self.emit(event, reply)
        self.compensate(reply)

    def operator_resolve(self, reply: Reply) -> None:
        event = self.operator_event(self.saga.operator_resolved, "resolve")
        self.ended()
        if self.state.status is not Status.FAILED:
            # Still acting on its own: resolving it would race its call. Retry or cancel it.
            raise RuleViolated(
                NOT_FAILED,
                f"{self.saga.name} is {self.state.status.value}, not failed: only a failed "
                "saga is resolved by hand (retry or cancel this one)",
                subject=self.saga.name,
                metadata={"status": self.state.status.value},
            )
        # Never sent again: the call it is stuck on leaves the outbox, should it be there.
        self.cancelled_calls.append(self.failed_call())
        self.emit(event, reply)

    def enter(self, i: int, reply: Reply) -> None:
        if i == len(self.saga.steps):
            self.emit(self.saga.completed, reply)
            return
        step = self.saga.steps[i]
        key = self.saga.key(self.state, i)
        if isinstance(step, Wait):
            due = step.until(self.state.data) + step.deadline
            if due <= reply.at:
                self.emit(step.then, reply)
                self.enter(i + 1, reply)
            else:
                self.deadlines.append(Deadline(key, due))
            return
        if isinstance(step, Invoke):
            self.calls.append(Outgoing(key, step.call(self.state.data)))
        else:
            self.emit(step.ask, reply)
        if step.deadline is not None:
            since = reply.at
            if isinstance(step, Await) and step.until is not None:
                since = step.until(self.state.data)
            self.deadlines.append(Deadline(key, since + step.deadline))

    def leave(self, i: int) -> None:
        # A Wait always keeps a deadline (its moment), unless it went on at once.
        if self.saga.steps[i].deadline is not None:
            self.cancelled_deadlines.append(self.saga.key(self.state, i))

    def replied(self, key: str, reply: Reply) -> None:
        if self.state.status is Status.COMPENSATING:
            i = self.state.to_undo[0]
            step = self.saga.steps[i]
            assert isinstance(step, Invoke) and step.undone is not None
            if reply.ok or reply.reason == NOTHING_TO_UNDO:
                self.emit(step.undone, reply)
                self.compensate(reply)
            else:
                self.emit(self.saga.failed, reply)
            return
        i = self.state.step
        step = self.saga.steps[i]
        assert isinstance(step, Invoke)  # only an Invoke's call is awaited (pending_call)
        self.leave(i)
        if reply.ok:
            self.emit(step.done, reply)
            self.enter(i + 1, reply)
        elif step.stops(unanswered=reply.outcome is Outcome.EXHAUSTED):
            if reply.outcome is Outcome.REFUSED:
                self.emit(step.refused, reply)
            elif step.expired is not None:
                self.emit(step.expired, reply)
            self.emit(self.saga.failed, reply)
        elif reply.outcome is Outcome.EXHAUSTED and step.expired is not None:
            self.emit(step.expired, reply)
            self.compensate(reply)
        else:
            self.emit(step.refused, reply)
            self.compensate(reply)

    def signalled(self, event: Any, reply: Reply) -> None:
        step = self.saga.steps[self.state.step] if self.state.status is Status.RUNNING else None
        if isinstance(step, Wait) and step.refused is not None and isinstance(event, step.refused):
            self.leave(self.state.step)
            self.record(event)
            self.compensate(reply)
            return
        if not isinstance(step, Await) or not isinstance(event, step.done | step.refused):
            raise RuleViolated(
                NOT_AWAITING,
                f"{self.saga.name} is not waiting for {type(event).__name__}",
                subject=self.saga.name,
                metadata={"status": self.state.status.value},
            )
        self.leave(self.state.step)
        self.record(event)
        if isinstance(event, step.done):
            self.enter(self.state.step, reply)
        else:
            self.compensate(reply)

    def compensate(self, reply: Reply) -> None:
        if self.state.to_undo:
            i = self.state.to_undo[0]
            step = self.saga.steps[i]
            assert isinstance(step, Invoke) and step.undo is not None
            key = self.saga.key(self.state, i) + UNDO
            self.calls.append(Outgoing(key, step.undo(self.state.data)))
        elif (
            self.saga.retry is not None
            and not self.state.cancelled
            and self.saga.retry.when(self.state.data)
        ):
            self.emit(self.saga.retry.event, reply)
            self.enter(0, reply)
        else:
            self.emit(self.saga.compensated, reply)
