"""Collab's and analytics' paged RPCs refuse a forged page token as INVALID_ARGUMENT on
page_token, as inventory's, capacity's and workforce's do (test_forged_page_tokens.py).

The rows paged here are seeded in the read models the queries read: what is under test is
the edge's token, and a saga or a monthly close per row would only make the test slow.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import insert
from storemesh.analytics.events.v1 import events_pb2 as ev
from storemesh.analytics.v1 import analytics_pb2 as apb

from kernel.service import Service
from kernel.testing.page_tokens import with_key
from services.analytics.network_model import contributions
from services.analytics.read_model import warnings
from services.collab.read_model import transfers
from services.collab.read_model_sops import diversions, supports
from tests.integration.analytics_fixtures import (
    AnalyticsStarter,
    analytics_db_url,
    knows_stores,
    start_analytics,
)
from tests.integration.capacity_fixtures import (
    CapacityClient,
    cap,
    capacity_pg_url,
    capacity_service,
)
from tests.integration.collab_fixtures import collab_db_url, start_collab
from tests.integration.inventory_fixtures import inventory_service
from tests.integration.rich_errors import failure, violated_fields
from tests.integration.test_forged_page_tokens import refuses_forgeries

__all__ = [
    "analytics_db_url",
    "cap",
    "capacity_pg_url",
    "capacity_service",
    "collab_db_url",
    "inventory_service",
    "start_analytics",
    "start_collab",
]

AT = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
NOVEMBER = ev.Period(kind=ev.PERIOD_KIND_MONTH, start="2026-11-01")
NETWORK = apb.Scope(level=apb.SCOPE_LEVEL_NETWORK)


async def seed(service: Service, table: Any, *rows: dict[str, Any]) -> None:
    async with service.db.transaction("test.seed") as conn:
        await conn.execute(insert(table), list(rows))


def transfer(n: int) -> dict[str, Any]:
    return {
        "transfer_id": f"T-{n}",
        "requesting_store_id": "GZ01",
        "source_store_id": "FS01",
        "part_number": "HL-200",
        "quantity": 1,
        "urgency": "urgent",  # the proto's names, as the projector stores them
        "customer_waiting": False,
        "repair_order": "",
        "candidates": [],
        "stage": "RESERVING",
        "reason": "",
        "requested_at": AT,
        "response_seconds": 0,
        "within_sla": False,
        "freight_fen": 0,
    }


def support(n: int) -> dict[str, Any]:
    return {
        "support_id": f"S-{n}",
        "requesting_store_id": "GZ01",
        "lending_store_id": "SZ01",
        "technician_id": f"TECH-{n}",
        "specialty": "hv_ev",
        "minimum_level": "T2",
        "starts_at": AT,
        "ends_at": AT,
        "fault": "",
        "urgent": False,
        "candidates": [],
        "stage": "HOLDING",
        "reason": "",
        "requested_at": AT,
        "subsidy_fen": 0,
        "travel_and_lodging_paid": False,
        "distance_km": 0.0,
        "hours_worked": 0.0,
        "fault_solved": False,
        "travel_and_lodging_fen": 0,
        "rated_by": [],
    }


def diversion(n: int) -> dict[str, Any]:
    return {
        "diversion_id": f"D-{n}",
        "origin_store_id": "SZ01",
        "receiving_store_id": "GZ01",
        "origin_appointment_id": f"A-{n}",
        "origin_day": "2026-11-02",
        "customer_ref": f"C-{n}",
        "vehicle": "",
        "service_type": "maintenance",
        "expected_labour_hours": 1.0,
        "trigger": "overload",
        "candidates": [],
        "distance_km": 0.0,
        "stage": "HOLDING",
        "reason": "",
        "requested_at": AT,
        "slot_at": AT,
        "appointment_id": "",
        "compensation_fen": 0,
        "transport_voucher_fen": 0,
    }


async def test_collab_refuses_forged_tokens_on_every_paged_query(
    start_collab: Any, mint: Any
) -> None:
    async with start_collab() as collab:
        service = collab.running.service
        await seed(service, transfers, *(transfer(n) for n in (1, 2, 3)))
        await seed(service, supports, *(support(n) for n in (1, 2, 3)))
        await seed(service, diversions, *(diversion(n) for n in (1, 2, 3)))
        hq = collab.client(mint("hq"))

        sent = [
            await refuses_forgeries(hq.ListTransfers, page_size=1),
            await refuses_forgeries(hq.ListTransfers, store_id="GZ01", page_size=1),
            await refuses_forgeries(hq.ListSupports, page_size=1),
            await refuses_forgeries(hq.ListDiversions, store_id="SZ01", page_size=1),
        ]
    assert all(n > 5 for n in sent)


def warning(n: int) -> dict[str, Any]:
    return {
        "warning_id": f"W-{n}",
        "store_id": "SZ01",
        "rule": 1,
        "level": 2,
        "indicator": "vehicles_in",
        "period_kind": int(ev.PERIOD_KIND_MONTH),
        "period_start": date(2026, 11, 1),
        "actual": "1",
        "reference": "2",
        "deviation": f"-{n}/10",
        "deviation_value": -n / 10,
        "drill_down": f"store/SZ01/indicator/vehicles_in/{n}",
        "raised_at": AT,
    }


def contribution(store_id: str, n: int) -> dict[str, Any]:
    return {
        "saga": "transfer",
        "saga_id": f"T-{store_id}-{n}",
        "store_id": store_id,
        "act": "transfer",
        "points": 1,
        "day": date(2026, 11, 2),
        "occurred_at": AT,
    }


async def test_analytics_refuses_forged_tokens_on_every_paged_query(
    start_analytics: AnalyticsStarter, cap: CapacityClient, mint: Any
) -> None:
    for store in ("SZ01", "GZ01"):
        await cap.register(store)
    async with start_analytics() as run:
        await knows_stores(run, "SZ01", "GZ01")
        hq = run.client(mint("hq"))
        for indicator in ("vehicles_in", "csi", "revenue"):
            await hq.SetTarget(store_id="SZ01", indicator=indicator, period=NOVEMBER, value=10)
        service = run.running.service
        await seed(service, warnings, *(warning(n) for n in (1, 2, 3)))
        await seed(
            service,
            contributions,
            contribution("SZ01", 1),
            contribution("SZ01", 2),
            contribution("GZ01", 1),
        )

        sent = [
            await refuses_forgeries(hq.ListTargets, store_id="SZ01", year=2026, page_size=1),
            await refuses_forgeries(
                hq.ListWarnings, scope=NETWORK, as_of="2026-11-03", page_size=1
            ),
            await refuses_forgeries(hq.GetContributionRanking, month=NOVEMBER, page_size=1),
        ]
    assert all(n > 5 for n in sent)


async def test_a_position_token_edited_below_zero_is_refused_not_read_from_the_end(
    start_analytics: AnalyticsStarter, cap: CapacityClient, mint: Any
) -> None:
    """ListWarnings and GetContributionRanking resume at a position: a negative one would
    slice their list from its end, a page the caller was never given."""
    await cap.register("SZ01")
    async with start_analytics() as run:
        hq = run.client(mint("hq"))
        await seed(run.running.service, warnings, *(warning(n) for n in (1, 2, 3)))
        first = await hq.ListWarnings(scope=NETWORK, as_of="2026-11-03", page_size=1)
        back = with_key(first.next_page_token, -1)
        refused = await failure(
            hq.ListWarnings(scope=NETWORK, as_of="2026-11-03", page_size=1, page_token=back)
        )
        await seed(
            run.running.service,
            contributions,
            contribution("SZ01", 1),
            contribution("SZ01", 2),
            contribution("GZ01", 1),
        )
        ranked = await hq.GetContributionRanking(month=NOVEMBER, page_size=1)
        unranked = await failure(
            hq.GetContributionRanking(
                month=NOVEMBER, page_size=1, page_token=with_key(ranked.next_page_token, -1)
            )
        )
    assert violated_fields(refused) == ["page_token"]
    assert violated_fields(unranked) == ["page_token"]
