"""A batch's events and rows made bytes in bulk (kernel/bulk_append.py): protobuf payloads
encoded once per run of fields the batch's events share, and COPY text built as one string.

Payloads: a store's count is 5,000 StockAdjusted that differ only in part and figures; the
codec's per-event walk (a message, a setattr and a Timestamp conversion per field) costs
several times serialising just what differs. A protobuf message is the concatenation of
its fields in field-number order, so the runs of fields every event of a type shares are
serialised once, the runs that differ once per event, and the pieces joined: the bytes
are exactly those `EventRegistry.encode` makes (tests/unit/kernel/test_bulk_rows.py).
Events with fields the fast path does not know (nested messages, repeated fields, enums,
fractions, floats) are encoded by the registry as always.

COPY text: psycopg's `write_row` formats value by value through its dumpers; for a few
known types (str, int, bool, bytes, datetime, date, UUID, None, JSON values) one join per
row does the same, escaped as PostgreSQL's text format requires.
"""

from __future__ import annotations

import itertools
import json
import operator
import re
import typing
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import fields
from datetime import UTC, date, datetime
from types import NoneType
from typing import Any

from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from kernel.codec import set_moment
from kernel.events import EventRegistry

# Field kinds of the fast encoder: a value of another type sends its event type's
# whole group to the registry.
_KINDS = frozenset({str, int, bool, bytes, datetime, NoneType})


def encode_all(registry: EventRegistry, events: Sequence[Any]) -> list[tuple[str, bytes]]:
    """(type name, payload) of each event, as `registry.encode` gives them, in order."""
    encoded: list[tuple[str, bytes]] = [("", b"")] * len(events)
    groups: dict[type[Any], list[int]] = {}
    for k, event in enumerate(events):
        groups.setdefault(type(event), []).append(k)
    for at in groups.values():
        group = [events[k] for k in at]
        payloads = _encode_group(registry, group) if len(group) > 1 else None
        if payloads is None:
            for k, event in zip(at, group, strict=True):
                encoded[k] = registry.encode(event)
        else:
            type_name = registry.binding(group[0]).type_name
            for k, payload in zip(at, payloads, strict=True):
                encoded[k] = (type_name, payload)
    return encoded


def _encode_group(registry: EventRegistry, group: list[Any]) -> list[bytes] | None:
    message_type = registry.binding(group[0]).message_type
    by_number = message_type.DESCRIPTOR.fields_by_name
    names = [f.name for f in fields(group[0])]
    if any(name not in by_number for name in names):
        return None
    names.sort(key=lambda name: by_number[name].number)
    stamps: dict[datetime, Timestamp] = {}
    columns: list[list[Any]] = []
    shared: list[bool] = []
    by_constructor: list[bool] = []  # None (left unset) or a Timestamp (a message)
    for name in names:
        column = [getattr(e, name) for e in group]
        kinds = set(map(type, column))
        if not kinds <= _KINDS:
            return None
        # One type and one value (True and 1 are one value to a set, not to protobuf).
        shared.append(len(kinds) == 1 and len(set(column)) == 1)
        by_constructor.append(NoneType in kinds or datetime in kinds)
        if datetime in kinds:
            column = [_stamp(stamps, v) for v in column]
        columns.append(column)
    # Runs of consecutive fields (by number) all shared or all differing: each serialised
    # once (shared) or once per event, then joined per event in field-number order.
    runs: list[Iterable[bytes]] = []
    start = 0
    for end in range(1, len(names) + 1):
        if end == len(names) or shared[end] != shared[start]:
            run_names, run_columns = names[start:end], columns[start:end]
            if shared[start]:
                once = _serialise(message_type, run_names, [c[0] for c in run_columns])
                runs.append(itertools.repeat(once, len(group)))
            elif any(by_constructor[start:end]):
                rows = zip(*run_columns, strict=True)
                runs.append([_serialise(message_type, run_names, row) for row in rows])
            else:
                runs.append(_serialise_all(message_type(), run_names, run_columns))
            start = end
    return [b"".join(parts) for parts in zip(*runs, strict=True)]


def _serialise(message_type: type[Message], names: list[str], values: Sequence[Any]) -> bytes:
    """One message of these fields; a None is left unset, as the codec leaves it."""
    given = {n: v for n, v in zip(names, values, strict=True) if v is not None}
    return message_type(**given).SerializeToString()


def _serialise_all(message: Any, names: list[str], columns: list[list[Any]]) -> list[bytes]:
    """Each row of these scalar fields (no None): one message, every field set anew for
    each row (a zero or empty value is unset in proto3, as in a new message)."""
    out = []
    for row in zip(*columns, strict=True):
        for name, value in zip(names, row, strict=True):
            setattr(message, name, value)
        out.append(message.SerializeToString())
    return out


