"""Wire hygiene for every request at the gRPC edge, the same for every RPC of every service.

A request is walked by its protobuf descriptor before the servicer sees it: text (length,
control characters), ids (not path-like), Timestamps and Durations (within their spec
range), doubles (finite) and list sizes.
Every fault is collected, so one INVALID_ARGUMENT names them all. Only what no service can
handle safely is checked here: business rules (which field is required, which range a
quantity takes) and the reading of dates sent as text and of enum numbers stay with the
services. So that one refusal still names every field, the edge's faults are held back
(`deferred`) while the servicer runs its own checks, and merged into its refusal; a
request with faults never reaches the database (`refuse_pending`, called by
`Database.transaction`), so the servicer cannot act on it.

The walk is planned once per message type (a check per field, chosen by type and name) and
visits only the fields a caller set, so the command path pays a few dictionary look-ups.
"""

from __future__ import annotations

import contextlib
import functools
import math
import re
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from kernel.errors import FieldViolation, InvalidArgument

MAX_TEXT = 256
# Text fields that legitimately carry more: a free-text comment, a page token's cursor.
LONGER_TEXT: Mapping[str, int] = MappingProxyType({"comment": 2000, "page_token": 2048})
MAX_ITEMS = 1000
MORE_ITEMS: Mapping[str, int] = MappingProxyType(
    {"store_ids": 2000, "counts": 10_000, "appointments": 2000}
)

# google.protobuf.Timestamp's documented range, 0001-01-01T00:00:00Z..9999-12-31T23:59:59Z.
MIN_TIMESTAMP_SECONDS = -62_135_596_800
MAX_TIMESTAMP_SECONDS = 253_402_300_799
# google.protobuf.Duration's documented range, about +-10,000 years.
MAX_DURATION_SECONDS = 315_576_000_000
MAX_NANOS = 999_999_999

ID_NAMES = frozenset({"part_number", "repair_order", "customer_ref"})

# C0 and C1 controls: free text may keep tab and line breaks, ids nothing.
TEXT_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
STRICT_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")

Out = list[FieldViolation]
ValueCheck = Callable[[Any, str, Out], None]


def is_id_field(name: str) -> bool:
    """Ids by naming convention: `*_id`, `*_ids`, and the few keys named otherwise."""
    return name.endswith(("_id", "_ids")) or name in ID_NAMES


def loggable(value: str) -> str:
    """A caller's id fit for logs and spans before the edge has judged it: a short, clean
    one as sent, anything else dropped (it is refused a moment later anyway)."""
    if len(value) > MAX_TEXT or STRICT_CONTROL.search(value):
        return ""
    return value


_pending: ContextVar[tuple[FieldViolation, ...]] = ContextVar("edge_pending", default=())


@contextlib.contextmanager
def deferred(found: list[FieldViolation]) -> Iterator[None]:
    """Hold a request's wire faults while its servicer runs its own checks."""
    token = _pending.set(tuple(found))
    try:
        yield
    finally:
        _pending.reset(token)


def refuse_pending() -> None:
    """Where a request would reach the database: one with wire faults stops here."""
    found = _pending.get()
    if found:
        raise InvalidArgument(list(found))


def together(found: list[FieldViolation], theirs: list[FieldViolation]) -> InvalidArgument:
    """The edge's faults and the servicer's in one refusal, each field named once: where
    both fault a field, the servicer's words stand, as they say what the field must be."""
    named = {v.field for v in theirs}
    merged = list(dict.fromkeys([*(v for v in found if v.field not in named), *theirs]))
    return InvalidArgument(merged)


def check(message: Message) -> None:
    """Refuse the request with every wire-format fault it has; return when it has none."""
    found = violations(message)
    if found:
        raise InvalidArgument(found)


def violations(message: Message) -> list[FieldViolation]:
    """Every wire-format fault of a request, as field paths (`part.name`, `items[2].id`)."""
    out: Out = []
    _walk(message, "", out)
    return out


@dataclass(frozen=True)
class _Rule:
    one: ValueCheck
    repeated: bool
    max_items: int
    is_map: bool


