"""SOP 2 end to end over gRPC: hold, confirm, check in, complete, rate; expiry by timer."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import fields, make_dataclass, replace
from datetime import date, timedelta
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from sqlalchemy import update
from storemesh.workforce.events.v1 import events_pb2
from storemesh.workforce.v1 import workforce_pb2 as pb

from kernel import application
from kernel.clock import ManualClock
from kernel.errors import ConcurrencyConflict
from kernel.eventstore import EventStore, command_log
from kernel.fingerprint import fingerprint
from kernel.messaging import NatsConnection
from services.workforce.bootstrap import build
from services.workforce.grpc_messages import hold as hold_command
from tests.integration.conftest import delete_streams, running, settings_for
from tests.integration.rich_errors import details, event_count, failure, reason, violated_fields
from tests.integration.workforce_fixtures import (
    FRIDAY,
    WorkforceClient,
    china,
    hold,
    publish_day,
    register,
    rid,
    ts,
    wf,
    workforce_service,
)

WEDNESDAY = date(2026, 11, 4)


def info(err: grpc.aio.AioRpcError) -> error_details_pb2.ErrorInfo:
    (found,) = [d for d in details(err) if isinstance(d, error_details_pb2.ErrorInfo)]
    return found


async def test_a_support_goes_from_hold_to_rating_and_is_counted_in_the_history(
    wf: WorkforceClient, clock: ManualClock, mint: Callable[..., str]
) -> None:
    home, host = wf.as_(mint("manager", "SZ01")), wf.as_(mint("dms", "GZ01"))
    await register(wf, "T-SZ01-1")
    await publish_day(home, "T-SZ01-1")

    held = await hold(host, "T-SZ01-1", support_id="S-1")
    confirmed = await home.ConfirmSupport(technician_id="T-SZ01-1", support_id="S-1")
    clock.set(china(FRIDAY, 12))
    checked_in = await host.CheckInSupport(technician_id="T-SZ01-1", support_id="S-1")
    on_loan = await wf.GetTechnician(technician_id="T-SZ01-1")
    clock.advance(timedelta(hours=4))
    completed = await host.CompleteSupport(
        technician_id="T-SZ01-1", support_id="S-1", hours_worked=3.5, fault_solved=True
    )
    await host.RateSupport(
        technician_id="T-SZ01-1", support_id="S-1", rated_by_store_id="GZ01", rating=5
    )
    rated = await home.RateSupport(
        technician_id="T-SZ01-1", support_id="S-1", rated_by_store_id="SZ01", rating=4
    )
    back = await wf.GetTechnician(technician_id="T-SZ01-1")
    history = await wf.GetTechnicianHistory(technician_id="T-SZ01-1")

    assert [held.status, confirmed.status, checked_in.status, completed.status] == [
        pb.SUPPORT_STATUS_HELD,
        pb.SUPPORT_STATUS_CONFIRMED,
        pb.SUPPORT_STATUS_CHECKED_IN,
        pb.SUPPORT_STATUS_COMPLETED,
    ]
    assert (held.home_store_id, held.host_store_id, held.urgent) == ("SZ01", "GZ01", False)
    assert held.subsidy.tier == pb.SUBSIDY_TIER_REGIONAL
    assert round(held.distance_km) == 104
    assert held.hold_expires_at.ToDatetime() == china(FRIDAY - timedelta(days=1), 13).replace(
        tzinfo=None
    )
    assert on_loan.status == pb.TECHNICIAN_STATUS_ON_LOAN
    assert back.status == pb.TECHNICIAN_STATUS_ON_DUTY
    assert list(back.bookings) == []
    assert sorted(rated.rated_by_store_ids) == ["GZ01", "SZ01"]
    assert (history.supports_given, history.hours_worked, history.faults_solved) == (1, 3.5, 1)
    assert (history.ratings_received, history.average_rating) == (1, 5.0)
    (record,) = history.supports
    assert record.support.support_id == "S-1"
    assert sorted((r.rated_by_store_id, r.rating) for r in record.ratings) == [
        ("GZ01", 5),
        ("SZ01", 4),
    ]


async def test_an_unconfirmed_hold_expires_by_its_durable_timer(
    wf: WorkforceClient, clock: ManualClock
) -> None:
    await register(wf, "T-SZ01-1")
    await publish_day(wf, "T-SZ01-1")
    held = await hold(wf, "T-SZ01-1", support_id="S-1")

    clock.set(held.hold_expires_at.ToDatetime(tzinfo=clock.now().tzinfo) - timedelta(seconds=1))
    early = await wf.run.service.timers.run_due()
    clock.advance(timedelta(seconds=1))
    fired = await wf.run.service.timers.run_due()
    technician = await wf.GetTechnician(technician_id="T-SZ01-1")
    history = await wf.GetTechnicianHistory(technician_id="T-SZ01-1")
    err = await failure(wf.ConfirmSupport(technician_id="T-SZ01-1", support_id="S-1"))

    assert (early, fired) == (0, 1)
    assert list(technician.bookings) == []
    assert history.supports[0].support.status == pb.SUPPORT_STATUS_EXPIRED
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert reason(err) == "SUPPORT_NOT_HELD"


async def test_a_confirmed_hold_is_not_expired_when_its_hold_time_passes(
    wf: WorkforceClient, clock: ManualClock
) -> None:
    await register(wf, "T-SZ01-1")
    await publish_day(wf, "T-SZ01-1")
    held = await hold(wf, "T-SZ01-1", support_id="S-1")
    await wf.ConfirmSupport(technician_id="T-SZ01-1", support_id="S-1")

    clock.set(held.hold_expires_at.ToDatetime(tzinfo=clock.now().tzinfo) + timedelta(hours=1))
    fired = await wf.run.service.timers.run_due()
    technician = await wf.GetTechnician(technician_id="T-SZ01-1")

    assert fired == 0
    assert [(b.support_id, b.status) for b in technician.bookings] == [
        ("S-1", pb.SUPPORT_STATUS_CONFIRMED)
    ]


async def test_an_explicit_hold_expiry_is_kept_and_the_lapsed_hold_frees_the_window(
    wf: WorkforceClient, clock: ManualClock
) -> None:
    await register(wf, "T-SZ01-1")
    await publish_day(wf, "T-SZ01-1")
    expires = clock.now() + timedelta(hours=2)
    held = await hold(wf, "T-SZ01-1", support_id="S-1", hold_expires_at=ts(expires))

    clock.advance(timedelta(hours=2))
    await wf.run.service.timers.run_due()
    again = await hold(wf, "T-SZ01-1", "DG01", support_id="S-2")

    assert held.hold_expires_at.ToDatetime(tzinfo=expires.tzinfo) == expires
    assert (again.support_id, again.status) == ("S-2", pb.SUPPORT_STATUS_HELD)


async def test_planned_support_is_booked_72_hours_ahead_and_urgent_support_sooner(
    wf: WorkforceClient,
) -> None:
    await register(wf, "T-SZ01-1")
    await publish_day(wf, "T-SZ01-1", WEDNESDAY)

    planned = await failure(hold(wf, "T-SZ01-1", day=WEDNESDAY, hours=(9, 12)))
    urgent = await hold(wf, "T-SZ01-1", day=WEDNESDAY, hours=(9, 12), urgent=True)

    assert planned.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert reason(planned) == "LEAD_TIME_TOO_SHORT"
    assert info(planned).metadata["minimum_lead_hours"] == "72"
    assert info(planned).metadata["lead_hours"] == "41"
    assert (urgent.urgent, urgent.status) == (True, pb.SUPPORT_STATUS_HELD)
    assert urgent.hold_expires_at == urgent.starts_at


async def test_the_lead_time_counts_from_when_the_host_asked_and_never_from_the_future(
    wf: WorkforceClient, clock: ManualClock
) -> None:
    await register(wf, "T-SZ01-1")
    await publish_day(wf, "T-SZ01-1", WEDNESDAY)
    asked_in_time = clock.now() - timedelta(hours=31)  # Wednesday 09:00 is 41 h away

    ahead = await failure(
        hold(
            wf,
            "T-SZ01-1",
            day=WEDNESDAY,
            hours=(9, 12),
            requested_at=ts(clock.now() + timedelta(minutes=6)),
        )
    )
    held = await hold(wf, "T-SZ01-1", day=WEDNESDAY, hours=(9, 12), requested_at=ts(asked_in_time))

    assert ahead.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violated_fields(ahead) == ["requested_at"]
    assert (held.urgent, held.status) == (False, pb.SUPPORT_STATUS_HELD)
    assert [b.support_id for b in (await wf.GetTechnician(technician_id="T-SZ01-1")).bookings] == [
        held.support_id
    ]


async def test_the_lead_time_is_configurable(
    pg_url: str, endpoints: Any, namespace: str, clock: ManualClock, verifier: Any, mint: Any
) -> None:
    settings = replace(
        settings_for("workforce", pg_url, endpoints.nats_url, namespace),
        support_lead_time_hours=24,
    )
    async with running(build, settings, clock, verifier, timer_interval=3600) as run:
        wf = WorkforceClient(run, mint("hq"))
        await register(wf, "T-SZ01-1")
        await publish_day(wf, "T-SZ01-1", WEDNESDAY)

        held = await hold(wf, "T-SZ01-1", day=WEDNESDAY, hours=(9, 12))

        assert (held.urgent, held.status) == (False, pb.SUPPORT_STATUS_HELD)
        await delete_streams(run.service.nats)


async def test_two_concurrent_holds_of_one_technician_and_window_one_wins(
    wf: WorkforceClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    conflicts = count_version_conflicts(monkeypatch)
    for round_ in range(4):
        technician_id = f"T-SZ01-{round_}"
        await register(wf, technician_id)
        await publish_day(wf, technician_id)

        outcomes = await asyncio.gather(
            hold(wf, technician_id, "GZ01", support_id=f"S-{round_}-a", request_id=rid()),
            hold(wf, technician_id, "DG01", support_id=f"S-{round_}-b", request_id=rid()),
            return_exceptions=True,
        )

        won = [o for o in outcomes if isinstance(o, pb.Support)]
        lost = [o for o in outcomes if isinstance(o, grpc.aio.AioRpcError)]
        assert (len(won), len(lost)) == (1, 1), outcomes
        assert lost[0].code() == grpc.StatusCode.FAILED_PRECONDITION
        assert reason(lost[0]) == "SUPPORT_OVERLAP"
        assert info(lost[0]).metadata["conflicting_support_id"] == won[0].support_id
        technician = await wf.GetTechnician(technician_id=technician_id)
        assert [b.support_id for b in technician.bookings] == [won[0].support_id]
    # The holds really raced: a loser lost on the stream version, retried and then saw
    # the winner's hold (not merely arrived after it).
    assert conflicts, "no hold ever lost a version race"


def count_version_conflicts(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Streams whose append lost on the expected version, as they happen: at once, or in
    the command's closing statement (kernel.command_writes.write_with_appends)."""
    lost: list[str] = []
    append = EventStore.append
    close = application.write_with_appends

    async def spy(self: EventStore, conn: Any, stream_id: str, *args: Any) -> Any:
        try:
            return await append(self, conn, stream_id, *args)
        except ConcurrencyConflict:
            lost.append(stream_id)
            raise

    async def closing_spy(*args: Any, **kwargs: Any) -> Any:
        try:
            return await close(*args, **kwargs)
        except ConcurrencyConflict as exc:
            lost.append(exc.stream_id)
            raise

    monkeypatch.setattr(EventStore, "append", spy)
    monkeypatch.setattr(application, "write_with_appends", closing_spy)
    return lost


