"""In-memory fakes of the unit of work and the application, for fast handler tests.

In the style of cosmicpython's FakeUnitOfWork: streams are lists of events, timers a dict,
and the kernel's own execute and policy reactions run unchanged on top. A handler that
reads the read model (uow.conn) needs the database and belongs in an integration test.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar, cast

from kernel.application import Aggregate, Loaded, Policy, UnitOfWork
from kernel.clock import Clock, ManualClock
from kernel.errors import ConcurrencyConflict

S = TypeVar("S")
R = TypeVar("R")


@dataclass(frozen=True)
class ScheduledTimer:
    kind: str
    due_at: datetime
    payload: Any


class FakeUnitOfWork(UnitOfWork):
    """A unit of work over in-memory streams; `streams` and `timers` are what it left."""

    def __init__(self, clock: Clock, policies: Sequence[Policy] = ()) -> None:
        super().__init__(
            conn=cast(Any, None),
            clock=clock,
            registry=cast(Any, None),
            store=cast(Any, None),
            projectors=(),
            policies=policies,
        )
        self.streams: dict[str, list[Any]] = {}
        self.timers: dict[str, ScheduledTimer] = {}

    def given(self, stream_id: str, *events: Any) -> None:
        self.streams.setdefault(stream_id, []).extend(events)

    async def load(self, aggregate: Aggregate[S], stream_id: str) -> Loaded[S]:
        events = self.streams.get(stream_id, [])
        return Loaded(stream_id, aggregate.decider.fold(events), len(events))

    async def record(
        self, aggregate: Aggregate[S], loaded: Loaded[S], new_events: Sequence[Any]
    ) -> S:
        if not new_events:
            return loaded.state
        stream = self.streams.setdefault(loaded.stream_id, [])
        if len(stream) != loaded.version:
            raise ConcurrencyConflict(loaded.stream_id, loaded.version, len(stream))
        stream.extend(new_events)
        state = loaded.state
        for event in new_events:
            state = aggregate.decider.evolve(state, event)
        loaded.state, loaded.version = state, len(stream)
        await self._react(new_events)
        return state

    async def schedule(self, timer_id: str, kind: str, due_at: datetime, payload: Any) -> None:
        self.timers[timer_id] = ScheduledTimer(kind, due_at, payload)

    async def cancel_timer(self, timer_id: str) -> None:
        self.timers.pop(timer_id, None)


class FakeApplication:
    """Stands in for kernel.application.Application: every command runs on one
    FakeUnitOfWork (`uow`), a repeated request id answers its first result."""

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock = clock or ManualClock()
        self.policies: list[Policy] = []
        self.uow = FakeUnitOfWork(self.clock, self.policies)
        self.results: dict[str, Any] = {}

    def add_policies(self, *policies: Policy) -> None:
        self.policies.extend(p for p in policies if p not in self.policies)

    def notify_on_commit(self, callback: Callable[[], None]) -> None:
        """Nothing is committed anywhere, so nothing is woken."""

    async def handle(
        self,
        command: Any,
        handler: Callable[[UnitOfWork], Awaitable[R]],
        *,
        request_id: str | None = None,
        result_type: Any = None,
        context_fields: Sequence[str] = (),
    ) -> R:
        if request_id and request_id in self.results:
            return cast(R, self.results[request_id])
        result = await handler(self.uow)
        if request_id:
            self.results[request_id] = result
        return result

    async def query(self, fn: Callable[[Any], Awaitable[R]]) -> R:
        raise NotImplementedError("queries read the database: test them in integration")
