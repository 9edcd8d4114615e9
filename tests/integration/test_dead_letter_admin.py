"""Every service that consumes events has the operator's dead-letter commands
(`python -m services.<name>.admin`, kernel/saga/admin.py), not only collab: here
inventory's store directory, whose durable subscription parks as any other. The saga
commands are offered only where the service runs sagas."""

from __future__ import annotations

import asyncio
import io
import subprocess
import sys

from sqlalchemy import select
from storemesh.capacity.events.v1 import events_pb2 as capacity_events

from kernel.clock import ManualClock
from kernel.saga import admin
from kernel.saga.admin import OK, USAGE
from kernel.store_directory import store_directory
from kernel.testing.servers import Endpoints
from services.inventory.bootstrap import DEFINITION
from tests.integration.conftest import Running, settings_for
from tests.integration.inventory_fixtures import inventory_service
from tests.integration.kernel_fixtures import eventually

__all__ = ["inventory_service"]


async def test_a_parked_store_event_is_listed_and_replayed_into_inventorys_directory(
    inventory_service: Running,
    pg_url: str,
    endpoints: Endpoints,
    namespace: str,
    clock: ManualClock,
) -> None:
    settings = settings_for("inventory", pg_url, endpoints.nats_url, namespace)

    async def cli(*argv: str) -> tuple[int, str]:
        out = io.StringIO()
        code = await asyncio.to_thread(
            admin.main, DEFINITION, list(argv), settings=settings, clock=clock, out=out
        )
        return code, out.getvalue()

    nats = inventory_service.service.nats
    js = await nats.jetstream()
    registered = capacity_events.StoreRegistered(
        store_id="FS01", profile=capacity_events.StoreProfile(name="Foshan", region="South")
    )
    # Parked as the runner parks an event whose handling kept failing (the database away
    # through every delivery): the directory never got the store.
    await js.publish(
        nats.subject("deadletter.v1.inventory.inventory-store-directory"),
        registered.SerializeToString(),
        headers={
            "ce-id": "store-fs01",
            "ce-type": "storemesh.capacity.events.v1.StoreRegistered",
            "ce-streamversion": "1",
            "x-dead-letter-reason": "failed 5 times: database unavailable",
            "x-original-subject": nats.subject("capacity.v1.FS01.StoreRegistered"),
            "x-deliveries": "5",
            "x-subscription": "inventory-store-directory",
            "Nats-Msg-Id": "dlq-inventory-store-directory-store-fs01",
        },
    )

    async def listed() -> str:
        code, said = await cli("dead-letters")
        return said if code == OK and "store-fs01" in said else ""

    line = await eventually(listed)
    assert "inventory-store-directory" in line and "database unavailable" in line

    code, said = await cli("replay", "--all")
    assert code == OK, said
    assert said.split(maxsplit=1)[1].strip() == "inventory-store-directory: replayed"
    async with inventory_service.service.db.transaction() as conn:
        row = (
            await conn.execute(
                select(store_directory.c.name, store_directory.c.closed).where(
                    store_directory.c.store_id == "FS01"
                )
            )
        ).one()
    assert tuple(row) == ("Foshan", False)
    code, said = await cli("dead-letters")
    assert (code, said) == (OK, "")

    # No sagas here: their commands are not offered.
    code, said = await cli("list")
    assert code == USAGE


def test_each_consuming_service_has_the_command_line() -> None:
    for service in ("inventory", "workforce", "analytics", "collab"):
        shown = subprocess.run(
            [sys.executable, "-m", f"services.{service}.admin", "--help"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert shown.returncode == 0, shown.stderr
        assert "dead-letters" in shown.stdout and "replay" in shown.stdout
        assert ("history" in shown.stdout) == (service == "collab")
