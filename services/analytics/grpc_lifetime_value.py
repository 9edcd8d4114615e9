"""Parsing and replies of the customer lifetime value RPCs (SetCustomerLifetimeValue,
GetCustomerLifetimeValue)."""

from __future__ import annotations

from datetime import date, datetime

from storemesh.analytics.v1 import analytics_pb2 as pb

from kernel import validation
from kernel.codec import to_proto
from kernel.errors import Violations
from services.analytics.domain.lifetime_value import (
    LifetimeValues,
    SetCustomerLifetimeValue,
    check_value,
)


def set_value(
    r: pb.SetCustomerLifetimeValueRequest, today: date, at: datetime
) -> SetCustomerLifetimeValue:
    v = Violations()
    validation.request_id(v, "request_id", r.request_id)
    check_value(v, r.value_fen)
    effective_from = validation.day(v, "effective_from", r.effective_from, required=False)
    v.raise_if_any()
    return SetCustomerLifetimeValue(
        value_fen=r.value_fen, effective_from=effective_from, today=today, at=at
    )


def day_asked(r: pb.GetCustomerLifetimeValueRequest, today: date) -> date:
    v = Violations()
    on = validation.day(v, "on", r.on, required=False)
    v.raise_if_any()
    return on or today


def value_message(values: LifetimeValues, on: date) -> pb.CustomerLifetimeValue:
    found = values.in_force(on)
    return pb.CustomerLifetimeValue(
        on=on.isoformat(),
        value_fen=values.value_on(on),
        effective_from=found.effective_from.isoformat() if found else "",
        changes=[to_proto(c, pb.CustomerLifetimeValueChange) for c in values.schedule()],
    )
