"""Command handling: a unit of work per attempt, idempotent retries, replayed duplicates
(the unit of work itself: kernel.unit_of_work)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import structlog
from opentelemetry import trace
from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncConnection

from kernel.aggregate_cache import AggregateCache
from kernel.clock import Clock
from kernel.codec import from_json
from kernel.command_writes import (
    CommandLogRow,
    DeferredUpserts,
    StaleRead,
    TimerRow,
    write,
    write_with_appends,
)
from kernel.db import Database, begun_driver
from kernel.errors import ConcurrencyConflict, DomainError, RuleViolated, Unavailable
from kernel.events import EventRegistry
from kernel.eventstore import EventStore, StreamAppend, command_log
from kernel.fingerprint import fingerprint as fingerprint  # re-exported: its old home
from kernel.telemetry import current_trace_metadata

# The unit of work and the aggregate types moved to kernel.unit_of_work; importers of this
# module still find them here.
from kernel.unit_of_work import (
    Aggregate,
    Executed,
    Loaded,
    Policy,
    Projector,
    UnitOfWork,
)

__all__ = [
    "REQUEST_ID_REUSED",
    "Aggregate",
    "Application",
    "Executed",
    "Loaded",
    "Policy",
    "Projector",
    "UnitOfWork",
    "fingerprint",
]

log = structlog.get_logger("storemesh.kernel.application")
tracer = trace.get_tracer("storemesh.kernel.application")

R = TypeVar("R")

# The refusal of a request id already used for a different command (FAILED_PRECONDITION;
# every service's callers see it under this reason).
REQUEST_ID_REUSED = "REQUEST_ID_REUSED"


@dataclass(frozen=True)
class _Logged:
    """A command's logged result, JSON as stored (which may be null)."""

    result: Any


