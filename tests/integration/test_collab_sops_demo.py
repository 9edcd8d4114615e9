"""The demo's SOP 2 and SOP 3 cases, loaded as `make run` loads them (capacity, workforce,
then collab, each through its public API), are left where a user continues them, and a
user can: the lending store approves, the customer accepts."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, time
from typing import Any

from storemesh.collab.v1 import collab_pb2 as pb

from kernel.clock import ManualClock
from services.capacity import demo as capacity_demo
from services.collab import demo as collab_demo
from services.demo_network import DIVERSION_CASE, SHANGHAI, SUPPORT_CASE
from services.workforce import demo as workforce_demo
from tests.integration.capacity_fixtures import capacity_pg_url, capacity_service
from tests.integration.collab_fixtures import collab_db_url
from tests.integration.conftest import Running
from tests.integration.sops_fixtures import collab_with_both, reached
from tests.integration.workforce_fixtures import workforce_service

__all__ = [
    "capacity_pg_url",
    "capacity_service",
    "collab_db_url",
    "collab_with_both",
    "workforce_service",
]


async def test_the_demo_leaves_a_support_and_a_diversion_a_user_can_continue(
    collab_with_both: Any,
    workforce_service: Running,
    capacity_service: Running,
    mint: Callable[..., str],
    clock: ManualClock,
) -> None:
    # Workforce's demo publishes availability from the real today: the clock agrees.
    today = datetime.now(SHANGHAI).date()
    clock.set(datetime.combine(today, time(10), SHANGHAI).astimezone(UTC))
    metadata = (("authorization", f"Bearer {mint('hq')}"),)
    await capacity_demo.load(capacity_service.channel, metadata, now=clock.now())
    await workforce_demo.load(workforce_service.channel, metadata)
    async with collab_with_both() as collab:
        said = await collab_demo.load(collab.running.channel, metadata, now=clock.now())
        again = await collab_demo.load(collab.running.channel, metadata, now=clock.now())
        assert said == again
        _, support_line, diversion_line = said.splitlines()
        assert SUPPORT_CASE.technician_id in support_line
        assert diversion_line.endswith("(nearest first)")

        hq = collab.client(mint("hq"))
        (support,) = (await hq.ListSupports()).supports
        waiting = await reached(
            lambda: hq.GetSupport(support_id=support.support_id),
            pb.SUPPORT_STAGE_AWAITING_APPROVAL,
        )
        lender = collab.client(mint("dms", waiting.lending_store_id))
        await lender.ApproveSupport(
            request_id="9d3e0a3e-0000-4000-8000-000000000001", support_id=support.support_id
        )
        await reached(
            lambda: hq.GetSupport(support_id=support.support_id),
            pb.SUPPORT_STAGE_SCHEDULED,
        )

        (diversion,) = (await hq.ListDiversions(store_id=DIVERSION_CASE.store_id)).diversions
        assert diversion.customer_ref == DIVERSION_CASE.customer_ref
        offered = await reached(
            lambda: hq.GetDiversion(diversion_id=diversion.diversion_id),
            pb.DIVERSION_STAGE_AWAITING_CUSTOMER,
        )
        shenzhen = collab.client(mint("dms", DIVERSION_CASE.store_id))
        await shenzhen.AnswerDiversion(
            request_id="9d3e0a3e-0000-4000-8000-000000000002",
            diversion_id=diversion.diversion_id,
            answer=pb.DIVERSION_ANSWER_ACCEPTED,
        )
        done = await reached(
            lambda: hq.GetDiversion(diversion_id=diversion.diversion_id),
            pb.DIVERSION_STAGE_COMPLETED,
        )
        assert done.receiving_store_id == offered.receiving_store_id
