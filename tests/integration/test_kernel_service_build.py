"""A service process builds its application object once: servicer and timers share it (and
its caches), where each bootstrap used to build two."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from kernel.application import Application
from kernel.clock import ManualClock
from kernel.config import Settings
from kernel.testing.servers import Endpoints
from services.inventory.application import Inventory
from services.inventory.bootstrap import DEFINITION
from tests.integration.conftest import delete_streams, running, settings_for


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
        await delete_streams(run.service.nats)

    assert len(built) == 1 and timer_owner is built[0]
