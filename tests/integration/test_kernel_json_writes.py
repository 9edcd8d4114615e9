"""What a command writes as JSON (its logged result, its timers' payloads, its events'
metadata) is stored as JSON, not as a JSON string of JSON, on PostgreSQL (text for the
statement's ::json cast) and on SQLite (the structure for SQLAlchemy's JSON column);
and a repeated request reads its first result back unchanged on both."""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from fractions import Fraction

from sqlalchemy import select

from kernel.application import Application, UnitOfWork
from kernel.clock import ManualClock
from kernel.codec import to_json
from kernel.db import Database
from kernel.eventstore import command_log, events, timers
from services.inventory.domain.commands import ReceiveStock
from tests.integration.kernel_fixtures import POSITIONS, REGISTRY, any_db, count_events, db

__all__ = ["any_db", "db"]


class Mood(enum.Enum):
    CALM = "calm"


@dataclass(frozen=True)
class Line:
    part_number: str
    quantity: int
    expires_at: datetime


@dataclass(frozen=True)
class Answer:
    on_hand: int
    ratio: Fraction
    mood: Mood
    day: date
    naive: datetime
    shifted: datetime
    lines: tuple[Line, ...]
    counts: dict[str, int]
    note: str | None


@dataclass(frozen=True)
class Reminder:
    store_id: str
    due: datetime


NOW = datetime(2026, 11, 2, 8, tzinfo=UTC)


def answer(on_hand: int) -> Answer:
    return Answer(
        on_hand=on_hand,
        ratio=Fraction(883, 10),
        mood=Mood.CALM,
        day=date(2026, 11, 2),
        naive=datetime(1969, 7, 20, 20, 17, 40, 5),
        shifted=datetime(2026, 11, 2, 9, 30, tzinfo=timezone(timedelta(hours=1, seconds=30))),
        lines=tuple(Line(f"P-{i}", i, NOW + timedelta(minutes=i)) for i in range(21)),
        counts={"held": 21, "ünïcödé": 1},
        note=None,
    )


async def test_a_command_s_json_is_stored_as_json_and_replayed_unchanged(any_db: Database) -> None:
    app = Application(any_db, REGISTRY, ManualClock(NOW))
    command = ReceiveStock("SZ01", "P-1", 3, "ref", NOW)

    async def handler(uow: UnitOfWork) -> Answer:
        done = await uow.execute(POSITIONS, POSITIONS.stream_id("SZ01", "P-1"), command)
        await uow.schedule("t-1", "remind", NOW + timedelta(hours=1), Reminder("SZ01", NOW))
        return answer(done.state.on_hand)

    first = await app.handle(command, handler, request_id="req-1", result_type=Answer)
    assert first == answer(3)
    again = await app.handle(command, handler, request_id="req-1", result_type=Answer)
    assert again == first  # read back from the command log, not run again
    assert await count_events(any_db) == 1

    async with any_db.connect() as conn:
        logged = (await conn.execute(select(command_log.c.result))).scalar_one()
        payload = (await conn.execute(select(timers.c.payload))).scalar_one()
        metadata = (await conn.execute(select(events.c.metadata))).scalar_one()
    assert logged == to_json(answer(3))  # a structure, not a string of JSON
    assert logged["shifted"] == "2026-11-02T09:30:00+01:00:30"
    assert logged["naive"] == "1969-07-20T20:17:40.000005"
    assert payload == {"store_id": "SZ01", "due": "2026-11-02T08:00:00+00:00"}
    assert {k: metadata[k] for k in ("request_id", "command")} == {
        "request_id": "req-1",
        "command": "ReceiveStock",
    }


async def test_a_result_only_the_json_module_writes_is_stored_and_replayed(db: Database) -> None:
    """An int beyond 64 bits (orjson refuses it; the json module wrote it before). On
    PostgreSQL only: SQLite's JSON column hands it back as a float, as it always did."""
    app = Application(db, REGISTRY, ManualClock(NOW))
    command = ReceiveStock("SZ01", "P-1", 1, "ref", NOW)
    big = 2**70 + 1

    async def handler(uow: UnitOfWork) -> int:
        await uow.execute(POSITIONS, POSITIONS.stream_id("SZ01", "P-1"), command)
        return big

    assert await app.handle(command, handler, request_id="req-big", result_type=int) == big
    assert await app.handle(command, handler, request_id="req-big", result_type=int) == big
    async with db.connect() as conn:
        logged = (await conn.execute(select(command_log.c.result))).scalar_one()
    assert logged == big
    assert json.dumps(logged) == str(big)
