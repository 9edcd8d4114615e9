"""SOP 2 as the support saga decides it, branch by branch (given / when / then, no I/O)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kernel.clock import ManualClock
from kernel.errors import RuleViolated
from kernel.saga import Call, Status
from kernel.testing.saga import SagaScenario
from services.collab.domain.commands import (
    ApproveSupport,
    RateSupport,
    RejectSupport,
    ReportSupportProgress,
    RequestSupport,
    SupportProgress,
)
from services.collab.domain.events import CollaborationCostRecorded, ContributionRecorded
from services.collab.domain.support import (
    Deadlines,
    Support,
    support_saga,
)
from services.collab.domain.support_day_events import (
    CompletionRefused,
    SupportCalledOff,
    SupportCheckedIn,
    SupportUnderway,
    SupportWorkAbandoned,
    SupportWorkFinished,
    SupportWorkRecorded,
    SupportWorkUnreported,
    TechnicianArrived,
    TechnicianExpected,
    TechnicianNoShow,
)
from services.collab.domain.support_decisions import (
    approved,
    check_need,
    progress_reported,
    rated,
    rejected,
    requested,
    settled,
)
from services.collab.domain.support_events import (
    HoldRefused,
    HoldReleased,
    NextTechnicianChosen,
    NoTechnicianLeft,
    SupportApprovalExpired,
    SupportApprovalRequested,
    SupportApproved,
    SupportCancelled,
    SupportCompleted,
    SupportConfirmed,
    SupportRejected,
    SupportResolvedByHand,
    SupportStepRetried,
    SupportStuck,
    SupportWithdrawn,
    TechnicianHeld,
    WorkOrderDue,
)
from services.collab.read_model_sops import support_stage

# Wednesday: Shenzhen asks for a battery (hv_ev) expert for Friday afternoon.
NOW = datetime(2026, 11, 4, 1, 0, tzinfo=UTC)
FRIDAY_1200 = datetime(2026, 11, 6, 4, 0, tzinfo=UTC)
FRIDAY_1800 = datetime(2026, 11, 6, 10, 0, tzinfo=UTC)
THURSDAY_1200 = FRIDAY_1200 - timedelta(days=1)
SZ, DG, GZ = "SZ01", "DG01", "GZ01"
SAGA = support_saga()
REQUEST = RequestSupport(
    "S-1", SZ, "hv_ev", "T3", FRIDAY_1200, FRIDAY_1800, "battery fault", True, NOW
)
REQUESTED = requested(REQUEST, (("DG-T3", DG), ("GZ-T3", GZ)), Deadlines())
REGIONAL = {
    "subsidy": {
        "tier": "SUBSIDY_TIER_REGIONAL",
        "amount_fen": "50000",
        "travel_and_lodging_paid": True,
    },
    "distance_km": 72.4,
}


def workforce(method: str, tech: str, booking: str, **fields: Any) -> Call:
    return Call("workforce", method, {"technician_id": tech, "support_id": booking, **fields})


def hold(tech: str, booking: str) -> Call:
    return workforce(
        "HoldSupport",
        tech,
        booking,
        host_store_id=SZ,
        specialty="hv_ev",
        minimum_level="LEVEL_T3",
        starts_at=FRIDAY_1200.isoformat(),
        ends_at=FRIDAY_1800.isoformat(),
        urgent=True,
        hold_expires_at=FRIDAY_1200.isoformat(),
        requested_at=NOW.isoformat(),
    )


def data(s: SagaScenario[Support]) -> Support:
    assert s.state.data is not None
    return s.state.data


def scenario() -> SagaScenario[Support]:
    return SagaScenario(SAGA, saga_id="S-1", clock=ManualClock(NOW))


def awaiting_approval() -> SagaScenario[Support]:
    return scenario().when_started(REQUESTED).when_replied("hold", **REGIONAL)


def approve(s: SagaScenario[Support], by: str = "mgr-dg") -> SagaScenario[Support]:
    return s.when_signalled(approved(data(s), ApproveSupport("S-1", by, s.clock.now())))


def report(s: SagaScenario[Support], progress: SupportProgress, **kw: Any) -> Any:
    command = ReportSupportProgress(
        "S-1",
        progress,
        kw.get("hours", 0.0),
        kw.get("solved", False),
        kw.get("travel", 0),
        kw.get("note", ""),
        "dms-sz",
        s.clock.now(),
    )
    step = s.saga.steps[s.state.step].name
    return s.when_signalled(progress_reported(data(s), step, command))


def order_day(s: SagaScenario[Support]) -> SagaScenario[Support]:
    """The day before the support: the work order goes out."""
    return s.when_time_passes(THURSDAY_1200 - s.clock.now())


def confirmed() -> SagaScenario[Support]:
    return order_day(approve(awaiting_approval())).when_replied("confirm")


def test_a_request_holds_the_best_match_then_asks_its_home_store_within_an_hour() -> None:
    s = scenario().when_started(REQUESTED).then_calls(hold("DG-T3", "S-1:1"))
    s.when_replied("hold", **REGIONAL).then_event_types(TechnicianHeld, SupportApprovalRequested)
    held, asked = s.last.events
    assert (held.subsidy_fen, held.travel_and_lodging_paid, held.distance_km) == (50000, True, 72.4)
    assert (asked.store_id, asked.requesting_store_id, asked.fault) == (DG, SZ, "battery fault")
    assert asked.due_at == NOW + timedelta(hours=1)


def test_approved_it_waits_for_the_day_before_then_confirms_and_tells_the_host() -> None:
    s = approve(awaiting_approval()).then_event_types(SupportApproved).then_no_calls()
    s.then_deadline("order_day", THURSDAY_1200)
    s.when_time_passes(THURSDAY_1200 - NOW - timedelta(minutes=1)).then_event_types()
    s.when_time_passes(timedelta(minutes=1)).then_event_types(WorkOrderDue)
    s.then_calls(workforce("ConfirmSupport", "DG-T3", "S-1:1"))
    s.when_replied("confirm").then_event_types(SupportConfirmed, TechnicianExpected)
    order, expected = s.last.events
    assert (order.store_id, order.requesting_store_id, order.starts_at) == (DG, SZ, FRIDAY_1200)
    assert (expected.store_id, expected.check_in_due_at) == (SZ, FRIDAY_1200 + timedelta(hours=2))


def test_approved_within_a_day_of_the_start_it_confirms_at_once() -> None:
    s = SagaScenario(SAGA, saga_id="S-1", clock=ManualClock(THURSDAY_1200 + timedelta(hours=3)))
    s.when_started(REQUESTED).when_replied("hold", **REGIONAL)
    approve(s).then_event_types(SupportApproved, WorkOrderDue)
    s.then_calls(workforce("ConfirmSupport", "DG-T3", "S-1:1"))


def test_the_host_calling_it_off_before_the_work_order_cancels_and_asks_no_one() -> None:
    s = approve(awaiting_approval())
    report(s, SupportProgress.CALLED_OFF, note="fault found: a loose connector")
    s.then_event_types(SupportWithdrawn)
    s.then_calls(
        workforce("CancelSupport", "DG-T3", "S-1:1", reason="fault found: a loose connector")
    )
    s.when_replied("hold.undo").then_event_types(HoldReleased, NoTechnicianLeft)
    s.then_deadline("order_day", None)


def test_the_day_runs_check_in_then_completion_and_settles_subsidy_points_and_travel() -> None:
    s = confirmed()
    s.clock.set(FRIDAY_1200)
    report(s, SupportProgress.CHECKED_IN).then_event_types(TechnicianArrived)
    s.then_calls(workforce("CheckInSupport", "DG-T3", "S-1:1"))
    s.when_replied("check_in").then_event_types(SupportCheckedIn, SupportUnderway)
    s.clock.set(FRIDAY_1800)
    report(s, SupportProgress.COMPLETED, hours=5.5, solved=True, travel=38000)
    s.then_event_types(SupportWorkFinished)
    s.then_calls(
        workforce("CompleteSupport", "DG-T3", "S-1:1", hours_worked=5.5, fault_solved=True)
    )
    s.when_replied("complete").then_event_types(SupportWorkRecorded, SupportCompleted)
    s.then_status(Status.COMPLETED)
    entries = settled(data(s), s.last.events[1].occurred_at)
    at = s.clock.now()
    assert entries == [
        ContributionRecorded(DG, "support", 5, "support", "S-1", at),
        CollaborationCostRecorded(SZ, "subsidy", 50000, "support", "S-1", "2026-11", at),
        CollaborationCostRecorded(SZ, "travel_lodging", 38000, "support", "S-1", "2026-11", at),
    ]


def test_a_completion_workforce_refuses_stops_the_support_for_an_operator_not_undone() -> None:
    # The work is done and reported: ending the loan with the fault unsolved would record
    # at workforce what did not happen, and settle nothing for a technician who was lent.
    s = on_site()
    s.clock.advance(timedelta(hours=4))
    report(s, SupportProgress.COMPLETED, hours=4.0, solved=True)
    s.when_refused("complete", "SUPPORT_NOT_ON_LOAN").then_event_types(
        CompletionRefused, SupportStuck
    )
    s.then_no_calls().then_status(Status.FAILED)
    assert SAGA.pending_call(s.state) is None
    s.when_operator_retries("ops@hq").then_event_types(SupportStepRetried)
    s.then_calls(
        workforce("CompleteSupport", "DG-T3", "S-1:1", hours_worked=4.0, fault_solved=True)
    )
    s.when_replied("complete").then_event_types(SupportWorkRecorded, SupportCompleted)


def test_a_completion_workforce_never_answers_stops_the_support_for_an_operator() -> None:
    s = on_site()
    s.clock.advance(timedelta(hours=4))
    report(s, SupportProgress.COMPLETED, hours=4.0, solved=True)
    s.when_exhausted("complete").then_event_types(SupportStuck).then_no_calls()
    s.then_status(Status.FAILED)
    assert s.state.reason == "complete failed"


def test_a_check_in_is_taken_from_four_hours_before_the_start_until_its_end() -> None:
    # As workforce's CheckInSupport: a check-in it refuses would call the day off.
    s = confirmed()  # Thursday noon: a day early
    with pytest.raises(RuleViolated) as refused:
        report(s, SupportProgress.CHECKED_IN)
    assert refused.value.reason == "CHECK_IN_OUTSIDE_SUPPORT_WINDOW"
    assert refused.value.metadata["opens_at"] == (FRIDAY_1200 - timedelta(hours=4)).isoformat()
    s.clock.set(FRIDAY_1200 - timedelta(hours=4))
    report(s, SupportProgress.CHECKED_IN).then_event_types(TechnicianArrived)

    late = confirmed()
    late.clock.set(FRIDAY_1800)
    with pytest.raises(RuleViolated) as refused:
        report(late, SupportProgress.CHECKED_IN)
    assert refused.value.reason == "CHECK_IN_OUTSIDE_SUPPORT_WINDOW"


def test_a_local_support_pays_300_and_no_travel_and_lodging() -> None:
    local = {"subsidy": {"tier": "SUBSIDY_TIER_LOCAL", "amount_fen": "30000"}, "distance_km": 12.0}
    s = scenario().when_started(REQUESTED).when_replied("hold", **local)
    order_day(approve(s)).when_replied("confirm")
    s.clock.set(FRIDAY_1200)
    report(s, SupportProgress.CHECKED_IN).when_replied("check_in")
    s.clock.set(FRIDAY_1800)
    with pytest.raises(RuleViolated) as refused:
        report(s, SupportProgress.COMPLETED, hours=2.0, travel=10000)
    assert refused.value.reason == "TRAVEL_NOT_COVERED"
    report(s, SupportProgress.COMPLETED, hours=2.0).when_replied("complete")
    costs = settled(data(s), s.last.events[1].occurred_at)[1:]
    assert [(c.kind, c.amount_fen) for c in costs] == [("subsidy", 30000)]


def test_a_rejection_cancels_the_hold_and_asks_the_next_technician() -> None:
    s = awaiting_approval()
    s.when_signalled(rejected(data(s), RejectSupport("S-1", "busy Friday", "mgr-dg", NOW)))
    s.then_event_types(SupportRejected)
    s.then_calls(workforce("CancelSupport", "DG-T3", "S-1:1", reason="busy Friday"))
    s.when_replied("hold.undo").then_event_types(HoldReleased, NextTechnicianChosen)
    s.then_calls(hold("GZ-T3", "S-1:2"))
    assert (data(s).technician_id, data(s).lending_store_id) == ("GZ-T3", GZ)


def test_silence_past_the_hour_cancels_the_hold_and_asks_the_next_technician() -> None:
    s = awaiting_approval()
    s.when_time_passes(timedelta(minutes=59)).then_event_types()
    s.when_time_passes(timedelta(minutes=1)).then_event_types(SupportApprovalExpired)
    s.when_replied("hold.undo").then_event_types(HoldReleased, NextTechnicianChosen)
    assert data(s).technician_id == "GZ-T3"


def test_the_approval_deadline_is_configurable() -> None:
    saga = support_saga(Deadlines(approval=timedelta(minutes=20)))
    s = SagaScenario(saga, saga_id="S-1", clock=ManualClock(NOW)).when_started(REQUESTED)
    s.when_replied("hold", **REGIONAL)
    s.then_deadline("approval", NOW + timedelta(minutes=20))


def test_a_hold_workforce_refuses_asks_the_next_technician_at_once() -> None:
    s = scenario().when_started(REQUESTED)
    s.when_refused("hold", "SUPPORT_OVERLAP").then_event_types(HoldRefused, NextTechnicianChosen)
    s.then_calls(hold("GZ-T3", "S-1:2"))


def test_with_no_technician_left_the_support_fails() -> None:
    s = awaiting_approval()
    s.when_signalled(rejected(data(s), RejectSupport("S-1", "no", "mgr-dg", NOW)))
    s.when_replied("hold.undo")
    s.when_refused("hold#1", "LEVEL_TOO_LOW").then_event_types(HoldRefused, NoTechnicianLeft)
    s.then_status(Status.COMPENSATED)
    assert s.last.events[-1].reason == "LEVEL_TOO_LOW"
    assert s.last.events[-1].store_id == SZ


def test_a_technician_missing_two_hours_after_start_cancels_and_asks_no_one_else() -> None:
    s = confirmed()
    s.clock.advance(FRIDAY_1200 - NOW)
    s.when_time_passes(timedelta(hours=2)).then_event_types(TechnicianNoShow)
    s.then_calls(workforce("CancelSupport", "DG-T3", "S-1:1", reason="TECHNICIAN_NO_SHOW"))
    s.when_replied("hold.undo").then_event_types(HoldReleased, NoTechnicianLeft)


def test_a_support_called_off_before_the_day_is_cancelled_at_workforce() -> None:
    s = confirmed()
    report(s, SupportProgress.CALLED_OFF, note="fault fixed locally")
    s.then_event_types(SupportCalledOff)
    s.then_calls(workforce("CancelSupport", "DG-T3", "S-1:1", reason="fault fixed locally"))


def on_site() -> SagaScenario[Support]:
    s = confirmed()
    s.clock.set(FRIDAY_1200)
    return report(s, SupportProgress.CHECKED_IN).when_replied("check_in")


def test_called_off_after_check_in_the_loan_ends_as_workforce_records_it_with_time_on_site() -> (
    None
):
    # Workforce cancels no checked-in support (it is completed, not cancelled).
    s = on_site()
    s.clock.advance(timedelta(hours=1, minutes=30))
    report(s, SupportProgress.CALLED_OFF, note="the customer took the car away")
    s.then_event_types(SupportWorkAbandoned)
    s.then_calls(
        workforce("CompleteSupport", "DG-T3", "S-1:1", hours_worked=1.5, fault_solved=False)
    )
    s.when_replied("hold.undo").then_event_types(HoldReleased, NoTechnicianLeft)
    s.then_status(Status.COMPENSATED)
    assert data(s).reason == "the customer took the car away"


def test_work_never_reported_ends_the_loan_with_the_time_on_site_until_the_windows_end() -> None:
    s = on_site()
    s.when_time_passes(FRIDAY_1800 + timedelta(days=1) - s.clock.now())
    s.then_event_types(SupportWorkUnreported)
    s.then_calls(
        workforce("CompleteSupport", "DG-T3", "S-1:1", hours_worked=6.0, fault_solved=False)
    )


def test_no_more_hours_are_reported_than_the_technician_was_on_site() -> None:
    # As workforce's CompleteSupport: a completion it refused would leave it unsettled.
    s = on_site()
    s.clock.advance(timedelta(hours=4))
    with pytest.raises(RuleViolated) as refused:
        report(s, SupportProgress.COMPLETED, hours=4.5, solved=True)
    assert refused.value.reason == "HOURS_EXCEED_TIME_ON_SITE"
    assert refused.value.metadata == {"hours_on_site": "4.00"}
    report(s, SupportProgress.COMPLETED, hours=4.0, solved=True)
    s.then_event_types(SupportWorkFinished)


def test_called_off_with_a_blank_note_the_cancel_carries_a_reason_workforce_takes() -> None:
    # Workforce requires the cancellation's reason: blanks would have the undo refused.
    s = confirmed()
    report(s, SupportProgress.CALLED_OFF, note="  \n").then_event_types(SupportCalledOff)
    s.then_calls(workforce("CancelSupport", "DG-T3", "S-1:1", reason="called off"))


def test_a_cancel_workforce_refuses_leaves_the_support_stuck_for_an_operator() -> None:
    s = awaiting_approval().when_time_passes(timedelta(hours=1))
    s.when_refused("hold.undo", "PERMISSION_DENIED").then_event_types(SupportStuck)
    s.then_status(Status.FAILED)


def test_a_stuck_support_resolved_by_hand_ends_with_the_host_and_asks_no_one_else() -> None:
    s = awaiting_approval().when_time_passes(timedelta(hours=1))
    s.when_refused("hold.undo", "PERMISSION_DENIED").then_status(Status.FAILED)
    s.when_operator_resolves("ops@hq", "booking cancelled at workforce by hand")
    s.then_event_types(SupportResolvedByHand).then_no_calls().then_status(Status.RESOLVED)
    resolved = s.last.events[0]
    said = "resolved by ops@hq: booking cancelled at workforce by hand"
    assert (resolved.store_id, resolved.lending_store_id, resolved.operator, resolved.reason) == (
        SZ,
        DG,
        "ops@hq",
        said,
    )
    assert data(s).reason == said
    assert support_stage(s.state) == "RESOLVED_BY_HAND"


def test_a_stuck_support_retried_by_an_operator_cancels_again_and_asks_the_next_technician() -> (
    None
):
    s = awaiting_approval().when_time_passes(timedelta(hours=1))
    first = s.request_id("hold.undo")
    s.when_refused("hold.undo", "UNAVAILABLE").then_status(Status.FAILED)
    s.when_operator_retries("ops@hq").then_event_types(SupportStepRetried)
    retried = s.last.events[0]
    assert (retried.store_id, retried.reason) == (SZ, "retried by ops@hq")
    s.then_calls(workforce("CancelSupport", "DG-T3", "S-1:1", reason="APPROVAL_EXPIRED"))
    assert s.request_id("hold.undo") == first
    s.when_replied("hold.undo").then_event_types(HoldReleased, NextTechnicianChosen)
    assert data(s).technician_id == "GZ-T3"


def test_an_operator_cancelling_on_site_ends_the_loan_with_the_time_until_the_cancel() -> None:
    s = on_site()
    s.clock.advance(timedelta(hours=2))
    s.when_operator_cancels("ops@hq", "host closed").then_event_types(SupportCancelled)
    cancelled = s.last.events[0]
    assert (cancelled.store_id, cancelled.reason) == (SZ, "cancelled by ops@hq: host closed")
    s.then_calls(
        workforce("CompleteSupport", "DG-T3", "S-1:1", hours_worked=2.0, fault_solved=False)
    )
    s.when_replied("hold.undo").then_event_types(HoldReleased, NoTechnicianLeft)
    s.then_status(Status.COMPENSATED)
    assert s.last.events[-1].reason == "cancelled by ops@hq: host closed"


def test_an_operator_cancel_while_the_loan_is_ending_keeps_the_call_offs_time_and_reason() -> None:
    # The end of the loan is already under way (backing off): a cancel now must not move
    # the technician's time on site or the reason the host gave.
    s = on_site()
    s.clock.advance(timedelta(hours=1, minutes=30))
    report(s, SupportProgress.CALLED_OFF, note="the customer took the car away")
    s.clock.advance(timedelta(minutes=30))
    s.when_operator_cancels("ops@hq", "too slow").then_event_types(SupportCancelled)
    s.then_no_calls()
    assert data(s).hours_on_site == 1.5
    s.when_replied("hold.undo").then_event_types(HoldReleased, NoTechnicianLeft)
    assert s.last.events[-1].reason == "the customer took the car away"


def test_an_operator_cancelling_before_the_day_cancels_the_booking_and_asks_no_one() -> None:
    s = awaiting_approval().when_operator_cancels("ops@hq", "fixed it ourselves")
    s.then_event_types(SupportCancelled)
    s.then_calls(
        workforce(
            "CancelSupport", "DG-T3", "S-1:1", reason="cancelled by ops@hq: fixed it ourselves"
        )
    )
    s.when_replied("hold.undo").then_event_types(HoldReleased, NoTechnicianLeft)


def test_only_the_waiting_step_takes_an_answer() -> None:
    s = awaiting_approval()
    with pytest.raises(RuleViolated) as refused:
        report(s, SupportProgress.CHECKED_IN)
    assert refused.value.reason == "SAGA_NOT_AWAITING"
    s.when_time_passes(timedelta(hours=1))
    with pytest.raises(RuleViolated):
        approve(s)


def test_after_a_crash_between_two_steps_it_resumes_with_the_same_request_ids() -> None:
    before = order_day(approve(awaiting_approval()))
    after = SagaScenario(SAGA, saga_id="S-1", clock=ManualClock(NOW)).given(*before.recorded)
    assert after.state == before.state
    # The confirm call waits in the outbox under the same key: the retry acts once.
    assert before.outbox["confirm"] == workforce("ConfirmSupport", "DG-T3", "S-1:1")
    assert after.request_id("confirm") == before.request_id("confirm")
    # Its reply reaches the rebuilt saga as if nothing had happened.
    after.outbox["confirm"] = before.outbox["confirm"]
    after.when_replied("confirm").then_event_types(SupportConfirmed, TechnicianExpected)


def test_ratings_come_once_from_each_store_after_completion() -> None:
    s = confirmed()
    with pytest.raises(RuleViolated) as early:
        rated(data(s), RateSupport("S-1", SZ, 5, "", NOW), completed=False)
    assert early.value.reason == "SUPPORT_NOT_COMPLETED"
    by_host = rated(data(s), RateSupport("S-1", SZ, 5, "solved it", NOW), completed=True)
    assert (by_host.store_id, by_host.rated_by_store_id, by_host.rating) == (DG, SZ, 5)
    s.given(by_host)
    with pytest.raises(RuleViolated) as twice:
        rated(data(s), RateSupport("S-1", SZ, 4, "", NOW), completed=True)
    assert twice.value.reason == "SUPPORT_ALREADY_RATED"
    with pytest.raises(RuleViolated) as outsider:
        rated(data(s), RateSupport("S-1", GZ, 4, "", NOW), completed=True)
    assert outsider.value.reason == "RATER_NOT_PARTY_TO_SUPPORT"
    by_lender = rated(data(s), RateSupport("S-1", DG, 4, "", NOW), completed=True)
    assert by_lender.store_id == SZ


def test_planned_support_is_booked_three_days_ahead_and_urgent_support_sooner() -> None:
    planned = dataclasses.replace(REQUEST, urgent=False)
    with pytest.raises(RuleViolated) as short:
        check_need(planned)  # Wednesday for Friday: 51 hours
    assert short.value.reason == "LEAD_TIME_TOO_SHORT"
    check_need(REQUEST)  # urgent
    check_need(dataclasses.replace(planned, at=NOW - timedelta(days=1)))  # 75 hours
    with pytest.raises(RuleViolated) as past:
        check_need(dataclasses.replace(REQUEST, at=FRIDAY_1200))
    assert past.value.reason == "SUPPORT_STARTS_IN_PAST"


def test_a_support_undoing_a_refused_completion_when_the_upgrade_came_still_takes_the_undo() -> (
    None
):
    # Before `complete` stopped on failure, a refusal undid the hold (the loan ended with
    # the fault unsolved). A support whose undo was still in the outbox at the upgrade
    # must take that undo's reply, not wait for a completion nothing will send again.
    old_complete = dataclasses.replace(SAGA.steps[-1], stops_on_failure=False)
    old = dataclasses.replace(SAGA, steps=(*SAGA.steps[:-1], old_complete))
    before = on_site()
    before.clock.advance(timedelta(hours=4))
    report(before, SupportProgress.COMPLETED, hours=4.0, solved=True)
    was = SagaScenario(old, saga_id="S-1", clock=before.clock).given(*before.recorded)
    was.outbox = dict(before.outbox)
    was.when_refused("complete", "SUPPORT_NOT_ON_LOAN").then_event_types(CompletionRefused)
    assert list(was.outbox) == ["hold.undo"]
    now = SagaScenario(SAGA, saga_id="S-1", clock=before.clock).given(*was.recorded)
    now.outbox = dict(was.outbox)
    assert SAGA.pending_call(now.state) == "hold.undo"
    was.when_replied("hold.undo")
    now.when_replied("hold.undo").then_event_types(*(type(e) for e in was.last.events))
    assert now.state.status is was.state.status
