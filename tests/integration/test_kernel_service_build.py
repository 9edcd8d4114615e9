"""A service process builds its application object once: servicer and timers share it (and
its caches), where each bootstrap used to build two."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from kernel.application import Application
from kernel.clock import ManualClock
from kernel.config import Settings
from kernel.saga import pending_calls
from kernel.testing.servers import Endpoints
from services.inventory.application import Inventory
from services.inventory.bootstrap import DEFINITION
from tests.integration.conftest import delete_streams, running, settings_for
from tests.integration.inventory_fixtures import InventoryClient, register_part


async def test_the_application_object_is_built_once_per_process(
    pg_url: str, endpoints: Endpoints, namespace: str, clock: ManualClock, verifier: Any
) -> None:
    built: list[Inventory] = []

    def application(app: Application, settings: Settings) -> Inventory:
        built.append(Inventory(app))
        return built[-1]

    counting = replace(DEFINITION, application=application)
    settings = settings_for("inventory", pg_url, endpoints.nats_url, namespace)
    async with running(counting.build, settings, clock, verifier, timer_interval=3600) as run:
        timer_owner = run.service.timers.handlers["inventory.expire_reservation"].__self__  # type: ignore[attr-defined]
        kept = run.service.application
        await delete_streams(run.service.nats)

    assert len(built) == 1 and timer_owner is built[0] and kept is built[0]


class Loop:
    """A service's own background loop, as a saga dispatcher is."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.stopped = False
        self.woken = 0

    def wake(self) -> None:
        self.woken += 1

    async def run(self, stop: asyncio.Event) -> None:
        self.started.set()
        await stop.wait()
        self.stopped = True


async def test_a_service_background_loop_runs_is_woken_on_commit_and_stops_with_the_host(
    pg_url: str,
    endpoints: Endpoints,
    namespace: str,
    clock: ManualClock,
    verifier: Any,
    mint: Callable[..., str],
) -> None:
    loop = Loop()
    with_loop = replace(DEFINITION, runs_sagas=True, background=lambda inventory: [loop])
    settings = settings_for("inventory", pg_url, endpoints.nats_url, namespace)
    async with running(with_loop.build, settings, clock, verifier, timer_interval=3600) as run:
        await asyncio.wait_for(loop.started.wait(), 10)
        async with run.service.db.transaction() as conn:
            assert list(await pending_calls(conn)) == []  # the saga tables are there
        await register_part(InventoryClient(run, mint("hq")))
        assert loop.woken >= 1
        await delete_streams(run.service.nats)

    assert loop.stopped
