"""NATS permissions generated from partners.yaml, on a real nats-server running them: a
store's partner reads that store's events and nothing else, publishes nothing, and is cut
off when revoked; a service publishes only its own context."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import nats
import pytest
from nats.aio.client import Client as NATS
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from storemesh.inventory.events.v1 import events_pb2

from kernel.application import Application
from tests.integration.kernel_fixtures import app, db, eventually, receive
from tests.integration.nats_access_fixtures import (
    ConfiguredNats,
    ErrorLog,
    PartnerKey,
    connect_partner,
    gz01_app,
    relay_events,
    secured_nats,
    service_client,
    sz01_courier,
)

STREAM = "INVENTORY"


async def fill_stream(app: Application, server: ConfiguredNats) -> None:
    """Stock received at SZ01 and at GZ01, published by the relay as the inventory user."""
    await receive(app, "SZ01", "P-1", 3)
    await receive(app, "GZ01", "P-2", 4)
    await relay_events(app, server, 2)


@pytest.fixture
async def filled(app: Application, secured_nats: ConfiguredNats) -> ConfiguredNats:
    await fill_stream(app, secured_nats)
    return secured_nats


@pytest.fixture
async def courier(
    filled: ConfiguredNats, sz01_courier: PartnerKey
) -> AsyncIterator[tuple[NATS, ErrorLog]]:
    errors = ErrorLog()
    client = await connect_partner(filled, sz01_courier, errors)
    yield client, errors
    await client.close()


def store_consumer(name: str, store: str) -> ConsumerConfig:
    return ConsumerConfig(
        name=name,
        durable_name=name,
        filter_subject=f"inventory.v1.{store}.>",
        deliver_policy=DeliverPolicy.ALL,
        ack_policy=AckPolicy.EXPLICIT,
        max_deliver=5,
    )


async def test_store_partner_receives_its_stores_events_with_its_own_durable_consumer(
    courier: tuple[NATS, ErrorLog], sz01_courier: PartnerKey
) -> None:
    client, errors = courier
    js = client.jetstream(timeout=2)
    await js.add_consumer(STREAM, store_consumer(sz01_courier.name, "SZ01"))
    pull = await js.pull_subscribe_bind(durable=sz01_courier.name, stream=STREAM)

    messages = await pull.fetch(10, timeout=3)

    assert [m.subject for m in messages] == ["inventory.v1.SZ01.StockReceived"]
    received = events_pb2.StockReceived.FromString(messages[0].data)
    assert (received.store_id, received.part_number, received.quantity) == ("SZ01", "P-1", 3)
    await messages[0].ack_sync(timeout=2)
    assert errors.errors == []


async def test_store_partner_is_refused_another_stores_events(
    courier: tuple[NATS, ErrorLog], sz01_courier: PartnerKey
) -> None:
    client, errors = courier
    js = client.jetstream(timeout=1)

    with pytest.raises(TimeoutError):
        await js.add_consumer(STREAM, store_consumer(sz01_courier.name, "GZ01"))
    await errors.wait_for(
        "Permissions Violation for Publish to "
        f'"$JS.API.CONSUMER.CREATE.INVENTORY.{sz01_courier.name}.inventory.v1.GZ01.>"'
    )

    # Naming its own store in the subject and another in the body: the server refuses.
    body = {"stream_name": STREAM, "config": store_consumer(sz01_courier.name, "GZ01").as_dict()}
    reply = await client.request(
        f"$JS.API.CONSUMER.CREATE.INVENTORY.{sz01_courier.name}.inventory.v1.SZ01.>",
        json.dumps(body).encode(),
        timeout=2,
    )
    error = json.loads(reply.data)["error"]
    assert "did not match filtered subject" in error["description"]

    # Neither a live subscription nor reading the stream directly reaches GZ01.
    await client.subscribe("inventory.v1.GZ01.>")
    await errors.wait_for('Permissions Violation for Subscription to "inventory.v1.GZ01.>"')
    with pytest.raises(TimeoutError):
        await js.get_msg(STREAM, seq=2)
    await errors.wait_for('Publish to "$JS.API.STREAM.MSG.GET.INVENTORY"')
    # Nor another user's replies.
    await client.subscribe("_INBOX.>")
    await errors.wait_for('Permissions Violation for Subscription to "_INBOX.>"')


async def test_store_partner_may_not_publish_into_our_streams(
    courier: tuple[NATS, ErrorLog], service_client: NATS
) -> None:
    client, errors = courier
    forged = events_pb2.StockReceived(store_id="SZ01", part_number="P-1", quantity=99)

    await client.publish("inventory.v1.SZ01.StockReceived", forged.SerializeToString())
    await errors.wait_for('Permissions Violation for Publish to "inventory.v1.SZ01.StockReceived"')
    with pytest.raises(TimeoutError):
        await client.jetstream(timeout=1).publish(
            "inventory.v1.SZ01.StockReceived", forged.SerializeToString()
        )

    info = await service_client.jetstream().stream_info(STREAM)
    assert info.state.messages == 2


async def test_service_publishes_only_its_own_contexts_subjects(filled: ConfiguredNats) -> None:
    errors = ErrorLog()
    inventory = await nats.connect(
        filled.url("inventory"), error_cb=errors.record, connect_timeout=2
    )
    try:
        await inventory.publish("workforce.v1.SZ01.TechnicianRegistered", b"")
        await errors.wait_for(
            'Permissions Violation for Publish to "workforce.v1.SZ01.TechnicianRegistered"'
        )
        ack = await inventory.jetstream(timeout=2).publish("inventory.v1.SZ01.Probe", b"")
        assert ack.stream == STREAM
    finally:
        await inventory.close()


async def test_revoked_partner_is_cut_off_on_reload(
    courier: tuple[NATS, ErrorLog],
    filled: ConfiguredNats,
    sz01_courier: PartnerKey,
    gz01_app: PartnerKey,
) -> None:
    client, _ = courier
    await client.flush(timeout=2)
    assert client.is_connected
    remaining = [p for p in filled.partners if p["name"] != sz01_courier.name]

    filled.reload(remaining)

    await eventually(lambda: _closed_or_reconnecting(client), within=10)
    with pytest.raises(nats.errors.Error):
        await connect_partner(
            filled, sz01_courier, ErrorLog(), allow_reconnect=False, max_reconnect_attempts=0
        )
    # The partner who stayed still gets in.
    kept = await connect_partner(filled, gz01_app, ErrorLog())
    await kept.close()


async def _closed_or_reconnecting(client: NATS) -> bool:
    return not client.is_connected
