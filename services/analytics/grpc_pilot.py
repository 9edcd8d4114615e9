"""Parsing and replies of the pilot RPCs (SetPilotParticipation, GetPilotComparison)."""

from __future__ import annotations

from datetime import date, datetime

from storemesh.analytics.v1 import analytics_pb2 as pb

from kernel import validation
from kernel.errors import Violations
from services.analytics.domain.periods import Period
from services.analytics.domain.pilot import Participation, SetPilotParticipation
from services.analytics.grpc_messages import (
    KPI_KINDS,
    _indicator,
    as_of_up_to_today,
    period,
    period_message,
)
from services.analytics.queries_pilot import DEFAULT_WINDOW_DAYS, PilotView

MAX_WINDOW_DAYS = 366


def set_participation(
    r: pb.SetPilotParticipationRequest, today: date, at: datetime
) -> SetPilotParticipation:
    v = Violations()
    validation.request_id(v, "request_id", r.request_id)
    validation.store_code(v, "store_id", r.store_id)
    joined = validation.day(v, "joined_on", r.joined_on)
    left = validation.day(v, "left_on", r.left_on, required=False)
    if joined is not None and left is not None and left <= joined:
        v.add("left_on", "must be after joined_on")
    v.raise_if_any()
    assert joined is not None
    return SetPilotParticipation(
        store_id=r.store_id,
        joined_on=joined,
        left_on=left,
        today=today,
        store_known=True,
        at=at,
    )


def participation_message(p: Participation) -> pb.PilotParticipation:
    return pb.PilotParticipation(
        store_id=p.store_id,
        joined_on=p.joined_on.isoformat(),
        left_on=p.left_on.isoformat() if p.left_on else "",
    )


def comparison_request(
    r: pb.GetPilotComparisonRequest, today: date
) -> tuple[str, Period, int, date]:
    """indicator, period (a day, week or month), window days and as_of of a pilot
    comparison."""
    v = Violations()
    _indicator(v, "indicator", r.indicator)
    asked = period(v, "period", r.period, KPI_KINDS)
    on = as_of_up_to_today(v, r.as_of, today)
    if not 0 <= r.window_days <= MAX_WINDOW_DAYS:
        v.add(
            "window_days",
            f"must be from 0 (the default, {DEFAULT_WINDOW_DAYS}) to {MAX_WINDOW_DAYS}",
        )
    v.raise_if_any()
    assert asked is not None
    return r.indicator, asked, r.window_days or DEFAULT_WINDOW_DAYS, on


def comparison_message(code: str, asked: Period, view: PilotView) -> pb.PilotComparison:
    message = pb.PilotComparison(
        indicator=code,
        period=period_message(asked),
        participants=list(view.split.participants),
        not_yet=list(view.split.not_yet),
    )
    if view.participants_mean is not None:
        message.participants_mean = float(view.participants_mean)
    if view.not_yet_mean is not None:
        message.not_yet_mean = float(view.not_yet_mean)
    for store_id, found in view.stores:
        row = message.stores.add(store_id=store_id, joined_on=found.joined_on.isoformat())
        if found.before is not None:
            row.before = float(found.before)
        if found.after is not None:
            row.after = float(found.after)
        if found.change is not None:
            row.change = float(found.change)
    return message
