"""Durable timers: fire once when the clock passes due_at (never before), once across
racing replicas on PostgreSQL, and again later when their handler failed."""

from __future__ import annotations

import asyncio
import random
from datetime import timedelta
from typing import Any

from sqlalchemy import select, text
from structlog.testing import LogCapture

from kernel.application import Application, UnitOfWork
from kernel.clock import ManualClock
from kernel.db import Database
from kernel.eventstore import timers
from kernel.timers import TimerRunner
from tests.integration.kernel_fixtures import (
    POSITIONS,
    REGISTRY,
    any_db,
    app,
    count_effects,
    count_events,
    db,
    effects,
    eventually,
    kernel_logs,
    migrated,
    receive,
    touch,
    waiting_on_a_lock,
)


async def schedule(app: Application, timer_id: str, due_in: timedelta, payload: Any) -> None:
    async def handler(uow: UnitOfWork) -> None:
        await uow.schedule(timer_id, "remind", app.clock.now() + due_in, payload)

    await app.handle(("schedule", timer_id), handler)


async def timer_row(db: Database, timer_id: str) -> Any:
    async with db.connect() as conn:
        return (await conn.execute(select(timers).where(timers.c.timer_id == timer_id))).first()


async def test_timer_fires_once_when_the_clock_passes_due_at_and_not_before(
    any_db: Database, clock: ManualClock
) -> None:
    app = Application(any_db, REGISTRY, clock)
    calls: list[Any] = []

    async def remind(uow: UnitOfWork, payload: Any) -> None:
        calls.append(payload)
        await uow.conn.execute(effects.insert().values(key=payload["order"]))

    runner = TimerRunner(app, {"remind": remind})
    await schedule(app, "order/1", timedelta(minutes=10), {"order": "O-1"})

    assert await runner.run_due() == 0
    clock.advance(timedelta(minutes=9, seconds=59))
    assert await runner.run_due() == 0
    assert calls == []

    clock.advance(timedelta(seconds=1))  # exactly due
    assert await runner.run_due() == 1
    assert calls == [{"order": "O-1"}]
    clock.advance(timedelta(days=1))
    assert await runner.run_due() == 0
    assert calls == [{"order": "O-1"}]
    assert await count_effects(any_db, "O-1") == 1
    assert await timer_row(any_db, "order/1") is None


async def test_two_runners_racing_on_postgres_fire_each_timer_once(
    db: Database, pg_url: str, clock: ManualClock
) -> None:
    replica_db = await migrated(pg_url)
    apps = [Application(db, REGISTRY, clock), Application(replica_db, REGISTRY, clock)]
    calls: list[str] = []

    async def remind(uow: UnitOfWork, payload: Any) -> None:
        calls.append(payload["order"])
        await uow.conn.execute(effects.insert().values(key=payload["order"]))
        await asyncio.sleep(0.002)  # hold the row a little: the other replica is trying too

    try:
        timers_due = 30
        for n in range(timers_due):
            await schedule(apps[0], f"order/{n}", timedelta(seconds=n), {"order": f"O-{n}"})
        clock.advance(timedelta(minutes=1))
        runners = [TimerRunner(a, {"remind": remind}, batch=4) for a in apps]
        for _ in range(50):
            fired = await asyncio.gather(*(r.run_due() for r in runners))
            if sum(fired) == 0:
                break
        assert sorted(calls) == sorted(f"O-{n}" for n in range(timers_due))
        assert sum(r.fired for r in runners) == timers_due
        assert all(r.fired > 0 for r in runners), "both replicas took a share of the work"
        for n in range(timers_due):
            assert await count_effects(db, f"O-{n}") == 1
    finally:
        await replica_db.dispose()


