"""Idempotent commands on real PostgreSQL: a request_id has one effect and one answer."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, text
from structlog.testing import LogCapture

from kernel.application import Application, UnitOfWork
from kernel.clock import ManualClock
from kernel.db import Database
from kernel.errors import RuleViolated
from kernel.eventstore import command_log
from services.inventory.domain.commands import ReceiveStock
from tests.integration.kernel_fixtures import (
    POSITIONS,
    app,
    count_events,
    db,
    kernel_logs,
    receive,
    touch,
)


async def test_same_request_id_twice_returns_the_first_result_and_appends_nothing(
    app: Application, db: Database, clock: ManualClock
) -> None:
    assert await receive(app, "SZ01", "P-1", 5, request_id="req-1") == 5
    assert await count_events(db) == 1

    clock.advance(timedelta(minutes=3))  # a retry comes later: same request, same answer
    assert await receive(app, "SZ01", "P-1", 5, request_id="req-1") == 5
    assert await count_events(db) == 1

    assert await receive(app, "SZ01", "P-1", 5, request_id="req-2") == 10
    assert await count_events(db) == 2
    # The first request's answer is what it was then, not the position now.
    assert await receive(app, "SZ01", "P-1", 5, request_id="req-1") == 5
    assert await count_events(db) == 2


async def test_same_request_id_for_a_different_command_is_refused(
    app: Application, db: Database
) -> None:
    await receive(app, "SZ01", "P-1", 5, request_id="req-1")
    with pytest.raises(RuleViolated) as refused:
        await receive(app, "SZ01", "P-1", 6, request_id="req-1")
    assert refused.value.reason == "REQUEST_ID_REUSED"
    with pytest.raises(RuleViolated):
        await receive(app, "SZ02", "P-1", 5, request_id="req-1")
    assert await count_events(db) == 1


@pytest.mark.parametrize("existing_stream", [False, True], ids=["new-stream", "existing-stream"])
async def test_concurrent_calls_with_one_request_id_have_one_effect(
    app: Application, db: Database, existing_stream: bool
) -> None:
    if existing_stream:
        await receive(app, "SZ01", "P-1", 100, request_id="seed")
    before = await count_events(db)
    twins = 4
    inside = 0
    all_inside = asyncio.Event()
    runs = 0
    command = ReceiveStock("SZ01", "P-1", 7, "ref", app.clock.now())

    async def handler(uow: UnitOfWork) -> int:
        # Every twin passes the request-id lookup before any of them commits.
        nonlocal inside, runs
        runs += 1
        if not all_inside.is_set():
            inside += 1
            if inside == twins:
                all_inside.set()
            await asyncio.wait_for(all_inside.wait(), 10)
        done = await uow.execute(POSITIONS, POSITIONS.stream_id("SZ01", "P-1"), command)
        return done.state.on_hand

    results = await asyncio.gather(
        *(app.handle(command, handler, request_id="twin") for _ in range(twins))
    )
    expected = 107 if existing_stream else 7
    assert results == [expected] * twins
    assert runs == twins, "every twin ran its handler: the race really happened"
    assert await count_events(db) == before + 1
    async with db.connect() as conn:
        logged = await conn.scalar(
            select(func.count()).select_from(command_log).where(command_log.c.request_id == "twin")
        )
    assert logged == 1


async def test_concurrent_twins_that_append_nothing_record_one_answer(
    app: Application, db: Database
) -> None:
    """No stream row to collide on: the command log's key alone must keep them to one."""
    twins = 3
    entered = 0
    all_inside = asyncio.Event()
    runs = 0

    async def handler(uow: UnitOfWork) -> str:
        nonlocal entered, runs
        runs += 1
        mine = runs
        if not all_inside.is_set():
            entered += 1
            if entered == twins:
                all_inside.set()
            await asyncio.wait_for(all_inside.wait(), 10)
        return f"answer-{mine}"

    results = await asyncio.gather(
        *(app.handle("noop", handler, request_id="quiet") for _ in range(twins))
    )
    assert runs == twins
    assert len(set(results)) == 1, f"twins got different answers: {results}"
    assert await count_events(db) == 0