async def test_a_retried_hold_replays_its_first_answer_even_after_time_moved_on(
    wf: WorkforceClient, clock: ManualClock
) -> None:
    await register(wf, "T-SZ01-1")
    await publish_day(wf, "T-SZ01-1")
    request_id = rid()

    first = await hold(wf, "T-SZ01-1", request_id=request_id)
    clock.advance(timedelta(minutes=5))
    again = await hold(wf, "T-SZ01-1", request_id=request_id)
    before = await event_count(wf.run)

    assert again == first
    assert first.support_id == request_id
    assert await event_count(wf.run) == before


async def test_a_hold_logged_before_requested_at_existed_replays_on_retry_after_the_upgrade(
    wf: WorkforceClient, clock: ManualClock
) -> None:
    """A hold whose reply was lost, retried under its request id once workforce knows
    requested_at (a DMS's retry, or collab's saga call kept in its outbox from before, which
    carries no requested_at): the same request, answered as first, not REQUEST_ID_REUSED."""
    await register(wf, "T-SZ01-1")
    await publish_day(wf, "T-SZ01-1")
    request_id = rid()
    first = await hold(wf, "T-SZ01-1", request_id=request_id)
    await log_as_before_requested_at(wf, request_id, first, clock)

    clock.advance(timedelta(minutes=5))
    again = await hold(wf, "T-SZ01-1", request_id=request_id)

    assert again == first


