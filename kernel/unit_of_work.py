"""A unit of work: one transaction's aggregate loads, appends, projections, timers and the
reactions of one stream to another (policies); `Application.handle` runs one per attempt."""

from __future__ import annotations

import contextlib
import dataclasses
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

from sqlalchemy import Table, bindparam
from sqlalchemy.ext.asyncio import AsyncConnection

from kernel.aggregate_cache import AggregateCache, Entry
from kernel.clock import Clock
from kernel.codec import from_json, to_json
from kernel.command_writes import DeferredUpserts, TimerRow, UpsertShape, write
from kernel.db import upsert
from kernel.decider import Decider
from kernel.errors import ConcurrencyConflict
from kernel.events import EventRegistry
from kernel.eventstore import (
    ANY_VERSION,
    EventStore,
    NewEvent,
    RecordedEvent,
    StreamAppend,
    snapshots,
    timers,
)

S = TypeVar("S")


@dataclass(frozen=True)
class Aggregate(Generic[S]):
    """An aggregate type: its decider, stream naming and snapshot policy."""

    category: str
    decider: Decider[S, Any, Any]
    state_type: type[S]
    store_of: Callable[[Any], str]
    snapshot_every: int = 100

    def stream_id(self, *key: str) -> str:
        """`category/key/...`: keys before the last must not contain '/' (store codes)."""
        return "/".join((self.category, *key))


@dataclass
class Loaded(Generic[S]):
    stream_id: str
    state: S
    version: int


@dataclass(frozen=True)
class Executed(Generic[S]):
    events: list[Any]
    state: S


@dataclass(frozen=True)
class Policy:
    """A reaction of one stream to another's event, in the same unit of work: when an event
    of `reacts_to` is recorded, the command `command_of` makes of it runs on the stream
    `stream_of` names, so both ends commit together (e.g. a transfer shipped is expected
    at its destination)."""

    reacts_to: type
    aggregate: Aggregate[Any]
    command_of: Callable[[Any], Any]
    stream_of: Callable[[Any], str]


class Projector(Protocol):
    async def __call__(
        self, uow: UnitOfWork, event: Any, recorded: RecordedEvent, state: Any
    ) -> None: ...


@dataclass
class _Queued:
    """A record() waiting for the end of its batch (or, in `pending`, appends waiting for
    the closing statement): the stream as loaded, the events, each one's resulting state
    and recording time."""

    aggregate: Aggregate[Any] | None  # None: events appended without an aggregate
    before: Loaded[Any]
    events: list[Any] = field(default_factory=list)
    new: list[NewEvent] = field(default_factory=list)
    states: list[Any] = field(default_factory=list)
    at: list[datetime] = field(default_factory=list)

    @property
    def version(self) -> int:
        return self.before.version + len(self.new)


