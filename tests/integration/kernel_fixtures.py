"""Fixtures and helpers for the kernel guarantee tests (event store, relay, subscriptions,
timers): a migrated database per test, an Application over the inventory event registry,
private NATS servers that tests may stop and start, and bounded polling."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import structlog
from nats.js import JetStreamContext
from sqlalchemy import Column, Integer, MetaData, String, Table, func, select, text
from structlog.testing import LogCapture

from kernel.application import Aggregate, Application, UnitOfWork
from kernel.clock import ManualClock
from kernel.db import Database
from kernel.eventstore import (
    KERNEL_MIGRATIONS,
    EventStore,
    NewEvent,
    RecordedEvent,
    events,
)
from kernel.relay import Relay
from kernel.testing.servers import Endpoints, NatsServerProcess
from services.inventory.bootstrap import DEFINITION
from services.inventory.domain.commands import ReceiveStock
from services.inventory.domain.events import StockReceived
from services.inventory.domain.stock import StockPosition, stock

REGISTRY = DEFINITION.registry


def service_process_env(
    address: str,
    pg_url: str,
    endpoints: Endpoints,
    namespace: str,
    public_key: Path,
    **settings: str,
) -> dict[str, str]:
    """The environment of a `python -m services.<name>` a test starts: this test's
    database, NATS namespace and key, a short shutdown grace, then `settings` on top."""
    return {
        **os.environ,
        "STOREMESH_GRPC_ADDRESS": address,
        "STOREMESH_DATABASE_URL": pg_url,
        "STOREMESH_NATS_URL": endpoints.nats_url,
        "STOREMESH_NATS_NAMESPACE": namespace,
        "STOREMESH_JWT_PUBLIC_KEY_FILE": str(public_key),
        "STOREMESH_SHUTDOWN_GRACE_SECONDS": "2",
        **settings,
    }


@contextmanager
def service_process(
    env: dict[str, str], log_path: Path, module: str = "services.inventory"
) -> Iterator[subprocess.Popen[bytes]]:
    """`python -m <module>` with `env`, its output in `log_path`; stopped on the way out
    with SIGTERM, and killed (with the workers it launched) if it has not stopped in 30 s."""
    with log_path.open("wb") as log:
        process = subprocess.Popen([sys.executable, "-m", module], env=env, stdout=log, stderr=log)
        try:
            yield process
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    for child in children(process.pid):
                        os.kill(child, signal.SIGKILL)
                    process.kill()
                    process.wait()


def children(pid: int) -> list[int]:
    """The processes `pid` started (a launcher's workers)."""
    listed = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(child) for child in listed.split()]


# The stock aggregate of the inventory service.
POSITIONS = Aggregate("stock", stock, StockPosition, store_of=lambda e: e.store_id)

# A side-effect table for handlers: no unique key, so a duplicate effect would show.
test_metadata = MetaData()
effects = Table(
    "test_effects",
    test_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key", String(200), nullable=False),
    Column("note", String(200), nullable=False, default=""),
)


async def migrated(url: str, **kwargs: Any) -> Database:
    db = Database(url, **kwargs)
    await db.migrate("kernel", KERNEL_MIGRATIONS)
    async with db.engine.begin() as conn:
        await conn.run_sync(test_metadata.create_all)
    return db


@pytest.fixture
async def db(pg_url: str) -> AsyncIterator[Database]:
    database = await migrated(pg_url)
    yield database
    await database.dispose()


@pytest.fixture(params=["postgresql", "sqlite"])
async def any_db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """The same test on PostgreSQL and on the embedded SQLite default."""
    if request.param == "postgresql":
        url = request.getfixturevalue("pg_url")
    else:
        url = f"sqlite+aiosqlite:///{tmp_path / 'kernel.db'}"
    database = await migrated(url)
    yield database
    await database.dispose()


@pytest.fixture
def app(db: Database, clock: ManualClock) -> Application:
    return Application(db, REGISTRY, clock)


@pytest.fixture
def private_nats() -> Iterator[NatsServerProcess]:
    """A NATS server of this test alone, on a free loopback port, to stop and start."""
    server = NatsServerProcess().start()
    yield server
    server.cleanup()


def stock_event(store_id: str = "SZ01", part: str = "P-1", quantity: int = 1) -> NewEvent:
    """A real inventory event (so the registry knows its type) for low-level appends."""
    at = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
    type_name, payload = REGISTRY.encode(
        StockReceived(store_id, part, quantity, "ref", quantity, at)
    )
    return NewEvent(type_name, payload, store_id)


async def touch(uow: UnitOfWork, store_id: str, part: str = "P-1") -> None:
    """Append one event to a stock stream at the version this transaction read."""
    stream_id = POSITIONS.stream_id(store_id, part)
    version = await uow.store.stream_version(uow.conn, stream_id)
    uow.recorded += await uow.store.append(
        uow.conn, stream_id, version, [stock_event(store_id, part)], uow.clock.now()
    )