async def log_as_before_requested_at(
    wf: WorkforceClient, request_id: str, held: pb.Support, clock: ManualClock
) -> None:
    """The command log's row of `request_id` as the version before requested_at wrote it:
    the fingerprint of a HoldSupport that had no such field."""
    request = pb.HoldSupportRequest(
        request_id=request_id,
        technician_id=held.technician_id,
        host_store_id=held.host_store_id,
        specialty=held.specialty,
        minimum_level=held.minimum_level,
        starts_at=held.starts_at,
        ends_at=held.ends_at,
    )
    command, _ = hold_command(request, clock.now())
    kept = [(f.name, f.type) for f in fields(command) if f.name != "requested_at"]
    before = make_dataclass(type(command).__name__, kept, frozen=True, kw_only=True)
    digest = fingerprint(before(**{n: getattr(command, n) for n, _ in kept}), ["hold_expires_at"])
    async with wf.run.service.db.transaction("test.log_as_before") as conn:
        await conn.execute(
            update(command_log).where(command_log.c.request_id == request_id),
            {"fingerprint": digest},
        )


async def test_support_held_is_published_on_the_home_stores_subject(
    wf: WorkforceClient, nats_client: NatsConnection, namespace: str
) -> None:
    await register(wf, "T-SZ01-1")
    await publish_day(wf, "T-SZ01-1")
    js = (await nats_client.client()).jetstream()
    subject = f"{namespace}.workforce.v1.SZ01.SupportHeld"

    held = await hold(wf, "T-SZ01-1", support_id="S-1")
    message = await next_message(js, subject)

    event = events_pb2.SupportHeld.FromString(message.data)
    assert message.headers["ce-type"] == "storemesh.workforce.events.v1.SupportHeld"
    assert message.headers["ce-subject"] == "technician/T-SZ01-1"
    assert (event.support_id, event.host_store_id, event.store_id) == ("S-1", "GZ01", "SZ01")
    assert event.starts_at == held.starts_at


