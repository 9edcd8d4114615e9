"""Hostile requests for any RPC, built from its descriptor: a plausible request that reaches
the business code, then one field at a time set to what a careless or hostile caller sends,
then a few requests hostile everywhere. Deterministic for a given seed."""

from __future__ import annotations

import base64
import json
import math
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from kernel import edge

# Business time of the fuzzed network: the ManualClock's Monday 2026-11-02 08:00 UTC.
NOW = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
FRIDAY = date(2026, 11, 6)


def china(day: date, hour: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC) - timedelta(hours=8)


# Plausible values by field name, so the unchanged fields of a case reach the domain.
PLAUSIBLE_TEXT = {
    "store_id": "SZ01",
    "exclude_store_id": "GZ01",
    "requesting_store_id": "SZ01",
    "destination_store_id": "GZ01",
    "to_store_id": "GZ01",
    "from_store_id": "SZ01",
    "host_store_id": "GZ01",
    "rated_by_store_id": "GZ01",
    "diverted_from_store_id": "GZ01",
    "part_number": "P-100",
    "technician_id": "T-1",
    "reservation_id": "R-1",
    "appointment_id": "A-1",
    "visit_id": "W-1",
    "support_id": "S-1",
    "specialty": "hv_ev",
    "specialties": "hv_ev",
    "store_ids": "SZ01",
    "technician_ids": "T-1",
    "day": NOW.date().isoformat(),
    "week_of": FRIDAY.isoformat(),
    "as_of": FRIDAY.isoformat(),
    "from_date": "",
    "to_date": "",
    "opened_on": "2021-05-01",
    "issued_on": "2024-01-01",
    "expires_on": "2028-01-01",
    "category": "brakes",
    "region": "Shenzhen",
    "city": "Shenzhen",
    "time_zone": "Asia/Shanghai",
    "unit": "set",
    "page_token": "",
}
PLAUSIBLE_NUMBER = {
    "page_size": 1,
    "opens_minute": 480,
    "closes_minute": 1050,
    "min_idle_days": 0,
    "ttl_seconds": 600,
    "window_days": 30,
    "wait_threshold_minutes": 30,
    "latitude": 22.54,
    "longitude": 114.05,
    "availability_factor": 0.9,
    "available_hours": 8.0,
    "expected_labour_hours": 2.0,
    "bays": 4,
    "capacity": 10,
    "default_daily_capacity": 10,
    "rating": 5,
    "satisfaction_score": 5,
    "unit_cost_fen": 12_000,
}
PLAUSIBLE_TIME = {
    "starts_at": china(FRIDAY, 13),
    "ends_at": china(FRIDAY, 17),
    "available_from": china(FRIDAY, 8),
    "available_to": china(FRIDAY, 18),
    "requested_at": china(date(2026, 11, 3), 10),
    "slot_at": china(date(2026, 11, 3), 11),
}

TEXT = [
    ("empty", ""),
    ("blank", "   "),
    ("10000 chars", "x" * 10_000),
    ("257 chars", "y" * 257),
    ("NUL", "a\x00b"),
    ("control", "\x01\x1b[2J"),
    ("han", "深圳福田"),
    ("sql", "'; DROP TABLE events; --"),
    ("rtl", "\u202eevil"),
    ("unknown zone", "Mars/Olympus_Mons"),
    ("zone path", "../../etc/passwd"),
]
IDS = [
    ("empty", ""),
    ("10000 chars", "z" * 10_000),
    ("NUL", "S\x00Z01"),
    ("control", "SZ\n01"),
    ("path", "a/../b"),
    ("rooted", "/SZ01"),
    ("trailing slash", "SZ01/"),
    ("dotdot", ".."),
    ("han", "深圳"),
    ("sql", "SZ01' OR '1'='1"),
    ("unknown", "NOPE-404"),
]
DATES = [
    ("empty", ""),
    ("NUL", "2026-11-06\x00"),
    ("10000 chars", "9" * 10_000),
    ("end of calendar", "9999-12-31"),
    ("start of calendar", "0001-01-01"),
    ("early January year 1", "0001-01-15"),
    ("compact", "20261201"),
    ("week date", "2026-W49-1"),
    ("30 February", "2026-02-30"),
    ("month 13", "2026-13-01"),
    ("words", "tomorrow"),
]
TOKENS = [
    ("garbage", "not-a-token"),
    ("10000 chars", "A" * 10_000),
    ("NUL", "ey\x00"),
    ("base64 not json", base64.urlsafe_b64encode(b"\xff\xfe").decode()),
    ("json not token", base64.urlsafe_b64encode(b'{"a":1}').decode()),
]
INT32 = [("zero", 0), ("minus one", -1), ("int32 max", 2**31 - 1), ("int32 min", -(2**31))]
INT64 = [*INT32, ("int64 max", 2**63 - 1), ("int64 min", -(2**63))]
DOUBLES = [
    ("NaN", math.nan),
    ("+inf", math.inf),
    ("-inf", -math.inf),
    ("negative", -1.0),
    ("huge", 1e308),
    ("zero", 0.0),
    ("tiny", 5e-324),
]
TIMESTAMPS: list[tuple[str, tuple[int, int] | None]] = [
    ("unset", None),
    ("epoch", (0, 0)),
    ("start of calendar", (edge.MIN_TIMESTAMP_SECONDS, 0)),
    ("end of calendar", (edge.MAX_TIMESTAMP_SECONDS, 0)),
    ("before the calendar", (edge.MIN_TIMESTAMP_SECONDS - 1, 0)),
    ("seconds 2^62", (2**62, 0)),
    ("nanos -1", (1_790_000_000, -1)),
    ("nanos 2e9", (1_790_000_000, 2_000_000_000)),
]
INT_TYPES = {
    FieldDescriptor.TYPE_INT32: INT32,
    FieldDescriptor.TYPE_SINT32: INT32,
    FieldDescriptor.TYPE_INT64: INT64,
    FieldDescriptor.TYPE_SINT64: INT64,
}