@pytest.fixture
def kernel_logs(monkeypatch: pytest.MonkeyPatch) -> LogCapture:
    """What the kernel's command path, timers, relay and consumers log during the test.

    The kernel modules' loggers are swapped, not structlog's global configuration: a
    service assembled earlier in the session has cached its loggers already.
    """
    capture = LogCapture()
    logger = structlog.wrap_logger(
        None,
        processors=[structlog.processors.add_log_level, capture],
        wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG),
    )
    for module in ("application", "db", "relay", "subscriptions", "timers"):
        monkeypatch.setattr(f"kernel.{module}.log", logger)
    return capture


async def receive(app: Application, store_id: str, part: str, quantity: int = 1, **kw: Any) -> Any:
    """One ReceiveStock command through the Application (its own transaction)."""
    command = ReceiveStock(store_id, part, quantity, "ref", app.clock.now())

    async def handler(uow: UnitOfWork) -> int:
        done = await uow.execute(POSITIONS, POSITIONS.stream_id(store_id, part), command)
        return done.state.on_hand

    return await app.handle(command, handler, **kw)


async def count_events(db: Database) -> int:
    async with db.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(events)) or 0)


async def count_effects(db: Database, key: str | None = None) -> int:
    query = select(func.count()).select_from(effects)
    if key is not None:
        query = query.where(effects.c.key == key)
    async with db.connect() as conn:
        return int(await conn.scalar(query) or 0)


async def eventually(
    probe: Callable[[], Awaitable[Any]], *, within: float = 15.0, interval: float = 0.05
) -> Any:
    """Poll `probe` until it returns something truthy; fail after `within` seconds."""
    deadline = time.monotonic() + within
    last: Any = None
    while time.monotonic() < deadline:
        last = await probe()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {within}s (last probe: {last!r})")


async def waiting_on_a_lock(db: Database) -> bool:
    """Whether a transaction of this test's database is waiting for a row lock now."""
    return bool(await _sessions(db, "wait_event_type = 'Lock'"))


async def open_transactions(db: Database) -> int:
    """Sessions of this test's database sitting in an open transaction (the asker aside)."""
    return await _sessions(db, "state LIKE 'idle in transaction%' AND pid <> pg_backend_pid()")


async def _sessions(db: Database, condition: str) -> int:
    async with db.connect() as conn:
        found = await conn.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity "
                f"WHERE datname = current_database() AND {condition}"
            )
        )
    return int(found or 0)


async def stream_messages(js: JetStreamContext, stream: str) -> int:
    return int((await js.stream_info(stream)).state.messages)


async def all_messages(js: JetStreamContext, stream: str) -> list[Any]:
    """Every message in the stream, by sequence (headers included)."""
    info = await js.stream_info(stream)
    return [
        await js.get_msg(stream, seq)
        for seq in range(info.state.first_seq, info.state.last_seq + 1)
        if info.state.messages
    ]


async def take_unpublished(
    db: Database, count: int, *, limit: int = 500, within: float = 30.0
) -> list[RecordedEvent]:
    """Do what the relay does, without NATS: take events out of the outbox in order until
    `count` came; fail at the deadline."""
    store = EventStore()
    got: list[RecordedEvent] = []
    deadline = time.monotonic() + within
    while len(got) < count:
        async with db.transaction("test.outbox") as conn:
            batch = await store.read_unpublished(conn, limit)
            await store.mark_published(conn, [e.position for e in batch])
        got.extend(batch)
        if batch:
            continue
        if time.monotonic() > deadline:
            raise AssertionError(f"took {len(got)} of {count} events within {within}s")
        await asyncio.sleep(0.02)
    return got


async def drain(relay: Relay, expected: int, *, within: float = 30.0) -> int:
    """Relay until `expected` events went out; fail at the deadline."""
    sent = 0
    deadline = time.monotonic() + within
    while sent < expected:
        batch = await relay.relay_once()
        sent += batch
        if batch:
            continue
        if time.monotonic() > deadline:
            raise AssertionError(f"relayed {sent} of {expected} events within {within}s")
        await asyncio.sleep(0.02)
    return sent


async def sent_to_postgres(db: Database, action: Awaitable[Any]) -> list[tuple[str, str]]:
    """(message type, content) of every message the client sent while `action` ran, in the
    order sent, from libpq's traces of the engine pool's connection and of the read pool's
    (pools of one: the action's too; a command that sent nothing before its closing
    statement sends that on the read pool's connection)."""
    async with db.connect() as conn:
        driver = (await conn.get_raw_connection()).driver_connection
    assert driver is not None and db._reads is not None
    await db.autocommit("SELECT 1", {})  # the read pool's connection, idle for the action
    drivers = [driver, *(idle for idle, _ in db._reads._idle)]
    assert len(drivers) == 2
    with tempfile.TemporaryFile("w+") as first, tempfile.TemporaryFile("w+") as second:
        traces = (first, second)
        for each, trace in zip(drivers, traces, strict=True):
            each.pgconn.trace(trace.fileno())
        try:
            await action
        finally:
            for each in drivers:
                each.pgconn.untrace()
        messages: list[str] = []
        for trace in traces:
            trace.seek(0)
            # A message's line starts with libpq's timestamp; a statement's newlines
            # continue it on lines of their own.
            messages += re.split(r"\n(?=\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+\t)", trace.read())
    fields = sorted(m.rstrip("\n").split("\t") for m in messages if m)  # by timestamp
    return [(f[3].strip(), "\t".join(f[4:]).strip()) for f in fields if f[1] == "F"]