def _stamp(stamps: dict[datetime, Timestamp], moment: datetime | None) -> Timestamp | None:
    if moment is None:
        return None
    stamp = stamps.get(moment)
    if stamp is None:
        stamp = stamps[moment] = Timestamp()
        set_moment(stamp, moment)
    return stamp


def decode_all(registry: EventRegistry, rows: Sequence[tuple[str, bytes]]) -> list[Any]:
    """The domain event of each (type name, payload), as `registry.decode` gives it.

    Types whose fields are all plain scalars or moments (optional ones too: None when the
    message leaves them unset, as the registry reads them) are read field by field with a
    plan made once per batch and type, each distinct Timestamp converted once (a load of
    thousands of streams reads thousands of events sharing a few moments); any other type
    is decoded by the registry."""
    readers: dict[str, Callable[[bytes], Any]] = {}
    out = []
    for type_name, payload in rows:
        read = readers.get(type_name)
        if read is None:
            first = registry.decode(type_name, payload)
            read = readers[type_name] = _reader(registry, first) or _by_registry(
                registry, type_name
            )
            out.append(first)
            continue
        out.append(read(payload))
    return out


def _by_registry(registry: EventRegistry, type_name: str) -> Callable[[bytes], Any]:
    return lambda payload: registry.decode(type_name, payload)


def _reader(registry: EventRegistry, sample: Any) -> Callable[[bytes], Any] | None:
    binding = registry.binding(sample)
    cls, parse = binding.domain_type, binding.message_type.FromString
    if any(f.kw_only for f in fields(cls)):
        return None
    hints = typing.get_type_hints(cls)
    names = [f.name for f in fields(cls)]
    if any(hints[n] not in _READ_PLAIN and hints[n] not in _MOMENTS for n in names):
        return None
    moments = [n for n in names if hints[n] in _MOMENTS]
    optional = {n for n in moments if hints[n] != datetime}
    if not moments:
        getter = operator.attrgetter(*names)
        if len(names) == 1:
            return lambda data: cls(getter(parse(data)))
        return lambda data: cls(*getter(parse(data)))
    moments_at = {n: k for k, n in enumerate(names)}
    getters = [operator.attrgetter(n) for n in names]
    seen: dict[tuple[int, int], datetime] = {}

    def read(data: bytes) -> Any:
        message = parse(data)
        values = [get(message) for get in getters]
        for name in moments:
            k = moments_at[name]
            if name in optional and not message.HasField(name):
                values[k] = None
                continue
            stamp = values[k]
            key = (stamp.seconds, stamp.nanos)
            moment = seen.get(key)
            if moment is None:
                moment = seen[key] = stamp.ToDatetime(tzinfo=UTC)
            values[k] = moment
        return cls(*values)

    return read


_READ_PLAIN = frozenset({str, int, bool, bytes, float})
_MOMENTS = (datetime, datetime | None)


# PostgreSQL's COPY text format: backslash, newline, carriage return and tab escaped.
_ESCAPES = str.maketrans({"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"})
_TO_ESCAPE = re.compile(r"[\\\n\r\t]")
_NULL = "\\N"


def escaped(value: str) -> str:
    """A text value as COPY's text format carries it (translate only when it must: a
    translation through a dict costs far more than the search)."""
    return value.translate(_ESCAPES) if _TO_ESCAPE.search(value) else value


def copy_text(rows: Sequence[Sequence[Any]], json_at: Sequence[int] = ()) -> str | None:
    """The rows in COPY's text format (columns at `json_at` dumped as JSON), or None when a
    value is of a type this does not format (the caller then writes row by row)."""
    formats = dict(_FORMATS)
    moments: dict[datetime, str] = {}
    # A batch's rows share a few moments (a count's counted_at): each formatted once.
    formats[datetime] = lambda v: moments.get(v) or moments.setdefault(v, v.isoformat())
    as_json = set(json_at)
    try:
        if not as_json:
            lines = ["\t".join([formats[type(v)](v) for v in row]) for row in rows]
        else:
            lines = [
                "\t".join(
                    [
                        _json_text(v) if k in as_json else formats[type(v)](v)
                        for k, v in enumerate(row)
                    ]
                )
                for row in rows
            ]
    except KeyError:
        return None
    lines.append("")
    return "\n".join(lines)


def _json_text(value: Any) -> str:
    if not value and type(value) in _EMPTY:  # most positions hold no reservation: []
        return _EMPTY[type(value)]
    return escaped(json.dumps(value))


_EMPTY: dict[type[Any], str] = {list: "[]", dict: "{}", tuple: "[]"}
_FORMATS: dict[type[Any], Callable[[Any], str]] = {
    str: escaped,
    int: str,
    bool: lambda v: "t" if v else "f",
    type(None): lambda v: _NULL,
    bytes: lambda v: "\\\\x" + v.hex(),
    datetime: lambda v: v.isoformat(),
    date: lambda v: v.isoformat(),
    uuid.UUID: str,
}