async def test_commands_locking_two_streams_in_opposite_order_both_commit(
    app: Application, db: Database, clock: ManualClock
) -> None:
    """A deadlock between two commands is a conflict to retry, not an outage."""
    await receive(app, "SZ01", "P-1", 10)
    await receive(app, "SZ02", "P-1", 10)
    holding = 0
    both_hold_their_first = asyncio.Event()

    async def move(uow: UnitOfWork, first: str, second: str) -> str:
        nonlocal holding
        for n, store_id in enumerate((first, second)):
            command = ReceiveStock(store_id, "P-1", 1, "ref", clock.now())
            await uow.execute(POSITIONS, POSITIONS.stream_id(store_id, "P-1"), command)
            if n == 0 and not both_hold_their_first.is_set():
                holding += 1
                if holding == 2:
                    both_hold_their_first.set()
                await asyncio.wait_for(both_hold_their_first.wait(), 10)
        return f"{first}->{second}"

    results = await asyncio.gather(
        app.handle(("move", 1), lambda uow: move(uow, "SZ01", "SZ02"), request_id="m-1"),
        app.handle(("move", 2), lambda uow: move(uow, "SZ02", "SZ01"), request_id="m-2"),
        return_exceptions=True,
    )
    assert results == ["SZ01->SZ02", "SZ02->SZ01"]
    assert await count_events(db) == 2 + 4
    for store_id in ("SZ01", "SZ02"):
        assert await receive(app, store_id, "P-1", 1) == 13


async def test_a_deadlock_between_two_commands_is_retried_not_logged(
    app: Application, db: Database, kernel_logs: LogCapture
) -> None:
    """Two transfers lock S1 and S2 in opposite orders at the same moment: PostgreSQL
    aborts one, which is retried as a conflict; both go through and nothing is an error."""
    for store_id in ("S1", "S2"):
        await receive(app, store_id, "P-1")
    first_pass = asyncio.Barrier(2)
    attempts: list[str] = []

    def transfer(source: str, destination: str) -> Any:
        async def handler(uow: UnitOfWork) -> None:
            attempts.append(source)
            await uow.conn.execute(
                text("SELECT 1 FROM streams WHERE stream_id = :s FOR UPDATE"),
                {"s": POSITIONS.stream_id(source, "P-1")},
            )
            if attempts.count(source) == 1:
                await asyncio.wait_for(first_pass.wait(), 10)  # both hold their source
            await touch(uow, destination)
            await touch(uow, source)

        return handler

    await asyncio.wait_for(
        asyncio.gather(
            app.handle(("transfer", "S1"), transfer("S1", "S2")),
            app.handle(("transfer", "S2"), transfer("S2", "S1")),
        ),
        30,
    )
    # At least one was rolled back and ran again (on a loaded machine a retry may itself
    # meet the other transaction once more; each attempt is still a clean retry).
    assert len(attempts) >= 3, attempts
    assert await count_events(db) == 6
    assert [e for e in kernel_logs.entries if e["log_level"] in ("error", "critical")] == []


async def test_a_command_that_answers_nothing_is_replayed_too(
    app: Application, db: Database
) -> None:
    """A handler may return None: its logged null is still the request's answer, so the
    retry neither acts again nor (once the rule it now breaks refuses it) fails."""
    runs: list[int] = []
    command = ReceiveStock("SZ01", "P-1", 5, "delivery", app.clock.now())

    async def handler(uow: UnitOfWork) -> None:
        runs.append(1)
        await uow.execute(POSITIONS, POSITIONS.stream_id("SZ01", "P-1"), command)

    assert await app.handle(command, handler, request_id="silent") is None
    assert await app.handle(command, handler, request_id="silent") is None
    assert await count_events(db) == 1
    assert len(runs) == 2, "the retry ran the handler, whose append hit the command log key"
    async with db.transaction() as conn:
        logged = (await conn.execute(select(command_log.c.result))).scalars().all()
    assert logged == [None]


async def test_a_batch_looked_up_first_answers_a_repeat_without_deciding_again(
    app: Application, db: Database, clock: ManualClock
) -> None:
    """`look_up_first`: a batch command's retry costs a lookup, not its whole handler."""
    runs: list[int] = []

    def batch(quantity: int) -> tuple[ReceiveStock, Any]:
        command = ReceiveStock("SZ01", "P-1", quantity, "batch", app.clock.now())

        async def handler(uow: UnitOfWork) -> int:
            runs.append(quantity)
            done = await uow.execute(POSITIONS, POSITIONS.stream_id("SZ01", "P-1"), command)
            return done.state.on_hand

        return command, handler

    assert await app.handle(*batch(5), request_id="batch-1", look_up_first=True) == 5
    clock.advance(timedelta(minutes=3))
    assert await app.handle(*batch(5), request_id="batch-1", look_up_first=True) == 5
    assert runs == [5], "the repeat ran the handler again"

    with pytest.raises(RuleViolated) as reused:
        await app.handle(*batch(6), request_id="batch-1", look_up_first=True)
    assert reused.value.reason == "REQUEST_ID_REUSED"
    assert runs == [5]
    assert await count_events(db) == 1
