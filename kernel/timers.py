"""Durable timers: deadlines kept in the database, fired once by whichever replica is free."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import and_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from kernel.application import Application, UnitOfWork
from kernel.errors import ConcurrencyConflict, DomainError
from kernel.eventstore import timers

log = structlog.get_logger("storemesh.kernel.timers")

TimerHandler = Callable[[UnitOfWork, Any], Awaitable[None]]


class TimerRunner:
    def __init__(
        self,
        app: Application,
        handlers: dict[str, TimerHandler],
        *,
        interval: float = 1.0,
        batch: int = 100,
    ) -> None:
        self.app = app
        self.handlers = handlers
        self.interval = interval
        self.batch = batch
        self.fired = 0

    async def run_due(self) -> int:
        """Fire every timer due by the clock's now; returns how many fired."""
        now = self.app.clock.now()
        fired = 0
        recorded = False
        async with self.app.db.transaction("timers.run_due") as conn:
            rows = (
                await conn.execute(
                    select(timers)
                    .where(timers.c.due_at <= now)
                    .order_by(timers.c.due_at)
                    .limit(self.batch)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            for row in rows:
                handler = self.handlers.get(row.kind)
                uow = self.app.unit_of_work(conn)
                try:
                    async with conn.begin_nested():
                        if handler is None:
                            raise DomainError(f"no handler for timer kind {row.kind!r}")
                        await handler(uow, row.payload)
                except ConcurrencyConflict as exc:
                    # Someone else wrote the stream first: fire again on the next pass.
                    log.info("timer.conflict", timer=row.timer_id, kind=row.kind)
                    await self._retry(conn, row, now, exc)
                    continue
                except DomainError as exc:
                    log.info("timer.refused", timer=row.timer_id, kind=row.kind, reason=exc.message)
                except Exception as exc:
                    log.exception("timer.failed", timer=row.timer_id, attempts=row.attempts + 1)
                    await self._retry(
                        conn, row, now + timedelta(seconds=min(2 ** (row.attempts + 1), 300)), exc
                    )
                    continue
                # A handler may re-arm its own timer (a new due_at): then the row stays.
                await conn.execute(
                    timers.delete().where(
                        and_(timers.c.timer_id == row.timer_id, timers.c.due_at == row.due_at)
                    )
                )
                recorded = recorded or bool(uow.recorded)
                fired += 1
        if recorded:
            self.app.notify_committed()
        self.fired += fired
        return fired

    async def _retry(
        self, conn: AsyncConnection, row: Any, due_at: datetime, exc: Exception
    ) -> None:
        await conn.execute(
            update(timers)
            .where(timers.c.timer_id == row.timer_id)
            .values(attempts=row.attempts + 1, last_error=repr(exc)[:1000], due_at=due_at)
        )

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                fired = await self.run_due()
                if fired >= self.batch:
                    continue
            except Exception:
                log.exception("timers.loop_failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.interval)
