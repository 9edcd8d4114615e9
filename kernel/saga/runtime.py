"""Running a saga inside a unit of work: its stream, its outbox of calls, its deadlines.

Every trigger (the starting command, a reply, a signal, a deadline) is one transaction:
load the saga's stream, decide, then record the events, insert the outgoing calls into
`saga_calls` and keep the deadlines as durable timers, all or nothing. A crash anywhere
leaves either the whole step or none of it; the dispatcher and the timer runner pick up
from the rows.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from sqlalchemy import (
    JSON,
    Column,
    Connection,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    bindparam,
    select,
)

from kernel.application import Aggregate, UnitOfWork
from kernel.db import Migration, UtcDateTime, upsert
from kernel.decider import Decider
from kernel.errors import NotFound, RuleViolated
from kernel.saga.decisions import (
    DeadlinePassed,
    Decision,
    OperatorCancel,
    OperatorResolve,
    OperatorRetry,
    Signalled,
    Start,
    Trigger,
)
from kernel.saga.definition import NOT_AWAITING, UNDO, Saga, SagaState
from kernel.saga.steps import Status
from kernel.timers import TimerHandler

D = TypeVar("D")

COMPONENT = "saga"

metadata = MetaData()

# The outbox of calls sagas decided to make. A row is deleted in the transaction that
# feeds its reply to the saga; `due_at` is the next attempt or, while a dispatcher
# performs the call, the end of its lease.
saga_calls = Table(
    "saga_calls",
    metadata,
    Column("request_id", String(64), primary_key=True),
    Column("saga", String(100), nullable=False),
    Column("saga_id", String(200), nullable=False),
    Column("call_key", String(200), nullable=False),
    Column("participant", String(100), nullable=False),
    Column("method", String(100), nullable=False),
    Column("fields", JSON, nullable=False),
    Column("due_at", UtcDateTime(timezone=True), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("last_error", Text, nullable=True),
    Column("created_at", UtcDateTime(timezone=True), nullable=False),
    # The trace context of the decision, so the call continues the request's trace.
    Column("trace", JSON, nullable=False),
    Index("ix_saga_calls_due", "due_at"),
)


# Where each saga stands, kept with every step: operators list sagas by state (the stuck,
# the failed) without folding every stream.
saga_index = Table(
    "saga_index",
    metadata,
    Column("saga", String(100), primary_key=True),
    Column("saga_id", String(200), primary_key=True),
    Column("status", String(20), nullable=False),
    Column("step", String(200), nullable=False),
    Column("reason", Text, nullable=False),
    Column("updated_at", UtcDateTime(timezone=True), nullable=False),
    Index("ix_saga_index_status", "saga", "status", "updated_at"),
)


def _create_tables(conn: Connection) -> None:
    metadata.create_all(conn)


MIGRATIONS = (Migration(1, "saga call outbox and index", _create_tables),)

# Request ids of saga calls live in their own namespace, so no caller-chosen uuid5 of the
# same text can collide with them.
REQUEST_NAMESPACE = uuid.UUID("6f1c2d3e-5a4b-4c8d-9e0f-1a2b3c4d5e6f")


def request_id(saga: str, saga_id: str, call_key: str) -> str:
    """The same for every attempt of one call of one saga: participants act once on it."""
    return str(uuid.uuid5(REQUEST_NAMESPACE, f"{saga}/{saga_id}/{call_key}"))


def deadline_kind(saga: str) -> str:
    return f"saga.{saga}.deadline"


def timer_id(saga: str, saga_id: str, key: str) -> str:
    return f"saga|{saga}|{saga_id}|{key}"


class SagaRuntime(Generic[D]):
    """A saga type at work in one service: start it, signal it, feed it replies."""

    def __init__(self, saga: Saga[D], store_of: Callable[[Any], str]) -> None:
        self.saga = saga

        def never(command: Any, state: SagaState[D]) -> list[Any]:
            raise TypeError("sagas decide on triggers, through SagaRuntime")

        self.aggregate: Aggregate[SagaState[D]] = Aggregate(
            saga.name,
            Decider(saga.initial_state, never, saga.evolve),
            SagaState,
            store_of=store_of,
            # The generic state is rebuilt from events only: saga streams are short.
            snapshot_every=1_000_000,
        )

    @property
    def name(self) -> str:
        return self.saga.name

    def stream_id(self, saga_id: str) -> str:
        return self.aggregate.stream_id(saga_id)

    async def state(self, uow: UnitOfWork, saga_id: str) -> SagaState[D]:
        return (await uow.load(self.aggregate, self.stream_id(saga_id))).state

    async def start(self, uow: UnitOfWork, saga_id: str, event: Any) -> SagaState[D]:
        return await self.feed(uow, saga_id, Start(event, uow.clock.now()))

    async def signal(self, uow: UnitOfWork, saga_id: str, event: Any) -> SagaState[D]:
        """An answer the saga awaits (a command on the service's API, another's event)."""
        return await self.feed(uow, saga_id, Signalled(event, uow.clock.now()))

    async def offer(self, uow: UnitOfWork, saga_id: str, event: Any) -> bool:
        """`signal` for another service's event (a subscription): one the saga no longer
        waits for (late, repeated) changes nothing instead of being refused."""
        try:
            await self.signal(uow, saga_id, event)
        except RuleViolated as refused:
            if refused.reason != NOT_AWAITING:
                raise
            return False
        return True

    async def retry(self, uow: UnitOfWork, saga_id: str, operator: str) -> SagaState[D]:
        """An operator re-issues the call the saga is stuck on, same request id."""
        await self._known(uow, saga_id)
        return await self.feed(uow, saga_id, OperatorRetry(uow.clock.now(), operator))

    async def cancel(self, uow: UnitOfWork, saga_id: str, operator: str, why: str) -> SagaState[D]:
        """An operator gives the saga up: it undoes its steps in reverse, ends compensated."""
        await self._known(uow, saga_id)
        return await self.feed(uow, saga_id, OperatorCancel(uow.clock.now(), operator, why))

    async def resolve(self, uow: UnitOfWork, saga_id: str, operator: str, why: str) -> SagaState[D]:
        """An operator closes a FAILED saga whose stuck call was set right by hand: the call
        leaves the outbox and the saga ends RESOLVED."""
        await self._known(uow, saga_id)
        return await self.feed(uow, saga_id, OperatorResolve(uow.clock.now(), operator, why))

    async def _known(self, uow: UnitOfWork, saga_id: str) -> None:
        if (await self.state(uow, saga_id)).status is Status.NEW:
            raise NotFound(self.name, saga_id)

    async def feed(self, uow: UnitOfWork, saga_id: str, trigger: Trigger) -> SagaState[D]:
        loaded = await uow.load(self.aggregate, self.stream_id(saga_id))
        decision = self.saga.decide(loaded.state, trigger)
        state = await uow.record(self.aggregate, loaded, decision.events)
        await self._keep(uow, saga_id, decision)
        if decision.events:
            await upsert(
                uow.conn,
                saga_index,
                {
                    "saga": self.name,
                    "saga_id": saga_id,
                    "status": state.status.value,
                    "step": self._where(state),
                    "reason": state.reason,
                    "updated_at": uow.clock.now(),
                },
                ["saga", "saga_id"],
            )
        return state

    def _where(self, state: SagaState[D]) -> str:
        if state.status is Status.COMPENSATING and state.to_undo:
            return self.saga.key(state, state.to_undo[0]) + UNDO
        if state.status is Status.RUNNING and state.step < len(self.saga.steps):
            return self.saga.key(state, state.step)
        return ""

    async def on_deadline(self, uow: UnitOfWork, payload: Any) -> None:
        await self.feed(uow, payload["saga_id"], DeadlinePassed(payload["key"], uow.clock.now()))

    def timer_handlers(self) -> dict[str, TimerHandler]:
        return {deadline_kind(self.name): self.on_deadline}

    async def _keep(self, uow: UnitOfWork, saga_id: str, decision: Decision) -> None:
        now = uow.clock.now()
        not_before = now
        trace = {k: v for k, v in uow.metadata.items() if k in ("traceparent", "tracestate")}
        for key in decision.cancelled_calls:
            row = (
                await uow.conn.execute(
                    _SELECT_CALL, {"request_id": request_id(self.name, saga_id, key)}
                )
            ).first()
            if row is None:
                continue
            if row.attempts > 0:
                # A dispatcher may be performing it: undo only after its lease ended, so
                # the undo cannot overtake the call it undoes.
                not_before = max(not_before, row.due_at)
            await uow.conn.execute(_DELETE_CALL, {"request_id": row.request_id})
        for out in decision.calls:
            await upsert(
                uow.conn,
                saga_calls,
                {
                    "request_id": request_id(self.name, saga_id, out.key),
                    "saga": self.name,
                    "saga_id": saga_id,
                    "call_key": out.key,
                    "participant": out.call.participant,
                    "method": out.call.method,
                    "fields": dict(out.call.fields),
                    "due_at": not_before,
                    "attempts": 0,
                    "last_error": None,
                    "created_at": now,
                    "trace": trace,
                },
                ["request_id"],
            )
        for key in decision.cancelled_deadlines:
            await uow.cancel_timer(timer_id(self.name, saga_id, key))
        for deadline in decision.deadlines:
            await uow.schedule(
                timer_id(self.name, saga_id, deadline.key),
                deadline_kind(self.name),
                deadline.due_at,
                {"saga_id": saga_id, "key": deadline.key},
            )


async def sagas_in(conn: Any, saga: str, status: Status, *, limit: int = 100) -> list[Any]:
    """Sagas of one type in one state, the longest unchanged first (admin views)."""
    query = (
        select(saga_index)
        .where(saga_index.c.saga == saga, saga_index.c.status == status.value)
        .order_by(saga_index.c.updated_at, saga_index.c.saga_id)
        .limit(limit)
    )
    return list((await conn.execute(query)).all())


async def pending_calls(conn: Any, saga: str | None = None) -> list[Any]:
    """The outbox as it stands (admin views, tests)."""
    query = select(saga_calls).order_by(saga_calls.c.created_at, saga_calls.c.request_id)
    if saga is not None:
        query = query.where(saga_calls.c.saga == saga)
    return list((await conn.execute(query)).all())


_SELECT_CALL = select(saga_calls).where(saga_calls.c.request_id == bindparam("request_id"))
_DELETE_CALL = saga_calls.delete().where(saga_calls.c.request_id == bindparam("request_id"))
