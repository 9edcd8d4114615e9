"""HQ's customer lifetime value over real gRPC, PostgreSQL and NATS beside the real capacity
service: HQ sets it from a day on, the weekly close publishes the weeks after at it while a
week published before keeps the field's 80,000 CNY, a request's own value is still a
what-if view, only HQ sets it, bad values are refused naming the field, a retry records
nothing twice and a rebuild of the read models gives the same value."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import grpc

from kernel.clock import ManualClock
from services.analytics.rebuild import rebuild
from tests.integration.analytics_fixtures import (
    AnalyticsRun,
    AnalyticsStarter,
    analytics_db_url,
    diversion_kept,
    projections_taken,
    start_analytics,
)
from tests.integration.capacity_fixtures import (
    MONDAY,
    CapacityClient,
    cap,
    capacity_pg_url,
    capacity_service,
    local,
)
from tests.integration.kernel_fixtures import eventually
from tests.integration.rich_errors import failure, reason, recorded_events, violated_fields

__all__ = ["analytics_db_url", "cap", "capacity_pg_url", "capacity_service", "start_analytics"]

Mint = Callable[..., str]
SHANGHAI = ZoneInfo("Asia/Shanghai")
NEXT_MONDAY = MONDAY + timedelta(days=7)  # 9 November 2026


async def _accepted(hq: Any, week_of: date, count: int) -> None:
    async def seen() -> bool:
        weekly = await hq.GetWeeklyCollaborationReport(week_of=week_of.isoformat())
        return bool(weekly.diversions.accepted == count)

    await eventually(seen, within=30.0)


async def _close_week(run: AnalyticsRun, clock: ManualClock, monday_after: date) -> None:
    """Fire what is due once the week before `monday_after` closed (01:00 in Shanghai)."""
    await projections_taken(run)
    clock.set(datetime.combine(monday_after, datetime.min.time(), SHANGHAI) + timedelta(hours=1))
    while await run.running.service.timers.run_due():
        pass


async def test_hq_values_kept_customers_from_a_day_and_the_weeks_before_keep_theirs(
    start_analytics: AnalyticsStarter, cap: CapacityClient, clock: ManualClock, mint: Mint
) -> None:
    await cap.register("SZ01")
    await cap.register("GZ01")
    await diversion_kept(cap, clock, "H-1")
    async with start_analytics() as run:
        await run.analytics.arming.armed.wait()
        hq = run.client(mint("hq"))
        await _accepted(hq, MONDAY, 1)
        await _close_week(run, clock, NEXT_MONDAY)  # the week of 2 November, at 80,000 CNY

        clock.set(local(10, 0, NEXT_MONDAY))
        first = await hq.SetCustomerLifetimeValue(request_id="CLV-1", value_fen=100_000_00)
        retried = await hq.SetCustomerLifetimeValue(request_id="CLV-1", value_fen=100_000_00)
        reused = await failure(hq.SetCustomerLifetimeValue(request_id="CLV-1", value_fen=1))
        service = await run.client(mint("service", subject="collab")).GetCustomerLifetimeValue()
        before = await hq.GetCustomerLifetimeValue(on=(NEXT_MONDAY - timedelta(1)).isoformat())

        await diversion_kept(cap, clock, "H-2", NEXT_MONDAY + timedelta(days=1), "C-78")
        # Retried the next day, with no effective_from: the day it was recorded for.
        next_day = await hq.SetCustomerLifetimeValue(request_id="CLV-1", value_fen=100_000_00)
        await _accepted(hq, NEXT_MONDAY, 1)
        await _close_week(run, clock, NEXT_MONDAY + timedelta(days=7))
        published = await recorded_events(run.running, "WeeklyCollaborationReportPublished")
        week_before = await hq.GetWeeklyCollaborationReport(week_of=MONDAY.isoformat())
        week_after = await hq.GetWeeklyCollaborationReport(week_of=NEXT_MONDAY.isoformat())
        what_if = await hq.GetWeeklyCollaborationReport(
            week_of=NEXT_MONDAY.isoformat(), customer_lifetime_value_fen=50_000_00
        )
        # As the week stood at the end of the Sunday before HQ set the value: 80,000 CNY.
        as_of_sunday = await hq.GetWeeklyCollaborationReport(
            week_of=NEXT_MONDAY.isoformat(), as_of=(NEXT_MONDAY - timedelta(1)).isoformat()
        )
        recorded = await recorded_events(run.running, "CustomerLifetimeValueSet")

        current = await hq.GetCustomerLifetimeValue()
        await rebuild(run.running.service.settings, batch=2, say=lambda _: None, clock=clock)
        rebuilt = await hq.GetCustomerLifetimeValue()
        rebuilt_week = await hq.GetWeeklyCollaborationReport(week_of=NEXT_MONDAY.isoformat())

    assert (first.on, first.value_fen, first.effective_from) == (
        "2026-11-09",
        100_000_00,
        "2026-11-09",
    )
    assert [(c.effective_from, c.value_fen) for c in first.changes] == [("2026-11-09", 100_000_00)]
    assert retried == first
    assert (next_day.on, next_day.effective_from) == ("2026-11-09", "2026-11-09")
    assert reason(reused) == "REQUEST_ID_REUSED"
    assert [(e.value_fen, e.effective_from, e.previous_value_fen) for e in recorded] == [
        (100_000_00, date(2026, 11, 9), 80_000_00)
    ]
    assert (service.value_fen, service.effective_from) == (100_000_00, "2026-11-09")
    assert (before.value_fen, before.effective_from) == (80_000_00, "")

    by_week = {p.week.start: p for p in published if p.region == ""}
    assert by_week[MONDAY].customer_lifetime_value_fen == 80_000_00
    assert by_week[MONDAY].value_created_fen == 80_000_00
    assert by_week[NEXT_MONDAY].customer_lifetime_value_fen == 100_000_00
    assert by_week[NEXT_MONDAY].value_created_fen == 100_000_00
    assert len([p for p in published if p.week.start == MONDAY]) == len(
        [p for p in published if p.week.start == NEXT_MONDAY]
    )
    assert (week_before.customer_lifetime_value_fen, week_before.value_created_fen) == (
        80_000_00,
        80_000_00,
    )
    assert (week_after.customer_lifetime_value_fen, week_after.value_created_fen) == (
        100_000_00,
        100_000_00,
    )
    assert week_after.diversions.value_retained_fen == 100_000_00
    assert (what_if.customer_lifetime_value_fen, what_if.value_created_fen) == (
        50_000_00,
        50_000_00,
    )
    assert as_of_sunday.customer_lifetime_value_fen == 80_000_00
    assert current.value_fen == 100_000_00
    assert rebuilt == current
    assert rebuilt_week == week_after


async def test_only_hq_sets_it_and_bad_values_are_refused_naming_the_field(
    start_analytics: AnalyticsStarter, clock: ManualClock, mint: Mint
) -> None:
    clock.set(local(10, 0, NEXT_MONDAY))
    async with start_analytics() as run:
        hq = run.client(mint("hq"))
        denied = [
            await failure(
                run.client(mint(role, "SZ01")).SetCustomerLifetimeValue(value_fen=100_000_00)
            )
            for role in ("dms", "manager")
        ]
        denied.append(await failure(run.client(mint("dms", "SZ01")).GetCustomerLifetimeValue()))
        zero = await failure(hq.SetCustomerLifetimeValue(value_fen=0))
        negative = await failure(hq.SetCustomerLifetimeValue(value_fen=-1))
        too_large = await failure(hq.SetCustomerLifetimeValue(value_fen=10_000_000_01))
        bad_day = await failure(
            hq.SetCustomerLifetimeValue(value_fen=100_000_00, effective_from="2026-13-01")
        )
        no_request = await failure(hq.SetCustomerLifetimeValue(request_id="", value_fen=100_000_00))
        past = await failure(
            hq.SetCustomerLifetimeValue(value_fen=100_000_00, effective_from="2026-11-08")
        )
        bad_on = await failure(hq.GetCustomerLifetimeValue(on="yesterday"))
        largest = await hq.SetCustomerLifetimeValue(
            value_fen=10_000_000_00, effective_from="2027-01-01"
        )
        unchanged = await hq.GetCustomerLifetimeValue()
        recorded = await recorded_events(run.running, "CustomerLifetimeValueSet")

    assert {d.code() for d in denied} == {grpc.StatusCode.PERMISSION_DENIED}
    for refused in (zero, negative, too_large):
        assert refused.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert violated_fields(refused) == ["value_fen"]
    assert violated_fields(bad_day) == ["effective_from"]
    assert violated_fields(no_request) == ["request_id"]
    assert violated_fields(bad_on) == ["on"]
    assert past.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert reason(past) == "DATE_IN_THE_PAST"
    # A value scheduled for a later day: today's stays the field's until then.
    assert (largest.on, largest.value_fen) == ("2027-01-01", 10_000_000_00)
    assert (unchanged.value_fen, unchanged.effective_from) == (80_000_00, "")
    assert [(c.effective_from, c.value_fen) for c in unchanged.changes] == [
        ("2027-01-01", 10_000_000_00)
    ]
    assert len(recorded) == 1