def _walk(message: Message, prefix: str, out: Out) -> None:
    plan = _plan(message.DESCRIPTOR)
    for field, value in message.ListFields():
        rule = plan[field.name]
        path = prefix + field.name
        if rule.is_map:
            _walk_map(rule, value, path, out)
        elif rule.repeated:
            if len(value) > rule.max_items:
                out.append(FieldViolation(path, f"must have at most {rule.max_items} items"))
            for i, item in enumerate(value[: rule.max_items]):
                rule.one(item, f"{path}[{i}]", out)
        else:
            rule.one(value, path, out)


def _walk_map(rule: _Rule, value: Any, path: str, out: Out) -> None:
    if len(value) > rule.max_items:
        out.append(FieldViolation(path, f"must have at most {rule.max_items} entries"))
    for key in list(value)[: rule.max_items]:
        key_path = f"{path}[{key!r}]"
        if isinstance(key, str):
            _text(MAX_TEXT, STRICT_CONTROL)(key, key_path, out)
        rule.one(value[key], key_path, out)


@functools.cache
def _plan(descriptor: Descriptor) -> Mapping[str, _Rule]:
    rules: dict[str, _Rule] = {}
    for field in descriptor.fields:
        entry = field.message_type
        is_map = entry is not None and bool(entry.GetOptions().map_entry)
        target = entry.fields_by_name["value"] if entry is not None and is_map else field
        rules[field.name] = _Rule(
            one=_value_check(target, field.name),
            repeated=field.is_repeated,
            max_items=MORE_ITEMS.get(field.name, MAX_ITEMS),
            is_map=is_map,
        )
    return MappingProxyType(rules)


def _value_check(field: FieldDescriptor, name: str) -> ValueCheck:
    kind = field.type
    if kind == FieldDescriptor.TYPE_STRING:
        if is_id_field(name):
            return _identifier
        return _text(LONGER_TEXT.get(name, MAX_TEXT), TEXT_CONTROL)
    if kind in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        return _finite
    if kind == FieldDescriptor.TYPE_MESSAGE and field.message_type is not None:
        full_name = field.message_type.full_name
        if full_name == "google.protobuf.Timestamp":
            return _timestamp
        if full_name == "google.protobuf.Duration":
            return _duration
        return _nested
    return _anything


def _text(max_len: int, control: re.Pattern[str]) -> ValueCheck:
    def check_text(value: str, path: str, out: Out) -> None:
        if len(value) > max_len:
            out.append(FieldViolation(path, f"must be at most {max_len} characters"))
        elif control.search(value):
            out.append(FieldViolation(path, "must not contain control characters such as NUL"))

    return check_text


def _identifier(value: str, path: str, out: Out) -> None:
    if len(value) > MAX_TEXT:
        out.append(FieldViolation(path, f"must be at most {MAX_TEXT} characters"))
    elif STRICT_CONTROL.search(value):
        out.append(FieldViolation(path, "must not contain control characters such as NUL"))
    elif ".." in value or value.startswith("/") or value.endswith("/") or "\\" in value:
        out.append(
            FieldViolation(
                path, "must not look like a path (no '..', '\\', leading or trailing '/')"
            )
        )


def _timestamp(value: Any, path: str, out: Out) -> None:
    if not MIN_TIMESTAMP_SECONDS <= value.seconds <= MAX_TIMESTAMP_SECONDS:
        out.append(FieldViolation(path, "must lie within 0001-01-01 and 9999-12-31 (UTC)"))
    elif not 0 <= value.nanos <= MAX_NANOS:
        out.append(FieldViolation(path, "must have nanos within 0..999,999,999"))


def _duration(value: Any, path: str, out: Out) -> None:
    seconds, nanos = value.seconds, value.nanos
    if not -MAX_DURATION_SECONDS <= seconds <= MAX_DURATION_SECONDS:
        out.append(FieldViolation(path, "must lie within +-10,000 years"))
    elif not -MAX_NANOS <= nanos <= MAX_NANOS or (seconds > 0 > nanos) or (seconds < 0 < nanos):
        out.append(FieldViolation(path, "must have nanos within +-999,999,999, signed as seconds"))


def _finite(value: float, path: str, out: Out) -> None:
    if not math.isfinite(value):
        out.append(FieldViolation(path, "must be a finite number"))


def _nested(value: Message, path: str, out: Out) -> None:
    _walk(value, path + ".", out)


def _anything(value: Any, path: str, out: Out) -> None:
    """Integers, booleans and enums: any value is well formed; their ranges are business
    rules."""
