"""Authorisation comes before idempotent replay: a caller who may not act never gets the
cached answer of a request someone allowed made with the same request_id.

The regression: workforce answered a repeated request_id from its command log before
checking the caller, so another store's DMS got HQ's answer to AddSpecialty, PlanShift and
ConfirmSupport.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf.message import Message

from kernel.clock import ManualClock
from kernel.testing.servers import Endpoints
from tests.integration.capacity_fixtures import (
    MONDAY,
    CapacityClient,
    cap,
    capacity_pg_url,
    capacity_service,
    local,
    ts,
)
from tests.integration.edge_fixtures import BUILDS, NetworkOn, network_on
from tests.integration.hostile_requests import fresh, is_mutation, plausible
from tests.integration.inventory_fixtures import InventoryClient, inv, inventory_service
from tests.integration.inventory_fixtures import register_part as catalogue
from tests.integration.rich_errors import event_count, failure
from tests.integration.test_edge_fuzz import call_rpc, every_rpc
from tests.integration.workforce_fixtures import (
    FRIDAY,
    WorkforceClient,
    hold,
    publish_day,
    register,
    wf,
    workforce_service,
)

__all__ = ["cap", "capacity_pg_url", "capacity_service", "inv", "inventory_service", "wf"]
__all__ += ["network_on", "workforce_service"]


async def replay_is_refused(
    allowed: Callable[..., Awaitable[Any]],
    stranger: Callable[..., Awaitable[Any]],
    **request: Any,
) -> None:
    request_id = str(uuid.uuid4())
    await allowed(request_id=request_id, **request)
    refused = await failure(stranger(request_id=request_id, **request))
    assert refused.code() == grpc.StatusCode.PERMISSION_DENIED, refused.details()


async def test_workforce_checks_the_caller_before_replaying_a_request_id(
    wf: WorkforceClient, mint: Callable[..., str]
) -> None:
    await register(wf, "T-1", store_id="SZ01")
    await publish_day(wf, "T-1")
    await hold(wf, "T-1", support_id="S-1")
    other = wf.as_(mint("dms", "DG01"))
    before = await event_count(wf.run)

    await replay_is_refused(
        wf.AddSpecialty, other.AddSpecialty, technician_id="T-1", specialty="paint"
    )
    await replay_is_refused(
        wf.PlanShift,
        other.PlanShift,
        technician_id="T-1",
        day=FRIDAY.isoformat(),
        available_hours=8,
    )
    await replay_is_refused(
        wf.ConfirmSupport, other.ConfirmSupport, technician_id="T-1", support_id="S-1"
    )
    assert await event_count(wf.run) == before + 3  # only HQ's three changes


async def test_inventory_checks_the_caller_before_replaying_a_request_id(
    inv: InventoryClient, mint: Callable[..., str]
) -> None:
    await catalogue(inv, "P-1")
    other = inv.as_(mint("dms", "GZ01"))

    await replay_is_refused(
        inv.ReceiveStock, other.ReceiveStock, store_id="SZ01", part_number="P-1", quantity=5
    )


async def test_capacity_checks_the_caller_before_replaying_a_request_id(
    cap: CapacityClient, mint: Callable[..., str]
) -> None:
    await cap.register("SZ01")
    other = cap.as_(mint("dms", "GZ01"))

    await replay_is_refused(
        cap.BookAppointment,
        other.BookAppointment,
        store_id="SZ01",
        appointment_id="A-1",
        customer_ref="C-1",
        vehicle="粤B12345",
        service_type="maintenance",
        expected_labour_hours=2.0,
        requested_at=ts(local(10, 0, MONDAY)),
    )


@pytest.mark.timeout(300)
async def test_no_mutation_of_any_service_replays_hqs_answer_to_a_stranger(
    network_on: NetworkOn, mint: Callable[..., str]
) -> None:
    """Every mutation of every service, from the descriptors: what HQ did with a request_id,
    a DMS and a partner of a store that is no party to it repeat, and are refused."""
    hq = mint("hq", subject="replay-hq")
    strangers = {"dms": mint("dms", "ZZ99"), "partner": mint("partner", "ZZ99")}
    replayed: Counter[str] = Counter()
    leaks = []
    async with network_on("sqlite") as net:
        for service, method in every_rpc(net):
            if not is_mutation(method.input_type):
                continue
            base = plausible(method.input_type, getattr(service.messages, method.input_type.name))
            request = fresh(base)
            if not isinstance(await call_rpc(service, method, request, hq), Message):
                continue  # HQ's plausible request was refused: nothing to replay
            before = await event_count(service.run)
            for who, token in strangers.items():
                answer = await call_rpc(service, method, request, token)
                code = "OK" if isinstance(answer, Message) else answer[0].name
                if code != "PERMISSION_DENIED":
                    leaks.append(f"{service.name} {method.name} as {who}: {code}")
            assert await event_count(service.run) == before
            replayed[service.name] += 1

    print(f"\nHQ answers replayed to strangers, per service: {dict(replayed)}")
    assert set(replayed) == {name for name, *_ in BUILDS}
    assert leaks == []
