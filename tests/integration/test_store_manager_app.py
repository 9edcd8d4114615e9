"""The example partner app (examples/store_manager_app) end to end, on a nats-server running
the generated NATS configuration: inventory, capacity and collab connected as their service
users, the app as SZ02's partner user of the committed grant (with a key of its own). It
receives its store's approval request only, approves it over gRPC with a manager's token,
and the transfer goes on to pickup; a warning on analytics' subject reaches it too."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import grpc
import nats
import pytest
import yaml
from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy import func, select
from storemesh.analytics.events.v1 import events_pb2 as analytics_events
from storemesh.collab.events.v1 import events_pb2 as collab_events
from storemesh.collab.v1 import collab_pb2 as pb
from storemesh.inventory.v1 import inventory_pb2 as inventory_pb

from deploy.nats.__main__ import PARTNERS
from deploy.nats.access import new_user_nkey
from examples.store_manager_app.app import Credentials, StoreManagerApp
from examples.store_manager_app.decisions import AutoApprove
from kernel.clock import ManualClock
from kernel.messaging import NatsConnection, StreamSpec
from kernel.store_directory import store_directory
from kernel.testing.servers import Endpoints, create_database, drop_database
from services.capacity.bootstrap import build as build_capacity
from services.collab.bootstrap import DEFINITION as COLLAB
from services.collab.bootstrap import collaboration
from services.collab.domain.transfer import Deadlines
from services.inventory.bootstrap import build as build_inventory
from tests.integration.capacity_fixtures import CapacityClient, local
from tests.integration.collab_fixtures import CollabClient, at_stage, saga_events
from tests.integration.conftest import Running, running, settings_for
from tests.integration.inventory_fixtures import InventoryClient
from tests.integration.kernel_fixtures import eventually
from tests.integration.nats_access_fixtures import ConfiguredNats, PartnerKey

APP = "sz02-manager-app"
SZ, DG, GZ = "SZ02", "DG01", "GZ01"
HEADLIGHT, BRAKES = "HL-200", "BR-100"


def committed_grant(key: PartnerKey) -> dict[str, Any]:
    """The example app's entry of deploy/nats/partners.yaml, with the test's own key."""
    entries = yaml.safe_load(PARTNERS.read_text())["partners"]
    (entry,) = [e for e in entries if e["name"] == APP]
    return {**entry, "nkeys": [key.public]}


@pytest.fixture
def app_key() -> PartnerKey:
    public, seed = new_user_nkey()
    return PartnerKey(APP, public, seed)


@pytest.fixture
def secured(tmp_path: Path, app_key: PartnerKey) -> Any:
    server = ConfiguredNats(tmp_path / "nats", [committed_grant(app_key)])
    server.directory.mkdir()
    yield server.start()
    server.stop()


@pytest.fixture
def databases(endpoints: Endpoints) -> Any:
    urls = {name: create_database(endpoints.postgres_url) for name in ("inv", "cap", "collab")}
    yield urls
    for url in urls.values():
        drop_database(url, endpoints.postgres_url)


@dataclass
class Network:
    inventory: Running
    capacity: Running
    collab: Running
    collab_parts: Any


@pytest.fixture
async def network(
    secured: ConfiguredNats,
    databases: dict[str, str],
    clock: ManualClock,
    verifier: Any,
    mint: Callable[..., str],
) -> AsyncIterator[Network]:
    """inventory, capacity and collab, each on NATS as its own service user."""
    clock.set(local(9, 0))

    def settings(service: str, db: str) -> Any:
        return settings_for(service, databases[db], secured.url(service), namespace="")

    async with AsyncExitStack() as stack:
        inventory = await stack.enter_async_context(
            running(build_inventory, settings("inventory", "inv"), clock, verifier)
        )
        capacity = await stack.enter_async_context(
            running(build_capacity, settings("capacity", "cap"), clock, verifier)
        )
        collab = await stack.enter_async_context(
            running(
                replace(
                    COLLAB,
                    application=lambda app, collab_settings: collaboration(
                        app, collab_settings, inventory=inventory.channel, deadlines=Deadlines()
                    ),
                ).build,
                replace(
                    settings("collab", "collab"), service_token=mint("service", subject="collab")
                ),
                clock,
                verifier,
            )
        )
        yield Network(inventory, capacity, collab, collab.service.application)


async def published_on(server: ConfiguredNats, stream: str, subject: str) -> int:
    """How many messages `stream` holds on `subject`, asked as collab's service user."""
    client = await nats.connect(server.url("collab"), connect_timeout=2)
    try:
        info = await client.jetstream(timeout=2).stream_info(stream, subjects_filter=subject)
        return int((info.state.subjects or {}).get(subject, 0))
    finally:
        await client.close()


async def directory_size(run: Running, wanted: int) -> bool:
    async with run.service.db.transaction() as conn:
        count = await conn.scalar(select(func.count()).select_from(store_directory))
    return count == wanted


