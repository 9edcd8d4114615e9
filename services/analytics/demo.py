"""Analytics' part of the demo network: last month's operating reports and this year's
targets, through the public API as a store's DMS and HQ would send them.

Each store reports last month (Shanghai calendar); its figures scale domain.md's diagnosed
store (8 bays, 850k revenue, 1,050k costs) by its bays, so the network has losers and
winners to compare. HQ sets each store's yearly revenue and vehicles-in targets with the
Spring Festival dip in February, and a CSI target of 90 for this month. HQ puts the field's
month-1 pilot (Shenzhen + Guangzhou + Dongguan: SZ01, GZ01, DG01) into collaboration since
the first of last month. Request ids are derived from what is loaded, so loading twice
changes nothing.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import grpc
from storemesh.analytics.events.v1 import events_pb2 as ev
from storemesh.analytics.v1 import analytics_pb2 as pb
from storemesh.analytics.v1 import analytics_pb2_grpc as pb_grpc

from services.analytics.domain import reasons
from services.demo_network import STORES, DemoStore, refusal_reason, request_id

SHANGHAI = ZoneInfo("Asia/Shanghai")
SPRING_FESTIVAL_MONTH = 2
# The store directory fills from capacity's events a moment after capacity's demo part.
DIRECTORY_WAIT_SECONDS = 15.0
# domain.md's pilot of month 1: one store each in Shenzhen, Guangzhou and Dongguan.
PILOT_STORES = ("SZ01", "GZ01", "DG01")


def figures(store: DemoStore) -> ev.OperatingFigures:
    scale = store.bays / 8
    return ev.OperatingFigures(
        revenue=ev.RevenueByLine(
            labour_fen=round(42_000_000 * scale),
            parts_fen=round(35_000_000 * scale),
            value_added_fen=round(8_000_000 * scale),
        ),
        costs=ev.Costs(
            people_fen=round(48_000_000 * scale),
            rent_fen=round(22_000_000 * (scale**0.5)),
            parts_fen=round(24_000_000 * scale),
            other_fen=round(11_000_000 * scale),
        ),
        staffing=[
            ev.Staffing(role=ev.ROLE_TECHNICIAN, headcount=round(12 * scale)),
            ev.Staffing(role=ev.ROLE_SERVICE_ADVISOR, headcount=max(2, round(5 * scale))),
            ev.Staffing(role=ev.ROLE_MANAGER, headcount=1),
        ],
        floor_area_m2=store.bays * 120,
        csi=80.0 + store.bays / 2,
        complaints=max(1, 20 - store.bays),
        returning_customers=store.daily_capacity * 14,
    )


async def _until_known(call: Any) -> Any:
    """The call, retried while the store directory has not caught up with capacity yet."""
    deadline = asyncio.get_running_loop().time() + DIRECTORY_WAIT_SECONDS
    while True:
        try:
            return await call()
        except grpc.aio.AioRpcError as err:
            if (
                refusal_reason(err) != reasons.UNKNOWN_STORE
                or asyncio.get_running_loop().time() > deadline
            ):
                raise
            await asyncio.sleep(0.5)


async def load(channel: grpc.aio.Channel, metadata: Any) -> str:
    stub = pb_grpc.AnalyticsServiceStub(channel)
    today = datetime.now(SHANGHAI).date()
    last_month = (today.replace(day=1) - timedelta(days=1)).replace(day=1)
    this_month = today.replace(day=1)
    for store in STORES:
        await _until_known(
            lambda store=store: stub.RecordOperatingReport(
                pb.RecordOperatingReportRequest(
                    request_id=request_id("report", store.code, last_month.isoformat()),
                    store_id=store.code,
                    period=ev.Period(kind=ev.PERIOD_KIND_MONTH, start=last_month.isoformat()),
                    figures=figures(store),
                ),
                metadata=metadata,
            )
        )
        for indicator, total in (
            ("revenue", round(85_000_000 * store.bays / 8) * 12),
            ("vehicles_in", store.daily_capacity * 26 * 12),
        ):
            await stub.SetYearlyTarget(
                pb.SetYearlyTargetRequest(
                    request_id=request_id("target", store.code, indicator, today.year),
                    store_id=store.code,
                    indicator=indicator,
                    year=today.year,
                    total=total,
                    spring_festival_month=SPRING_FESTIVAL_MONTH,
                ),
                metadata=metadata,
            )
        await stub.SetTarget(
            pb.SetTargetRequest(
                request_id=request_id("target", store.code, "csi", this_month.isoformat()),
                store_id=store.code,
                indicator="csi",
                period=ev.Period(kind=ev.PERIOD_KIND_MONTH, start=this_month.isoformat()),
                value=90,
            ),
            metadata=metadata,
        )
    for store_id in PILOT_STORES:
        await stub.SetPilotParticipation(
            pb.SetPilotParticipationRequest(
                request_id=request_id("pilot", store_id, last_month.isoformat()),
                store_id=store_id,
                joined_on=last_month.isoformat(),
            ),
            metadata=metadata,
        )
    return (
        f"analytics: {len(STORES)} operating reports for {last_month:%Y-%m}, "
        f"{today.year} revenue and vehicles-in targets (February dip), CSI targets, "
        f"pilot {'+'.join(PILOT_STORES)} since {last_month}"
    )