Path = tuple[str | int, ...]


# Fields a plausible request leaves out, where the RPC takes one of two ways to say a thing.
LEFT_OUT = {
    "PublishAvailabilityRequest": ("starts_at", "ends_at"),
    "GetUtilisationRequest": ("store_id",),
}
# Ids a call creates: a new one for each case, so a case is not refused as a repeat.
FRESH_IDS: dict[str, tuple[Path, ...]] = {
    "RegisterStoreRequest": (("store_id",),),
    "BookAppointmentRequest": (("appointment_id",),),
    "RegisterWalkInRequest": (("visit_id",),),
    "CheckInCustomerRequest": (("visit_id",),),
    "HoldSlotRequest": (("hold_id",),),
    "RegisterPartRequest": (("part", "part_number"),),
    "ReserveStockRequest": (("reservation_id",),),
    "ShipTransferRequest": (("transfer_id",),),
    "RegisterTechnicianRequest": (("technician_id",),),
    "ScheduleLeaveRequest": (("leave_id",),),
    "PublishAvailabilityRequest": (("window_id",),),
    "HoldSupportRequest": (("support_id",),),
}
# Calls that end what the others need (a closed store, a technician gone): sent last, in
# this order.
ENDINGS = (
    "RemoveSpecialty",
    "ScheduleLeave",
    "CancelAppointment",
    "UpdateStore",
    "CloseStore",
    "ChangeStatus",
    "TransferTechnician",
    "LeaveCompany",
)


@dataclass(frozen=True)
class Case:
    """One request to send and the words that name it in a failure report."""

    label: str
    request: Message


def is_mutation(descriptor: Descriptor) -> bool:
    return "request_id" in descriptor.fields_by_name


def plausible(descriptor: Descriptor, message_class: Any) -> Message:
    message = message_class()
    _fill(message)
    for name in LEFT_OUT.get(descriptor.name, ()):
        message.ClearField(name)
    return message  # type: ignore[no-any-return]


def _fill(message: Message) -> None:
    for field in message.DESCRIPTOR.fields:
        if field.is_repeated:
            if field.type == FieldDescriptor.TYPE_MESSAGE:
                _fill(getattr(message, field.name).add())
            else:
                getattr(message, field.name).append(_plausible_scalar(field))
        elif field.type == FieldDescriptor.TYPE_MESSAGE:
            if field.message_type.full_name == "google.protobuf.Timestamp":
                moment = PLAUSIBLE_TIME.get(field.name, NOW + timedelta(hours=1))
                getattr(message, field.name).FromDatetime(moment)
            else:
                _fill(getattr(message, field.name))
        else:
            setattr(message, field.name, _plausible_scalar(field))


def _plausible_scalar(field: FieldDescriptor) -> Any:
    if field.name == "request_id":
        return str(uuid.uuid4())
    if field.type == FieldDescriptor.TYPE_STRING:
        return PLAUSIBLE_TEXT.get(field.name, "demo")
    if field.type == FieldDescriptor.TYPE_ENUM:
        values = [v.number for v in field.enum_type.values if v.number != 0]
        return values[0] if values else 0
    if field.type == FieldDescriptor.TYPE_BOOL:
        return False
    return PLAUSIBLE_NUMBER.get(field.name, 1)


def hostile_values(field: FieldDescriptor, forged_tokens: list[tuple[str, str]]) -> list[Any]:
    """(label, value) pairs for one field; a Timestamp value is (seconds, nanos) or None."""
    kind = field.type
    if kind == FieldDescriptor.TYPE_STRING:
        if field.name == "page_token":
            return [*TOKENS, *forged_tokens]
        if edge.is_id_field(field.name):
            return IDS
        if field.name in ("day", "week_of", "as_of") or field.name.endswith(("_date", "_on")):
            return DATES
        return TEXT
    if kind in INT_TYPES:
        return INT_TYPES[kind]
    if kind in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        return DOUBLES
    if kind == FieldDescriptor.TYPE_BOOL:
        return [("true", True), ("false", False)]
    if kind == FieldDescriptor.TYPE_ENUM:
        top = max(v.number for v in field.enum_type.values)
        return [("unspecified", 0), ("negative", -1), ("unknown 999", 999), ("last", top)]
    if field.message_type.full_name == "google.protobuf.Timestamp":
        return TIMESTAMPS
    return [("missing", None), ("empty", "empty")]


