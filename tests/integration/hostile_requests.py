"""Hostile requests for any RPC, built from its descriptor: a plausible request that reaches
the business code, then one field at a time set to what a careless or hostile caller sends,
then a few requests hostile everywhere. Deterministic for a given seed."""

from __future__ import annotations

import base64
import json
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from kernel import edge
from tests.integration.hostile_values import (
    DATES,
    DOUBLES,
    DRILL_DOWNS,
    IDS,
    INT_TYPES,
    MONTHS,
    NOW,
    PLAUSIBLE_ENUM,
    PLAUSIBLE_NUMBER,
    PLAUSIBLE_TEXT,
    PLAUSIBLE_TIME,
    TEXT,
    TIMESTAMPS,
    TOKENS,
)

Path = tuple[str | int, ...]

# Text fields that carry a calendar day (besides `*_date` and `*_on`); `month` a YYYY-MM.
DAY_FIELDS = ("day", "week_of", "as_of", "start", "on", "effective_from")


# Fields a plausible request leaves out, where the RPC takes one of two ways to say a thing.
LEFT_OUT = {
    "PublishAvailabilityRequest": ("starts_at", "ends_at"),
    "GetUtilisationRequest": ("store_id",),
    "SetYearlyTargetRequest": ("weights",),
}
# Values one request needs where the same field name means another thing elsewhere.
PLAUSIBLE_IN: dict[str, dict[str, Any]] = {
    "SetAlarmLineRequest": {"indicator": "gross_margin"},  # alarm lines are on ratios
    "CompleteSupportRequest": {"hours_worked": 3.0},
    "GetSupportChampionsRequest": {
        "period.kind": "PERIOD_KIND_QUARTER",
        "period.start": "2026-10-01",
    },
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
    for dotted, value in PLAUSIBLE_IN.get(descriptor.name, {}).items():
        *parents, name = dotted.split(".")
        target = message
        for step in parents:
            target = getattr(target, step)
        field = target.DESCRIPTOR.fields_by_name[name]
        if field.type == FieldDescriptor.TYPE_ENUM:
            value = field.enum_type.values_by_name[value].number
        setattr(target, name, value)
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
        named = PLAUSIBLE_ENUM.get(field.enum_type.full_name)
        if named:
            return field.enum_type.values_by_name[named].number
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
        if field.name == "drill_down":
            return [*DRILL_DOWNS, *TEXT]
        if edge.is_id_field(field.name):
            return IDS
        if field.name in DAY_FIELDS or field.name.endswith(("_date", "_on")):
            return DATES
        if field.name == "month":
            return MONTHS
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
    yield Case("plausible", fresh(base))
    for path, field in _leaves(base.DESCRIPTOR, ()):
        name = _name(path)
        for label, value in hostile_values(field, forged_tokens):
            request = fresh(base)
            _set(request, path, field, value)
            yield Case(f"{name}={label}", request)
        if field.is_repeated:
            request = fresh(base)
            _clear(request, path)
            yield Case(f"{name}=no items", request)
            request = fresh(base)
            many = _too_many(request, path, field)
            yield Case(f"{name}={many} items", request)


def _too_many(request: Message, path: Path, field: FieldDescriptor) -> int:
    """Fill the list at `path` with one item more than the edge allows; how many."""
    many = edge.MORE_ITEMS.get(field.name, edge.MAX_ITEMS) + 1
    items = _container(request, path)
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        first = items[0] if len(items) else items.add()
        for _ in range(many - len(items)):
            items.add().CopyFrom(first)
    else:
        items.extend([_plausible_scalar(field)] * (many - len(items)))
    return many


def _name(path: Path) -> str:
    return "".join(f"[{step}]" if isinstance(step, int) else f".{step}" for step in path)[1:]


def random_cases(
    base: Message, rng: random.Random, count: int, forged_tokens: list[tuple[str, str]]
) -> Iterator[Case]:
    """Requests with every field drawn at random among its hostile values."""
    leaves = list(_leaves(base.DESCRIPTOR, ()))
    for n in range(count):
        request = fresh(base)
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
        for label, value in CURSOR_VALUES:
            changed = list(after)
            changed[i] = value
            forged.append((f"cursor[{i}] {label}", changed))
    tokens = [
        (f"forged: {label}", _encode({"a": cursor, "q": body.get("q")})) for label, cursor in forged
    ]
    tokens.append(("forged: another query", _encode({"a": after, "q": "0" * 64})))
    return tokens


# What a forger puts in place of one resume key value: other kinds, and values of the
# right kind no database or calendar takes (NUL in text, moments off the calendar in UTC).
CURSOR_VALUES: tuple[tuple[str, Any], ...] = (
    ("text", "zz"),
    ("NUL text", "a\x00b"),
    ("control text", "\x1b[2J"),
    ("long text", "t" * 1000),
    ("number", 10**30),
    ("int64 max", 2**63 - 1),
    ("negative", -1),
    ("bool", True),
    ("null", None),
    ("list", [1]),
    ("float", 1.5),
    ("first moment east", "0001-01-01T00:00:00+14:00"),
    ("last moment west", "9999-12-31T23:59:59-14:00"),
    ("naive moment", "2026-11-02T08:00:00"),
)


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


def fresh(base: Message) -> Message:
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
