"""A subscription to several subjects gets only those, on every NATS server version (the
shared test server is 2.9, which ignores a consumer's `filter_subjects` list), and an event
a consumer does not handle is acknowledged quietly, not parked as poison."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
import structlog
from nats.js.errors import NotFoundError
from storemesh.capacity.events.v1 import events_pb2
from structlog.testing import LogCapture

from kernel.application import Application, UnitOfWork
from kernel.db import Database
from kernel.messaging import InboundEvent, NatsConnection, StreamSpec
from kernel.store_directory import COMPONENT, MIGRATIONS, DirectoryRunner, store_status
from kernel.subscriptions import DEAD_LETTER_STREAM
from tests.integration.kernel_fixtures import app, db, eventually
from tests.integration.test_kernel_subscriptions import consuming, runner_for, settled

__all__ = ["app", "db"]

CAPACITY = StreamSpec(name="CAPACITY", subjects=["capacity.v1.>"])


@pytest.fixture
def logs(monkeypatch: pytest.MonkeyPatch) -> LogCapture:
    capture = LogCapture()
    logger = structlog.wrap_logger(
        None,
        processors=[structlog.processors.add_log_level, capture],
        wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG),
    )
    for module in ("subscriptions", "store_directory"):
        monkeypatch.setattr(f"kernel.{module}.log", logger)
    return capture


def _loud(logs: LogCapture) -> list[Any]:
    return [e for e in logs.entries if e["log_level"] in ("warning", "error", "critical")]


async def _dead_letters(nats: NatsConnection) -> int:
    js = await nats.jetstream()
    return int((await js.stream_info(nats.stream(DEAD_LETTER_STREAM.name))).state.messages)


async def _publish(nats: NatsConnection, subject: str, event_type: str, data: bytes) -> None:
    js = await nats.jetstream()
    event_id = str(uuid.uuid4())
    await js.publish(
        nats.subject(subject),
        data,
        headers={
            "ce-id": event_id,
            "Nats-Msg-Id": event_id,
            "ce-type": event_type,
            "ce-storeid": "SZ01",
            "ce-streamversion": "1",
        },
    )


async def test_a_subscription_to_several_subjects_gets_only_those(
    app: Application, nats_client: NatsConnection, logs: LogCapture
) -> None:
    seen: list[str] = []

    async def handler(uow: UnitOfWork, event: InboundEvent) -> None:
        seen.append(event.subject.rsplit(".", 1)[-1])

    runner = runner_for(
        app, nats_client, handler, subjects=("ktest.v1.*.Wanted", "ktest.v1.*.Also")
    )
    for kind in ("Other", "Wanted", "Other", "Also", "Other"):
        await _publish(nats_client, f"ktest.v1.SZ01.{kind}", f"storemesh.test.v1.{kind}", b"x")

    async with consuming(runner):
        # Whatever the server delivered is settled: handled, or skipped and acknowledged.
        await eventually(lambda: _all_settled(nats_client))

    assert seen == ["Wanted", "Also"]
    assert runner.parked == 0 and runner.handled == 2
    assert await _dead_letters(nats_client) == 0
    assert _loud(logs) == []


async def _all_settled(nats: NatsConnection) -> bool:
    js = await nats.jetstream()
    try:
        info = await js.consumer_info(nats.stream("KTEST"), "kt-sub")
    except NotFoundError:
        return False  # not bound yet
    return bool(await settled(nats, int(info.delivered.stream_seq)) and info.delivered.stream_seq)


async def test_the_store_directory_skips_capacitys_other_events_quietly(
    app: Application, db: Database, nats_client: NatsConnection, logs: LogCapture
) -> None:
    """Capacity's stream carries walk-ins, appointments and more beside its store events:
    the directory's consumer must not park them (it did, at error level, on NATS 2.9)."""
    await db.migrate(COMPONENT, MIGRATIONS)
    nats_client.declare(CAPACITY)
    walk_in = events_pb2.WalkInArrived(store_id="SZ01", day="2026-11-02", visit_id="V-1")
    registered = events_pb2.StoreRegistered(store_id="SZ01")
    registered.profile.name = "Shenzhen Futian"
    registered.profile.region = "South"
    registered.occurred_at.FromDatetime(datetime(2026, 11, 2, tzinfo=UTC))
    types = "storemesh.capacity.events.v1"
    await _publish(
        nats_client,
        "capacity.v1.SZ01.WalkInArrived",
        f"{types}.WalkInArrived",
        walk_in.SerializeToString(),
    )
    await _publish(
        nats_client,
        "capacity.v1.SZ01.StoreRegistered",
        f"{types}.StoreRegistered",
        registered.SerializeToString(),
    )

    runner = DirectoryRunner(app, nats_client, service="ktest")
    async with consuming(runner):

        async def known() -> bool:
            async with db.transaction("test.directory") as conn:
                return await store_status(conn, "SZ01") == (True, False) and (
                    await store_status(conn, "XX99")
                ) == (False, False)

        await eventually(known)
        await eventually(lambda: _consumer_settled(nats_client, runner.sub.name))

    assert runner.parked == 0, "a capacity event the directory does not keep was parked"
    assert await _dead_letters(nats_client) == 0
    assert _loud(logs) == []
    assert runner.memory.closed("SZ01") is False


async def _consumer_settled(nats: NatsConnection, name: str) -> bool:
    js = await nats.jetstream()
    try:
        info = await js.consumer_info(nats.stream("CAPACITY"), name)
    except NotFoundError:
        return False
    return bool(info.num_pending == 0 and info.num_ack_pending == 0 and info.delivered.stream_seq)