@dataclass
class UnitOfWork:
    """One database transaction: loads aggregates, records their events, schedules timers.

    With a `cache`, every stream this unit of work writes is dropped from it at once (the
    state is not committed yet) and `seen` holds each stream's latest state in this
    transaction, for the application to keep once it has committed. Only with
    `read_cached` are loads answered from the cache; `unguarded` then names the streams
    read from it that no append of this transaction checked.
    """

    conn: AsyncConnection
    clock: Clock
    registry: EventRegistry
    store: EventStore
    projectors: Sequence[Projector]
    metadata: dict[str, Any] = field(default_factory=dict)
    recorded: list[RecordedEvent] = field(default_factory=list)
    policies: Sequence[Policy] = ()
    cache: AggregateCache | None = None
    read_cached: bool = False
    seen: dict[str, Entry] = field(default_factory=dict)
    from_cache: set[str] = field(default_factory=set)
    appended: set[str] = field(default_factory=set)
    # Timers armed by this unit of work, written with the command log at its end; None:
    # written at once (timers, consumers and sagas outside `handle` write no log).
    armed: dict[str, TimerRow] | None = None
    # Appends waiting for the end of an `appends_batched` block, by stream (None: none).
    batched: dict[str, _Queued] | None = None
    # Read-model rows written with the command log at the end; None: written at once.
    deferred: DeferredUpserts | None = None
    # Appends waiting for the command's closing statement, by stream (None: each append is
    # sent at once). Projections, snapshots and reactions run at once on the recorded
    # events, whose `position` and `tx_id` are 0 until `settle` (Application.handle on
    # PostgreSQL, for projectors that do not read them).
    pending: dict[str, _Queued] | None = None

    @property
    def unguarded(self) -> set[str]:
        return self.from_cache - self.appended

    def queued(self, stream_id: str) -> Loaded[Any] | None:
        """The state of a stream recorded in this unit of work and waiting for the closing
        statement (the store does not hold those events yet), None for any other."""
        queued = self.pending.get(stream_id) if self.pending else None
        if queued is None:
            return None
        if queued.aggregate is None or not queued.states:
            raise RuntimeError(f"{stream_id} loaded after a raw append in this unit of work")
        return Loaded(stream_id, queued.states[-1], queued.version)

    async def load(self, aggregate: Aggregate[S], stream_id: str) -> Loaded[S]:
        recorded_here = self.queued(stream_id)
        if recorded_here is not None:  # recorded in this unit of work, not appended yet
            return recorded_here
        known: Loaded[S] | None = self.cached(stream_id)
        if known is not None:
            return known
        loaded = await self._load_from_store(aggregate, stream_id)
        self.loaded_from_store(loaded)
        return loaded

    def cached(self, stream_id: str) -> Loaded[Any] | None:
        """The stream as seen earlier in this unit of work or, with `read_cached`, as the
        cache holds it (then named in `unguarded` until appended to); None: load it from
        the store, then `loaded_from_store`."""
        if self.cache is None or not self.read_cached:
            return None
        known = self.seen.get(stream_id)
        if known is None:
            known = self.cache.get(stream_id)
            if known is None:
                return None
            self.from_cache.add(stream_id)
        self.seen[stream_id] = known
        return Loaded(stream_id, known.state, known.version)

    def loaded_from_store(self, loaded: Loaded[Any]) -> None:
        """A stream this unit of work read from the store (kept in the cache once the
        unit of work commits)."""
        if self.cache is not None:
            self.seen[loaded.stream_id] = Entry(loaded.version, loaded.state)

    async def _load_from_store(self, aggregate: Aggregate[S], stream_id: str) -> Loaded[S]:
        state: S | None = None
        version = 0
        snapshot = await self.store.load_snapshot(self.conn, stream_id)
        if snapshot is not None:
            version, raw = snapshot
            state = from_json(raw, aggregate.state_type)
        recorded = await self.store.read_stream(self.conn, stream_id, after_version=version)
        state = aggregate.decider.fold(
            (self.registry.decode(r.event_type, r.payload) for r in recorded), state
        )
        return Loaded(stream_id, state, version + len(recorded))

    async def record(
        self, aggregate: Aggregate[S], loaded: Loaded[S], new_events: Sequence[Any]
    ) -> S:
        """Append the events at the loaded version, project them, snapshot when due.

        Inside `appends_batched()` the append, projections, snapshot and reactions wait
        for the block's end (one statement for every stream of the block); the new state
        is returned at once either way.
        """
        if not new_events:
            return loaded.state
        batch = []
        for e in new_events:
            type_name, payload = self.registry.encode(e)
            batch.append(
                NewEvent(type_name, payload, aggregate.store_of(e), metadata=self.metadata)
            )
        if self.batched is not None:
            return self._queue(aggregate, loaded, new_events, batch)
        recorded = await self.append(loaded.stream_id, loaded.version, batch, aggregate)
        return await self._recorded(aggregate, loaded, new_events, recorded)

    async def append(
        self,
        stream_id: str,
        expected_version: int,
        new_events: Sequence[NewEvent],
        aggregate: Aggregate[Any] | None = None,
    ) -> list[RecordedEvent]:
        """Append at the expected version: at once, or with `pending` at the closing
        statement (the recorded events then carry position and tx_id 0 until `settle`).
        No events: nothing (as `EventStore.append`; a queued claim alone would create the
        stream at version 0)."""
        if not new_events:
            return []
        now = self.clock.now()
        if self.pending is None:
            return await self.store.append(self.conn, stream_id, expected_version, new_events, now)
        queued = self.pending.get(stream_id)
        if expected_version == ANY_VERSION:
            if queued is None:  # no version to claim at the close: the store finds it now
                return await self.store.append(
                    self.conn, stream_id, expected_version, new_events, now
                )
            expected_version = queued.version
        if queued is None:
            before = Loaded(stream_id, None, expected_version)
            queued = self.pending[stream_id] = _Queued(aggregate, before)
        elif expected_version != queued.version:
            # As the append at once would: the stream is not at that version.
            raise ConcurrencyConflict(stream_id, expected_version, queued.version)
        if aggregate is None:  # a raw append: no state of the stream holds its events
            queued.aggregate = None
        recorded = [
            RecordedEvent(
                0,
                0,
                stream_id,
                expected_version + 1 + i,
                e.event_id,
                e.event_type,
                e.store_id,
                e.payload,
                e.metadata,
                now,
            )
            for i, e in enumerate(new_events)
        ]
        queued.new.extend(new_events)
        queued.at.extend(now for _ in new_events)
        return recorded

    def settle(self, tx_id: int, positions: Sequence[int]) -> None:
        """The closing statement appended the pending events (`positions` in the order of
        `pending` and each stream's events): `recorded` gets their positions."""
        assert self.pending is not None
        known: dict[uuid.UUID, int] = {}
        events = (e for q in self.pending.values() for e in q.new)
        for e, position in zip(events, positions, strict=True):
            known[e.event_id] = position
        self.recorded = [
            dataclasses.replace(r, position=known[r.event_id], tx_id=tx_id)
            if r.position == 0 and r.event_id in known
            else r
            for r in self.recorded
        ]

    async def _recorded(
        self,
        aggregate: Aggregate[S],
        loaded: Loaded[S],
        new_events: Sequence[Any],
        recorded: Sequence[RecordedEvent],
        states: Sequence[S] = (),
    ) -> S:
        """Project the recorded events (`states`: each event's resulting state, when the
        caller has them already), snapshot when due, react."""
        self.recorded.extend(recorded)
        state = loaded.state
        for k, (event, r) in enumerate(zip(new_events, recorded, strict=True)):
            state = states[k] if states else aggregate.decider.evolve(state, event)
            for project in self.projectors:
                await project(self, event, r, state)
        new_version = loaded.version + len(recorded)
        if new_version // aggregate.snapshot_every > loaded.version // aggregate.snapshot_every:
            await self._snapshot(loaded.stream_id, new_version, state)
        if self.pending:
            queued = self.pending.get(loaded.stream_id)
            if queued is not None:
                queued.states.append(state)
        loaded.state, loaded.version = state, new_version
        self.written(loaded)
        await self._react(new_events)
        return state

    async def _snapshot(self, stream_id: str, version: int, state: Any) -> None:
        if self.pending is not None and self.deferred is not None:
            # With the appends, in the closing statement (the last one of the stream wins).
            values = {"stream_id": stream_id, "version": version, "state": to_json(state)}
            await self.upsert_at_end(snapshots, values, ["stream_id"])
        else:
            await self.store.save_snapshot(self.conn, stream_id, version, to_json(state))

    def written(self, loaded: Loaded[Any]) -> None:
        """`loaded` (its state and version after this unit of work's events) was appended
        to here: out of the cache until the unit of work commits, then kept in it."""
        if self.cache is not None:
            self.cache.drop((loaded.stream_id,))
            self.appended.add(loaded.stream_id)
            self.seen[loaded.stream_id] = Entry(loaded.version, loaded.state)

    def _queue(
        self,
        aggregate: Aggregate[S],
        loaded: Loaded[S],
        new_events: Sequence[Any],
        batch: list[NewEvent],
    ) -> S:
        assert self.batched is not None
        if loaded.stream_id in self.batched:
            raise ValueError(f"{loaded.stream_id} recorded twice in one batch of appends")
        queued = _Queued(aggregate, Loaded(loaded.stream_id, loaded.state, loaded.version))
        queued.events, queued.new = list(new_events), batch
        self.batched[loaded.stream_id] = queued
        state = loaded.state
        for event in new_events:
            state = aggregate.decider.evolve(state, event)
            queued.states.append(state)
        loaded.state, loaded.version = state, loaded.version + len(new_events)
        self.written(loaded)
        return state

    @contextlib.asynccontextmanager
    async def appends_batched(self) -> AsyncIterator[None]:
        """For a batch command recording hundreds of streams: every append of the block
        goes to the database in one statement as the block ends, then the projections,
        snapshots and reactions run in the order recorded. Each stream at most once per
        block, and nothing in the block may read back what it recorded."""
        if self.batched is not None:
            raise RuntimeError("appends are already batched")
        if self.pending:
            raise RuntimeError("appends_batched after appends left for the closing statement")
        self.pending = None  # the block appends in a statement of its own
        self.batched = {}
        try:
            yield
            queued = list(self.batched.values())
        finally:
            self.batched = None
        appends = [StreamAppend(q.before.stream_id, q.before.version, q.new) for q in queued]
        recorded = await self.store.append_many(self.conn, appends, self.clock.now())
        for q, r in zip(queued, recorded, strict=True):
            assert q.aggregate is not None
            await self._recorded(q.aggregate, q.before, q.events, r, q.states)

    async def _react(self, new_events: Sequence[Any]) -> None:
        for event in new_events:
            for policy in self.policies:
                if isinstance(event, policy.reacts_to):
                    command = policy.command_of(event)
                    await self.execute(policy.aggregate, policy.stream_of(command), command)

    async def execute(self, aggregate: Aggregate[S], stream_id: str, command: Any) -> Executed[S]:
        """Load, decide, record: the three lines every command handler is made of."""
        loaded = await self.load(aggregate, stream_id)
        new_events = list(aggregate.decider.decide(command, loaded.state))
        state = await self.record(aggregate, loaded, new_events)
        return Executed(new_events, state)

    async def schedule(self, timer_id: str, kind: str, due_at: datetime, payload: Any) -> None:
        """A durable timer: fires once at due_at, in the timer runner of any replica."""
        timer = TimerRow(timer_id, kind, due_at, payload)
        if self.armed is None:
            await write(self.conn, [timer], None)
        else:
            self.armed[timer_id] = timer

    async def upsert_at_end(
        self,
        table: Table,
        values: dict[str, Any],
        keys: Sequence[str],
        *,
        increment: Sequence[str] = (),
    ) -> None:
        """A projector's upsert of a read-model row, sent with the command log as the
        command ends (on PostgreSQL in the same statement): one row per key, the last
        write wins and `increment` columns add up. Nothing in the command may read the
        row back or write it another way. Outside `handle` it is written at once."""
        if self.deferred is None:
            await upsert(self.conn, table, values, keys, increment=increment)
            return
        self.deferred.add(UpsertShape(table, tuple(values), tuple(keys), tuple(increment)), values)

    async def cancel_timer(self, timer_id: str) -> None:
        if self.armed is not None:
            self.armed.pop(timer_id, None)
        await self.conn.execute(_CANCEL_TIMER, {"timer_id": timer_id})


_CANCEL_TIMER = timers.delete().where(timers.c.timer_id == bindparam("timer_id"))