async def next_message(js: Any, subject: str, within: float = 10.0) -> Any:
    """The first message on a subject, waiting for the relay (bounded)."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        try:
            sub = await js.subscribe(subject, ordered_consumer=True)
            break
        except Exception:  # the relay has not created the stream yet
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.1)
    try:
        return await sub.next_msg(timeout=max(0.1, deadline - asyncio.get_running_loop().time()))
    finally:
        await sub.unsubscribe()


async def test_the_host_repeating_a_step_of_an_ended_support_gets_its_answer_not_a_denial(
    wf: WorkforceClient, mint: Callable[..., str]
) -> None:
    """A cancelled (or completed) support is pruned from the technician's current state;
    who may act on it was read from there, so the host store, a party to it, was denied
    (PERMISSION_DENIED) a repeated cancel the domain answers as a no-op."""
    home, host = wf.as_(mint("manager", "SZ01")), wf.as_(mint("dms", "GZ01"))
    await register(wf, "T-SZ01-1")
    await publish_day(home, "T-SZ01-1")
    await hold(host, "T-SZ01-1", support_id="S-1")
    first = await host.CancelSupport(technician_id="T-SZ01-1", support_id="S-1", reason="fixed")

    again = await host.CancelSupport(technician_id="T-SZ01-1", support_id="S-1", reason="fixed")

    assert first.status == again.status == pb.SUPPORT_STATUS_CANCELLED
    other = wf.as_(mint("dms", "DG01"))
    denied = await failure(
        other.CancelSupport(technician_id="T-SZ01-1", support_id="S-1", reason="fixed")
    )
    assert denied.code() == grpc.StatusCode.PERMISSION_DENIED
