"""A saga runtime that settles in the transaction that completes the saga: the points and
HQ's costs are recorded with the completion, or not at all (SOP 2 and SOP 3)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from kernel.application import UnitOfWork
from kernel.saga import Saga, SagaRuntime, SagaState
from kernel.saga.definition import Trigger

D = TypeVar("D")


class SettlingRuntime(SagaRuntime[D]):
    def __init__(
        self,
        saga: Saga[D],
        completed: type[Any],
        settle: Callable[[D, Any], list[Any]],
    ) -> None:
        super().__init__(saga, store_of=lambda e: e.store_id)
        self.completed = completed
        self.settle = settle

    async def feed(self, uow: UnitOfWork, saga_id: str, trigger: Trigger) -> SagaState[D]:
        already = len(uow.recorded)
        state = await super().feed(uow, saga_id, trigger)
        done = [
            event
            for event in (
                uow.registry.decode(r.event_type, r.payload) for r in uow.recorded[already:]
            )
            if isinstance(event, self.completed)
        ]
        if done and state.data is not None:
            loaded = await uow.load(self.aggregate, self.stream_id(saga_id))
            state = await uow.record(self.aggregate, loaded, self.settle(state.data, done[0]))
        return state

    async def append(self, uow: UnitOfWork, saga_id: str, events: list[Any]) -> SagaState[D]:
        """Facts recorded after the saga's steps (a rating): folded into its data only."""
        loaded = await uow.load(self.aggregate, self.stream_id(saga_id))
        return await uow.record(self.aggregate, loaded, events)