async def test_failing_timer_handler_is_retried_later_with_attempts_incremented(
    app: Application, db: Database, clock: ManualClock
) -> None:
    calls: list[str] = []

    async def remind(uow: UnitOfWork, payload: Any) -> None:
        calls.append(payload["order"])
        await uow.conn.execute(effects.insert().values(key=payload["order"]))
        if payload["order"] == "O-flaky" and calls.count("O-flaky") == 1:
            raise ConnectionError("the partner system is away")

    runner = TimerRunner(app, {"remind": remind})
    await schedule(app, "order/flaky", timedelta(minutes=1), {"order": "O-flaky"})
    await schedule(app, "order/fine", timedelta(minutes=1), {"order": "O-fine"})
    clock.advance(timedelta(minutes=1))

    assert await runner.run_due() == 1, "a failing timer does not hold back the others"
    row = await timer_row(db, "order/flaky")
    assert row is not None
    assert row.attempts == 1
    assert "ConnectionError" in row.last_error
    assert row.due_at == clock.now() + timedelta(seconds=2)
    assert await count_effects(db, "O-flaky") == 0, "the failed attempt's effects rolled back"
    assert await count_effects(db, "O-fine") == 1

    assert await runner.run_due() == 0  # not again before its retry time
    assert calls == ["O-flaky", "O-fine"] or calls == ["O-fine", "O-flaky"]

    clock.advance(timedelta(seconds=2))
    assert await runner.run_due() == 1
    assert calls.count("O-flaky") == 2
    assert await count_effects(db, "O-flaky") == 1
    assert await timer_row(db, "order/flaky") is None


async def test_two_replicas_timer_batches_on_overlapping_positions_never_deadlock(
    db: Database, pg_url: str, clock: ManualClock, kernel_logs: LogCapture
) -> None:
    """Batches of both replicas touch the same few positions in random order."""
    replica_db = await migrated(pg_url)
    apps = [Application(db, REGISTRY, clock), Application(replica_db, REGISTRY, clock)]

    async def touch_slowly(uow: UnitOfWork, payload: Any) -> None:
        await touch(uow, payload["store_id"])
        await asyncio.sleep(0.005)  # hold the position: the other replica is at work too

    try:
        rng = random.Random(20261130)
        due = 60
        for n in range(due):
            store_id = rng.choice(["S0", "S1", "S2", "S3"])

            async def arm(uow: UnitOfWork, n: int = n, store_id: str = store_id) -> None:
                at = clock.now() + timedelta(milliseconds=rng.randint(0, 1000))
                await uow.schedule(f"t/{n}", "touch", at, {"store_id": store_id})

            await apps[0].handle(("arm", n), arm)
        clock.advance(timedelta(minutes=1))
        runners = [TimerRunner(a, {"touch": touch_slowly}, batch=8) for a in apps]
        for _ in range(200):
            fired = await asyncio.gather(*(r.run_due() for r in runners))
            if sum(fired) == 0 and await count_timers(db) == 0:
                break
        troubles = [
            entry
            for entry in kernel_logs.entries
            if entry["log_level"] in ("error", "critical") or "Deadlock" in repr(entry)
        ]
        assert troubles == [], "a timer batch deadlocked or failed"
        assert sum(r.fired for r in runners) == due
        assert await count_events(db) == due
    finally:
        await replica_db.dispose()


async def count_timers(db: Database) -> int:
    async with db.connect() as conn:
        return len((await conn.execute(select(timers.c.timer_id))).all())


