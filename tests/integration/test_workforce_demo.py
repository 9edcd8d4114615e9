"""The demo network's technicians load once: a second load changes nothing."""

from __future__ import annotations

from collections import Counter

from storemesh.workforce.v1 import workforce_pb2 as pb

from services.workforce import demo
from tests.integration.rich_errors import event_count
from tests.integration.workforce_fixtures import (
    WorkforceClient,
    wf,
    workforce_service,
)


async def test_the_demo_technicians_spread_like_a_network_and_load_idempotently(
    wf: WorkforceClient,
) -> None:
    metadata = wf.run.metadata(wf.token)

    await demo.load(wf.run.channel, metadata)
    loaded = await event_count(wf.run)
    await demo.load(wf.run.channel, metadata)
    everyone = (await wf.ListTechnicians(page_size=500)).technicians
    experts = (await wf.ListTechnicians(page_size=500, specialty="adas")).technicians

    assert await event_count(wf.run) == loaded
    levels = Counter(t.level for t in everyone)
    assert 90 <= len(everyone) <= 150
    assert levels[pb.LEVEL_T1] > levels[pb.LEVEL_T2] > levels[pb.LEVEL_T3] > 0
    assert {t.store_id for t in experts} <= {"SZ01", "GZ01", "SZ02"}
    assert sum(1 for t in everyone if t.availability) >= 10