async def raise_warnings(server: ConfiguredNats, *stores: str) -> None:
    """WarningRaised for each store, as the analytics service publishes it (its stream,
    its user, CloudEvents headers): analytics itself is not needed for the app's side."""
    connection = NatsConnection(server.url("analytics"), name="analytics-test")
    connection.declare(StreamSpec("ANALYTICS", ["analytics.v1.>"]))
    try:
        js = await connection.jetstream()
        for n, store in enumerate(stores):
            warning = analytics_events.WarningRaised(
                store_id=store,
                warning_id=f"W-{store}",
                rule=analytics_events.WARNING_RULE_TARGET_DEVIATION,
                level=analytics_events.WARNING_LEVEL_RED,
                indicator="vehicles_in",
                period=analytics_events.Period(start="2026-11-01"),
                actual=80,
                reference=100,
                deviation=0.2,
                drill_down=f"store/{store}/indicator/vehicles_in/period/2026-11",
                occurred_at=Timestamp(seconds=1),
            )
            headers = {
                "ce-type": warning.DESCRIPTOR.full_name,
                "ce-id": f"00000000-0000-0000-0000-00000000000{n}",
                "ce-storeid": store,
                "content-type": "application/protobuf",
            }
            await js.publish(
                f"analytics.v1.{store}.WarningRaised", warning.SerializeToString(), headers=headers
            )
    finally:
        await connection.close()


async def test_store_manager_app_approves_its_stores_transfer_and_sees_nothing_of_others(
    network: Network,
    secured: ConfiguredNats,
    app_key: PartnerKey,
    clock: ManualClock,
    mint: Callable[..., str],
) -> None:
    inv = InventoryClient(network.inventory, mint("hq"))
    cap = CapacityClient(network.capacity, mint("hq"))
    for store in (SZ, DG, GZ):
        await cap.register(store_id=store, name=store)
    for part in (HEADLIGHT, BRAKES):
        await inv.RegisterPart(
            part=inventory_pb.Part(part_number=part, name=part, category="body", unit="pc")
        )
    await inv.ReceiveStock(store_id=SZ, part_number=HEADLIGHT, quantity=5)
    await inv.ReceiveStock(store_id=DG, part_number=BRAKES, quantity=5)
    # collab follows capacity's stores as its service user: the generated permissions
    # let its ordered consumer through.
    await eventually(lambda: directory_size(network.collab, 3))
    guangzhou = CollabClient(network.collab, mint("dms", GZ))
    hq = CollabClient(network.collab, mint("hq"))

    # Dongguan's request is published before the app starts: it must never reach SZ02's app.
    await guangzhou.RequestTransfer(
        request_id="T-DG",
        store_id=GZ,
        part_number=BRAKES,
        quantity=1,
        urgency=pb.URGENCY_URGENT,
        customer_waiting=True,
    )
    await at_stage(hq, "T-DG", pb.TRANSFER_STAGE_AWAITING_APPROVAL, DG)
    await eventually(lambda: published_on(secured, "COLLAB", f"collab.v1.{DG}.ApprovalRequested"))

    lines: list[str] = []
    app = StoreManagerApp(
        Credentials(
            nats_url=secured.url(),
            nkey_seed=app_key.seed,
            partner=APP,
            collab_address=f"127.0.0.1:{network.collab.service.host.port}",
            token=mint("manager", SZ, subject="manager-sz02"),
        ),
        SZ,
        AutoApprove(),
        report=lines.append,
        now=clock.now,
    )
    stop = asyncio.Event()
    running_app = asyncio.create_task(app.run(stop))
    try:
        await guangzhou.RequestTransfer(
            request_id="T-SZ",
            store_id=GZ,
            part_number=HEADLIGHT,
            quantity=2,
            urgency=pb.URGENCY_URGENT,
            customer_waiting=True,
        )
        approved = await at_stage(hq, "T-SZ", pb.TRANSFER_STAGE_AWAITING_PICKUP, SZ)
        assert approved.source_store_id == SZ
        # analytics' stream appears after the app started: it waited for it.
        await raise_warnings(secured, GZ, SZ)
        await eventually(lambda: asyncio.sleep(0, len(app.handled) >= 2), within=20)
    finally:
        stop.set()
        await asyncio.wait_for(running_app, 10)

    kinds = [(type(e).__name__, e.store_id) for _, e in app.handled]
    assert sorted(kinds) == [("ApprovalRequested", SZ), ("WarningRaised", SZ)]
    (request,) = [e for _, e in app.handled if isinstance(e, collab_events.ApprovalRequested)]
    assert (request.transfer_id, request.requesting_store_id, request.quantity) == ("T-SZ", GZ, 2)
    assert "waiting for stream ANALYTICS" in lines
    assert any(line.startswith("approved transfer T-SZ") for line in lines)
    approvals = [
        e
        for e in await saga_events(_as_run(network), "T-SZ")
        if type(e).__name__ == "TransferApproved"
    ]
    assert [(a.source_store_id, a.approved_by) for a in approvals] == [(SZ, "manager-sz02")]
    # Dongguan's transfer is untouched: still waiting for Dongguan.
    other = await hq.GetTransfer(transfer_id="T-DG")
    assert (other.stage, other.source_store_id) == (pb.TRANSFER_STAGE_AWAITING_APPROVAL, DG)


def _as_run(network: Network) -> Any:
    from tests.integration.collab_fixtures import Collaboration, CollabRun

    return CollabRun(network.collab, Collaboration(network.collab.service, network.collab_parts))
