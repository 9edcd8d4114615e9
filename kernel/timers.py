"""Durable timers: deadlines kept in the database, fired once by whichever replica is free.

A pass claims due timers in one short transaction (`FOR UPDATE SKIP LOCKED`, so replicas
never wait for each other) by moving their due time a claim period ahead; then each timer
fires in a transaction of its own, which holds only what its handler touches and ends by
deleting the timer row. So a pass never holds one timer's locks while firing the next,
and its lock order is a command's: streams first, the timer row last. A replica that dies
after claiming leaves its timers to fire again when the claim period ends.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import and_, bindparam, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from kernel.application import Application, UnitOfWork
from kernel.errors import ConcurrencyConflict, DomainError, Unavailable
from kernel.eventstore import timers
from kernel.metrics import recording

log = structlog.get_logger("storemesh.kernel.timers")

TimerHandler = Callable[[UnitOfWork, Any], Awaitable[None]]


@dataclass(frozen=True)
class _Claimed:
    timer_id: str
    kind: str
    payload: Any
    attempts: int
    claimed_until: datetime


class TimerRunner:
    def __init__(
        self,
        app: Application,
        handlers: dict[str, TimerHandler],
        *,
        interval: float = 1.0,
        batch: int = 100,
        claim_seconds: float = 60.0,
    ) -> None:
        self.app = app
        self.handlers = handlers
        self.interval = interval
        self.batch = batch
        self.claim = timedelta(seconds=claim_seconds)
        self.fired = 0

    async def run_due(self) -> int:
        """Fire every timer due by the clock's now; returns how many fired."""
        now = self.app.clock.now()
        fired = 0
        for timer in await self._claim_due(now):
            if await self._fire(timer, now):
                fired += 1
        self.fired += fired
        return fired

    async def _claim_due(self, now: datetime) -> list[_Claimed]:
        until = now + self.claim
        async with self.app.db.transaction("timers.claim") as conn:
            rows = (await conn.execute(_DUE, {"now": now, "limit": self.batch})).all()
            if rows:
                await conn.execute(_CLAIM, {"ids": [row.timer_id for row in rows], "until": until})
        return [_Claimed(r.timer_id, r.kind, r.payload, r.attempts, until) for r in rows]

    async def _fire(self, timer: _Claimed, now: datetime) -> bool:
        handler = self.handlers.get(timer.kind)
        try:
            async with self.app.db.transaction(f"timer {timer.kind}") as conn:
                uow = self.app.unit_of_work(conn)
                if handler is None:
                    raise DomainError(f"no handler for timer kind {timer.kind!r}")
                await handler(uow, timer.payload)
                # A handler may re-arm its own timer (a new due_at): then the row stays.
                await conn.execute(_DONE, {"id": timer.timer_id, "claimed": timer.claimed_until})
        except ConcurrencyConflict as exc:
            # Someone else wrote the stream first (or PostgreSQL broke a lock cycle).
            log.info("timer.conflict", timer=timer.timer_id, kind=timer.kind)
            await self._release(timer, now, exc)
            _counted(timer.kind, "conflict")
            return False
        except Unavailable as exc:
            # A dependency is away: try later. If it is the database, this fails too and
            # ends the pass.
            log.warning("timer.unavailable", timer=timer.timer_id, reason=exc.message)
            await self._release(timer, now + self._backoff(timer), exc)
            _counted(timer.kind, "unavailable")
            return False
        except DomainError as exc:
            log.info("timer.refused", timer=timer.timer_id, kind=timer.kind, reason=exc.message)
            async with self.app.db.transaction("timers.refused") as conn:
                await conn.execute(_DONE, {"id": timer.timer_id, "claimed": timer.claimed_until})
            _counted(timer.kind, "refused")
            return True
        except Exception as exc:
            log.exception("timer.failed", timer=timer.timer_id, attempts=timer.attempts + 1)
            await self._release(timer, now + self._backoff(timer), exc)
            _counted(timer.kind, "failed")
            return False
        if uow.recorded:
            self.app.notify_committed()
        _counted(timer.kind, "fired")
        return True

    @staticmethod
    def _backoff(timer: _Claimed) -> timedelta:
        return timedelta(seconds=min(2 ** (timer.attempts + 1), 300))

    async def _release(self, timer: _Claimed, due_at: datetime, exc: Exception) -> None:
        """Give the claim back with a new due time, unless the timer was changed meanwhile."""
        async with self.app.db.transaction("timers.retry") as conn:
            await conn.execute(
                _RETRY,
                {
                    "id": timer.timer_id,
                    "claimed": timer.claimed_until,
                    "tries": timer.attempts + 1,
                    "error": repr(exc)[:1000],
                    "retry_at": due_at,
                },
            )

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                fired = await self.run_due()
                if fired >= self.batch:
                    continue
            except Unavailable as exc:
                log.warning("timers.waiting", reason=str(exc))
            except Exception:
                log.exception("timers.loop_failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.interval)


_DUE = (
    select(timers)
    .where(timers.c.due_at <= bindparam("now", type_=timers.c.due_at.type))
    .order_by(timers.c.due_at, timers.c.timer_id)
    .limit(bindparam("limit"))
    .with_for_update(skip_locked=True)
)
_CLAIM = (
    update(timers)
    .where(timers.c.timer_id.in_(bindparam("ids", expanding=True)))
    .values(due_at=bindparam("until", type_=timers.c.due_at.type))
)
_THIS_CLAIM = and_(
    timers.c.timer_id == bindparam("id"),
    timers.c.due_at == bindparam("claimed", type_=timers.c.due_at.type),
)
_DONE = timers.delete().where(_THIS_CLAIM)
_RETRY = (
    update(timers)
    .where(_THIS_CLAIM)
    .values(
        attempts=bindparam("tries"),
        last_error=bindparam("error"),
        due_at=bindparam("retry_at", type_=timers.c.due_at.type),
    )
)


async def arm_if_absent(app: Application, rows: Sequence[tuple[str, datetime, Any]]) -> None:
    """Scheduled work's first timers (kind = timer id, due at, payload), each inserted
    only when absent: a restart never moves or repeats a timer that is armed already."""
    async with app.db.transaction("timers.arm") as conn:
        insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
        for kind, due_at, payload in rows:
            row = {
                "timer_id": kind,
                "kind": kind,
                "due_at": due_at,
                "payload": payload,
                "attempts": 0,
                "last_error": None,
            }
            await conn.execute(insert(timers).values(**row).on_conflict_do_nothing())


class ArmAtStart:
    """A host background loop: runs `arm` once when the service starts (again, with
    backoff, while the database is away), then waits for the stop. `armed` is set once
    it has."""

    def __init__(self, arm: Callable[[], Awaitable[None]]) -> None:
        self.arm = arm
        self.armed = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        retry = 0.5
        while not stop.is_set() and not self.armed.is_set():
            try:
                await self.arm()
                self.armed.set()
                break
            except Exception:  # the database is away: arm when it returns
                log.warning("timers.arm_waiting", retry_seconds=retry, exc_info=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), retry)
            retry = min(retry * 2, 10.0)
        await stop.wait()

    def wake(self) -> None:
        """Nothing to do after a commit."""


def _counted(kind: str, outcome: str) -> None:
    if (meters := recording()) is not None:
        meters.timers_fired.add(1, {"kind": kind, "outcome": outcome})