def single_field_cases(base: Message, forged_tokens: list[tuple[str, str]]) -> Iterator[Case]:
    """The plausible request with one field (nested ones too) made hostile, every way."""
    yield Case("plausible", _fresh(base))
    for path, field in _leaves(base.DESCRIPTOR, ()):
        name = _name(path)
        for label, value in hostile_values(field, forged_tokens):
            request = _fresh(base)
            _set(request, path, field, value)
            yield Case(f"{name}={label}", request)
        if field.is_repeated:
            request = _fresh(base)
            _clear(request, path)
            yield Case(f"{name}=no items", request)
            if field.type != FieldDescriptor.TYPE_MESSAGE:
                request = _fresh(base)
                _container(request, path).extend([_plausible_scalar(field)] * 1001)
                yield Case(f"{name}=1001 items", request)


def _name(path: Path) -> str:
    return "".join(f"[{step}]" if isinstance(step, int) else f".{step}" for step in path)[1:]


def random_cases(
    base: Message, rng: random.Random, count: int, forged_tokens: list[tuple[str, str]]
) -> Iterator[Case]:
    """Requests with every field drawn at random among its hostile values."""
    leaves = list(_leaves(base.DESCRIPTOR, ()))
    for n in range(count):
        request = _fresh(base)
        for path, field in leaves:
            if rng.random() < 0.6:
                _set(request, path, field, rng.choice(hostile_values(field, forged_tokens))[1])
        yield Case(f"random #{n}", request)


def forge(token: str) -> list[tuple[str, str]]:
    """A real page token with its cursor values changed and its query digest left valid."""
    if not token:
        return []
    try:
        body = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        after = list(body["a"])
    except (ValueError, KeyError, TypeError):
        return []  # the token is not the kernel's JSON shape any more: nothing to forge
    forged: list[tuple[str, Any]] = [("no cursor", []), ("cursor not a list", "x")]
    forged.append(("extra cursor value", [*after, "extra"]))
    for i in range(len(after)):
        for label, value in (
            ("text", "zz"),
            ("number", 10**30),
            ("null", None),
            ("list", [1]),
            ("float", 1.5),
        ):
            changed = list(after)
            changed[i] = value
            forged.append((f"cursor[{i}] {label}", changed))
    return [
        (f"forged: {label}", _encode({"a": cursor, "q": body.get("q")})) for label, cursor in forged
    ]


def _encode(body: dict[str, Any]) -> str:
    raw = json.dumps(body, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _leaves(descriptor: Descriptor, prefix: Path) -> Iterator[tuple[Path, FieldDescriptor]]:
    for field in descriptor.fields:
        path = (*prefix, field.name)
        nested = field.type == FieldDescriptor.TYPE_MESSAGE and (
            field.message_type.full_name != "google.protobuf.Timestamp"
        )
        yield path, field
        if nested:
            # A list of messages is made hostile inside its one plausible element.
            yield from _leaves(field.message_type, (*path, 0) if field.is_repeated else path)


def _fresh(base: Message) -> Message:
    request = type(base)()
    request.CopyFrom(base)
    if "request_id" in request.DESCRIPTOR.fields_by_name:
        request.request_id = str(uuid.uuid4())  # type: ignore[attr-defined]
    for path in FRESH_IDS.get(request.DESCRIPTOR.name, ()):
        setattr(_parent(request, path), str(path[-1]), f"F-{uuid.uuid4().hex[:8]}")
    return request


def _parent(request: Any, path: Path) -> Any:
    for step in path[:-1]:
        if isinstance(step, int):
            while len(request) <= step:  # an earlier random choice emptied the list
                request.add()
            request = request[step]
        else:
            request = getattr(request, step)
    return request


def _container(request: Message, path: Path) -> Any:
    return getattr(_parent(request, path), path[-1])


def _clear(request: Message, path: Path) -> None:
    _parent(request, path).ClearField(path[-1])


def _set(request: Message, path: Path, field: FieldDescriptor, value: Any) -> None:
    parent = _parent(request, path)
    name = path[-1]
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        parent.ClearField(name)
        if field.is_repeated:
            if value == "empty":
                getattr(parent, name).add()
        elif field.message_type.full_name == "google.protobuf.Timestamp":
            if value is not None:
                stamp = getattr(parent, name)
                stamp.seconds, stamp.nanos = value
        elif value == "empty":
            getattr(parent, name).SetInParent()
    elif field.is_repeated:
        parent.ClearField(name)
        getattr(parent, name).append(value)
    else:
        setattr(parent, name, value)