async def test_a_command_does_not_wait_for_the_rest_of_a_timer_pass(
    app: Application, db: Database, clock: ManualClock
) -> None:
    """The pass fired S1's timer and is stuck in S2's: a command on S1 goes through."""
    in_second = asyncio.Event()
    release = asyncio.Event()

    async def touch_then_maybe_hang(uow: UnitOfWork, payload: Any) -> None:
        await touch(uow, payload["store_id"])
        if payload["store_id"] == "S2":
            in_second.set()
            await asyncio.wait_for(release.wait(), 30)

    for n, store_id in enumerate(("S1", "S2")):

        async def arm(uow: UnitOfWork, n: int = n, store_id: str = store_id) -> None:
            at = clock.now() + timedelta(seconds=n + 1)
            await uow.schedule(f"t/{store_id}", "touch", at, {"store_id": store_id})

        await app.handle(("arm", n), arm)
    clock.advance(timedelta(minutes=1))
    runner = TimerRunner(app, {"touch": touch_then_maybe_hang})
    firing = asyncio.create_task(runner.run_due())
    try:
        await asyncio.wait_for(in_second.wait(), 10)

        async def command(uow: UnitOfWork) -> None:
            await touch(uow, "S1")

        await asyncio.wait_for(app.handle(("command", "S1"), command), 2.0)
    finally:
        release.set()
    assert await asyncio.wait_for(firing, 10) == 2
    assert await count_events(db) == 3


async def test_a_timer_that_deadlocks_with_a_command_is_a_conflict_fired_again_not_an_error(
    app: Application, db: Database, clock: ManualClock, kernel_logs: LogCapture
) -> None:
    """The timer's handler holds S1 and waits for S2; a command holding S2 then asks for S1.
    The timer's deadlock check runs first (2 s after it began to wait; the command's would
    run after 30 s), so PostgreSQL aborts the timer's transaction: that is a conflict,
    fired again on the next pass, and the command goes through."""
    for store_id in ("S1", "S2"):
        await receive(app, store_id, "P-1")
    timer_holds_s1, command_holds_s2 = asyncio.Event(), asyncio.Event()
    attempts: list[str] = []

    async def lock(uow: UnitOfWork, store_id: str, deadlock_timeout: str) -> None:
        # Which of the two PostgreSQL aborts is the one whose check finds the cycle first.
        await uow.conn.execute(text(f"SET LOCAL deadlock_timeout = '{deadlock_timeout}'"))
        await uow.conn.execute(
            text("SELECT 1 FROM streams WHERE stream_id = :s FOR UPDATE"),
            {"s": POSITIONS.stream_id(store_id, "P-1")},
        )

    async def timer_s1_then_s2(uow: UnitOfWork, _: Any) -> None:
        attempts.append("timer")
        await lock(uow, "S1", "2s")
        if attempts.count("timer") == 1:
            timer_holds_s1.set()
            await asyncio.wait_for(command_holds_s2.wait(), 10)
        await touch(uow, "S2")
        await touch(uow, "S1")

    async def command_s2_then_s1(uow: UnitOfWork) -> None:
        attempts.append("command")
        await lock(uow, "S2", "30s")
        if attempts.count("command") == 1:
            command_holds_s2.set()
            await asyncio.wait_for(timer_holds_s1.wait(), 10)
            await eventually(lambda: waiting_on_a_lock(db), within=10, interval=0.01)
        await touch(uow, "S1")
        await touch(uow, "S2")

    async def arm(uow: UnitOfWork) -> None:
        await uow.schedule("t/cycle", "cycle", clock.now(), {})

    await app.handle(("arm", "cycle"), arm)
    runner = TimerRunner(app, {"cycle": timer_s1_then_s2})
    timer_pass = asyncio.create_task(runner.run_due())
    await asyncio.wait_for(app.handle(("command", "S2"), command_s2_then_s1), 30)
    assert await asyncio.wait_for(timer_pass, 30) == 0, "the timer lost the lock cycle"
    troubles = [
        e
        for e in kernel_logs.entries
        if e["log_level"] in ("error", "critical") or "Deadlock" in repr(e)
    ]
    assert troubles == []
    assert [e["event"] for e in kernel_logs.entries if e["event"].startswith("timer")] == [
        "timer.conflict"
    ]
    assert await runner.run_due() == 1, "the timer fires again on the next pass"
    assert sorted(attempts) == ["command", "timer", "timer"]
    assert await count_timers(db) == 0
    assert await count_events(db) == 2 + 4