class Application:
    """Runs command handlers in transactions, retrying conflicts, replaying duplicates."""

    max_attempts = 8

    def __init__(
        self,
        db: Database,
        registry: EventRegistry,
        clock: Clock,
        projectors: Sequence[Projector] = (),
        on_commit: Callable[[], None] | None = None,
        cached_aggregates: int = 10_000,
        appends_at_close: bool = True,
    ) -> None:
        """`appends_at_close` (PostgreSQL): a command's appends go in its closing statement
        (see `handle`); its projectors then see recorded events without their position
        and tx_id (0): an application whose projectors read them switches it off."""
        self.db = db
        self.appends_at_close = appends_at_close and db.is_postgres
        self.cache = AggregateCache(cached_aggregates)
        self.registry = registry
        self.clock = clock
        self.store = EventStore()
        self.projectors = list(projectors)
        self.policies: list[Policy] = []
        self._on_commit: list[Callable[[], None]] = [on_commit] if on_commit else []
        # Events the service's subscriptions have not yet had acknowledged, by subscription
        # (None: its consumer is not bound yet); the kernel's service assembly points it at
        # their JetStream consumers (kernel.subscriptions.unconsumed). Work that reads what
        # the subscriptions project (a period's close) waits for none to be left.
        self.unconsumed: Callable[[], Awaitable[dict[str, int | None]]] = _nothing_followed

    def add_policies(self, *policies: Policy) -> None:
        """Register reactions once, however often the service object is built."""
        self.policies.extend(p for p in policies if p not in self.policies)

    def notify_on_commit(self, callback: Callable[[], None]) -> None:
        """Call `callback` after every commit, besides those already asked for (the relay,
        and any loop whose work is committed rows, e.g. a saga's call outbox)."""
        self._on_commit.append(callback)

    def notify_committed(self) -> None:
        """New events are committed: wake the relay (and the others) instead of waiting for
        their next poll."""
        for callback in self._on_commit:
            callback()

    def unit_of_work(self, conn: AsyncConnection, *, read_cached: bool = False) -> UnitOfWork:
        """`read_cached` only for `handle`, which re-checks what the cache answered."""
        return UnitOfWork(
            conn=conn,
            clock=self.clock,
            registry=self.registry,
            store=self.store,
            projectors=self.projectors,
            metadata=current_trace_metadata(),
            policies=self.policies,
            cache=self.cache if self.cache.max_entries else None,
            read_cached=read_cached,
        )

    async def handle(
        self,
        command: Any,
        handler: Callable[[UnitOfWork], Awaitable[R]],
        *,
        request_id: str | None = None,
        result_type: Any = None,
        context_fields: Sequence[str] = (),
        look_up_first: bool = False,
    ) -> R:
        """Run `handler` once per request id; a repeat returns the first result unchanged.

        `context_fields` name command fields the service filled in itself (e.g. facts of
        another aggregate): a retry whose context moved on is still the same request.
        `look_up_first`: the request id is looked up before the handler runs, so a repeat
        is answered without deciding anything again: for a batch command, whose handler
        costs far more than the lookup. Otherwise a repeat is caught by the command log's
        primary key (or by the rule it now breaks) and then replayed.
        """
        command_type = type(command).__name__
        digest = fingerprint(command, context_fields)
        # Decide on cached aggregates until something suggests one of them is stale; the
        # last attempt always loads from the store, so it cannot end on a stale cache.
        fresh = False
        for attempt in range(1, self.max_attempts + 1):
            uow: UnitOfWork | None = None
            try:
                async with self.db.transaction(f"command {command_type}") as conn:
                    if request_id and look_up_first:
                        previous = await self._previous_result(conn, request_id, digest)
                        if previous is not None:
                            return from_json(previous.result, result_type)  # type: ignore[no-any-return]
                    uow = self.unit_of_work(
                        conn, read_cached=not fresh and attempt < self.max_attempts
                    )
                    uow.metadata.update(request_id=request_id or "", command=command_type)
                    uow.armed, uow.deferred = {}, DeferredUpserts()
                    if self.appends_at_close:
                        uow.pending = {}
                    result = await handler(uow)
                    logged = None
                    if request_id:
                        logged = CommandLogRow(
                            request_id, command_type, digest, result, self.clock.now()
                        )
                    await self._finish(uow, logged)
                self.cache.keep(uow.seen)
                if uow.recorded:
                    self.notify_committed()
                return result
            except _StaleCache:
                fresh = True
            except ConcurrencyConflict:
                self._forget(uow)
                if attempt == self.max_attempts:
                    raise
                look_up_first = True  # the winner may be this very request's twin
                # Jittered: writers that collided once should not collide again in step.
                await asyncio.sleep(random.uniform(0, 0.002 * attempt))
            except DomainError as exc:
                if uow is not None and uow.from_cache and not isinstance(exc, Unavailable):
                    # A refusal has no append to prove its state current: decide again
                    # on the store's state before refusing.
                    self._forget(uow)
                    fresh = True
                    continue
                if not request_id or look_up_first:
                    raise
                previous = await self._replay(request_id, digest)
                if previous is None:
                    raise
                return from_json(previous.result, result_type)  # type: ignore[no-any-return]
            except Exception as exc:
                self._forget(uow)
                if request_id and _is_duplicate_request(exc) and attempt < self.max_attempts:
                    look_up_first = True  # a twin committed first: the next pass replays it
                    continue
                raise
        raise AssertionError("unreachable")

    async def _finish(self, uow: UnitOfWork, logged: CommandLogRow | None) -> None:
        """Check the streams read from the cache and not appended to, and write the
        command's timers, deferred rows and log, last in the transaction (so it may commit
        in the same round trip when nothing needs checking).

        On PostgreSQL the check and the writes share one round trip (a psycopg pipeline),
        the commit waiting for the check: a book command read its store from the cache and
        paid a round trip and SQLAlchemy's statement handling for this check alone."""
        armed = list((uow.armed or {}).values())
        unguarded = uow.unguarded
        if uow.pending:
            await self._finish_with_appends(uow, unguarded, armed, logged)
            return
        if not unguarded:
            await write(uow.conn, armed, logged, uow.deferred, commit=True)
            return
        if uow.conn.dialect.name != "postgresql":
            current = await self.store.stream_versions(uow.conn, unguarded)
            self._check_unguarded(uow, current)
            await write(uow.conn, armed, logged, uow.deferred, commit=True)
            return
        driver = await begun_driver(uow.conn)
        async with driver.pipeline():
            cursor = await driver.execute(_STREAM_VERSIONS, {"stream_ids": list(unguarded)})
            await write(uow.conn, armed, logged, uow.deferred)
        self._check_unguarded(uow, dict(await cursor.fetchall()))

    async def _finish_with_appends(
        self,
        uow: UnitOfWork,
        unguarded: set[str],
        armed: list[TimerRow],
        logged: CommandLogRow | None,
    ) -> None:
        """The appends, the check of the streams read from the cache and not appended to,
        the timers, rows and log: one statement, which commits. A command that read
        nothing from the database (its streams and facts cached) has sent nothing before
        it, so it is the whole transaction: one round trip, where a BEGIN, the append, the
        closing statement and a COMMIT were four."""
        assert uow.pending
        # In the order recorded, which is the order of cause and effect across streams (a
        # transfer shipped, then its inbound recorded at the destination): positions keep
        # it. Not sorted by stream against lock cycles: two commands that claim the same
        # streams in opposite orders are broken up by PostgreSQL and one retries.
        queued = list(uow.pending.values())
        try:
            closed = await write_with_appends(
                uow.conn,
                [StreamAppend(q.before.stream_id, q.before.version, q.new) for q in queued],
                [q.at for q in queued],
                {s: uow.seen[s].version for s in unguarded},
                armed,
                logged,
                uow.deferred,
            )
        except StaleRead as exc:
            self.cache.drop(exc.stream_ids)
            raise _StaleCache from exc
        uow.settle(closed.tx_id, closed.positions)

    def _check_unguarded(self, uow: UnitOfWork, current: dict[str, int]) -> None:
        """Streams read from the cache and not appended to, against their `current`
        versions: all as cached (as a fresh load at this point would have found them), or
        the attempt starts over (its writes are not committed)."""
        unguarded = uow.unguarded
        stale = [s for s in unguarded if current.get(s, 0) != uow.seen[s].version]
        if stale:
            self.cache.drop(stale)
            raise _StaleCache

    def _forget(self, uow: UnitOfWork | None) -> None:
        """The attempt failed: what it read may be why, so read it from the store next."""
        if uow is not None:
            self.cache.drop(uow.seen)

    async def _replay(self, request_id: str, digest: str) -> _Logged | None:
        """The stored result of a request refused now, because it already happened."""
        async with self.db.transaction("command replay") as conn:
            return await self._previous_result(conn, request_id, digest)

    async def _previous_result(
        self, conn: AsyncConnection, request_id: str, digest: str
    ) -> _Logged | None:
        """The logged result of this request (None: not logged; a handler that returned None
        is logged too, as a result of None)."""
        row = (await conn.execute(_SELECT_COMMAND, {"request_id": request_id})).first()
        if row is None:
            return None
        if row.fingerprint != digest:
            raise RuleViolated(
                REQUEST_ID_REUSED,
                f"request_id {request_id!r} was already used for a different command",
                subject=f"request/{request_id}",
            )
        return _Logged(row.result)

    async def query(self, fn: Callable[[AsyncConnection], Awaitable[R]]) -> R:
        async with self.db.transaction("query") as conn:
            return await fn(conn)


# The event store's stream_versions, sent straight to psycopg (in `_finish`'s pipeline).
_STREAM_VERSIONS = "SELECT stream_id, version FROM streams WHERE stream_id = ANY(%(stream_ids)s)"

_SELECT_COMMAND = select(command_log.c.fingerprint, command_log.c.result).where(
    command_log.c.request_id == bindparam("request_id")
)


class _StaleCache(Exception):
    """A cached aggregate the command read without appending to it had moved on."""


def _is_duplicate_request(exc: Exception) -> bool:
    text = str(exc)
    return "command_log" in text and ("unique" in text.lower() or "duplicate" in text.lower())


async def _nothing_followed() -> dict[str, int | None]:
    return {}
