"""The rows a command writes besides its events (timers armed, the command log), sent in
as few round trips as its transaction allows."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.types.json import Json
from sqlalchemy.ext.asyncio import AsyncConnection

from kernel.db import upsert
from kernel.eventstore import command_log, timers


@dataclass(frozen=True)
class TimerRow:
    timer_id: str
    kind: str
    due_at: datetime
    payload: Any  # JSON-able

    def values(self) -> dict[str, Any]:
        return {
            "timer_id": self.timer_id,
            "kind": self.kind,
            "due_at": self.due_at,
            "payload": self.payload,
            "attempts": 0,
            "last_error": None,
        }


@dataclass(frozen=True)
class CommandLogRow:
    """A command's result under its request id (a repeat hits the primary key)."""

    request_id: str
    command_type: str
    fingerprint: str
    result: Any  # JSON-able
    recorded_at: datetime


async def write(
    conn: AsyncConnection, armed: Sequence[TimerRow], logged: CommandLogRow | None
) -> None:
    """Arm (or re-arm) the timers and log the command, in the caller's transaction.

    On PostgreSQL one statement, straight to the psycopg connection: a reservation paid a
    round trip and SQLAlchemy's statement handling for each of the two.
    """
    if not armed and logged is None:
        return
    if conn.dialect.name != "postgresql":
        for timer in armed:
            await upsert(conn, timers, timer.values(), ["timer_id"])
        if logged is not None:
            await conn.execute(command_log.insert(), vars(logged))
        return
    params: dict[str, Any] = {}
    for i, timer in enumerate(armed):
        params.update(
            {
                f"id{i}": timer.timer_id,
                f"kind{i}": timer.kind,
                f"due{i}": timer.due_at,
                f"payload{i}": Json(timer.payload),
            }
        )
    if logged is not None:
        params.update({**vars(logged), "result": Json(logged.result)})
    driver = (await conn.get_raw_connection()).driver_connection
    assert driver is not None
    await driver.execute(_statement(len(armed), logged is not None), params)


@functools.cache
def _statement(timer_count: int, with_log: bool) -> str:
    """Timer upserts as a data-modifying CTE in front of the command-log insert."""
    arm = (
        "INSERT INTO timers (timer_id, kind, due_at, payload, attempts, last_error) VALUES "
        + ", ".join(
            f"(%(id{i})s, %(kind{i})s, %(due{i})s, %(payload{i})s::json, 0, NULL)"
            for i in range(timer_count)
        )
        + " ON CONFLICT (timer_id) DO UPDATE SET kind = excluded.kind, "
        "due_at = excluded.due_at, payload = excluded.payload, attempts = 0, last_error = NULL"
    )
    log = (
        "INSERT INTO command_log (request_id, command_type, fingerprint, result, recorded_at) "
        "VALUES (%(request_id)s, %(command_type)s, %(fingerprint)s, %(result)s::json, "
        "%(recorded_at)s)"
    )
    if not timer_count:
        return log
    return f"WITH armed AS ({arm}) {log}" if with_log else arm
