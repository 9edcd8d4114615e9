"""Maps frozen domain dataclasses to protobuf messages and to JSON, by field name.

The domain stays free of protobuf: an event dataclass and its proto message share field
names, and this codec walks the type hints once per class to convert between them.
A `Fraction` (exact domain arithmetic) travels as a double and comes back as the shortest
decimal that double prints as (88.3, not 88.2999...), so figures a caller sent as decimals
stay those decimals; in JSON it is its exact text ("883/10").
"""

from __future__ import annotations

import dataclasses
import enum
import json
import operator
import types
import typing
from collections.abc import Callable
from datetime import UTC, date, datetime
from fractions import Fraction
from typing import Any

import orjson
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

_HINTS: dict[Any, dict[str, Any]] = {}


def _hints(cls: Any) -> dict[str, Any]:
    hints = _HINTS.get(cls)
    if hints is None:
        hints = _HINTS[cls] = typing.get_type_hints(cls)
    return hints


def _unwrap_optional(tp: Any) -> tuple[Any, bool]:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return tp, False


def timestamp(moment: datetime | None) -> Timestamp | None:
    """A protobuf Timestamp for an optional moment (None stays unset)."""
    if moment is None:
        return None
    stamp = Timestamp()
    set_moment(stamp, moment)
    return stamp


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NAIVE_EPOCH = datetime(1970, 1, 1)
_SECONDS_MIN, _SECONDS_MAX = -62_135_596_800, 253_402_300_799  # 0001-01-01, 9999-12-31


def set_moment(stamp: Timestamp, moment: datetime) -> None:
    """`stamp.FromDatetime(moment)` at a third of its CPU (a reply carrying a position's
    reservations sets one per reservation): a naive moment is UTC; the seconds are the
    whole seconds since the epoch, the nanos the moment's own microseconds, as there."""
    since = moment - (_EPOCH if moment.tzinfo is not None else _NAIVE_EPOCH)
    seconds = since.days * 86_400 + since.seconds
    if not _SECONDS_MIN <= seconds <= _SECONDS_MAX:
        raise ValueError(f"Timestamp is not valid: Seconds {seconds} out of range")
    stamp.seconds = seconds
    stamp.nanos = moment.microsecond * 1_000


def utc(stamp: Timestamp) -> datetime:
    """The aware UTC moment of a protobuf Timestamp (a peer's reply, a consumed event)."""
    return stamp.ToDatetime(tzinfo=UTC)


def optional_moment(message: Message, field_name: str) -> datetime | None:
    """The moment in an optional Timestamp field of `message`; None where it is unset."""
    if not message.HasField(field_name):
        return None
    return utc(getattr(message, field_name))


def to_proto(obj: Any, message_cls: type[Message]) -> Message:
    message = message_cls()
    _fill(message, obj)
    return message


def _fill(message: Message, obj: Any) -> None:
    for name, write in _encode_plan(type(obj)):
        value = getattr(obj, name)
        if value is not None:
            write(message, value)


_Writer = Callable[[Any, Any], None]
_ENCODE_PLANS: dict[type[Any], list[tuple[str, _Writer]]] = {}


def _encode_plan(cls: type[Any]) -> list[tuple[str, _Writer]]:
    """Per class, once: how to write each field (every recorded event is encoded)."""
    plan = _ENCODE_PLANS.get(cls)
    if plan is None:
        plan = []
        for f in dataclasses.fields(cls):
            tp, _ = _unwrap_optional(_hints(cls)[f.name])
            if typing.get_origin(tp) is tuple:
                (item_tp, *_) = typing.get_args(tp)
                plan.append((f.name, _repeated_writer(f.name, item_tp)))
            elif dataclasses.is_dataclass(tp):
                plan.append((f.name, _message_writer(f.name)))
            elif tp is datetime:
                plan.append((f.name, _moment_writer(f.name)))
            elif tp in (str, int, float, bool, bytes):
                plan.append((f.name, _plain_writer(f.name)))
            else:
                plan.append((f.name, _scalar_writer(f.name)))
        _ENCODE_PLANS[cls] = plan
    return plan


def _repeated_writer(name: str, item_tp: Any) -> _Writer:
    def write(message: Any, value: Any) -> None:
        target = getattr(message, name)
        for item in value:
            if dataclasses.is_dataclass(item_tp):
                _fill(target.add(), item)
            elif item_tp is datetime:
                set_moment(target.add(), item)
            else:
                target.append(_scalar_out(item))

    return write


def _message_writer(name: str) -> _Writer:
    return lambda message, value: _fill(getattr(message, name), value)


def _moment_writer(name: str) -> _Writer:
    return lambda message, value: set_moment(getattr(message, name), value)


def _plain_writer(name: str) -> _Writer:
    def write(message: Any, value: Any) -> None:
        # An IntEnum or str-Enum value may still sit in a field hinted int or str.
        setattr(message, name, _scalar_out(value) if isinstance(value, enum.Enum) else value)

    return write


def _scalar_writer(name: str) -> _Writer:
    return lambda message, value: setattr(message, name, _scalar_out(value))


def _scalar_out(value: Any) -> Any:
    if isinstance(value, Fraction):
        return float(value)
    if isinstance(value, enum.IntEnum):
        return int(value)
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, date) and not isinstance(value, datetime):
        return value.isoformat()
    return value


def from_proto(message: Message, cls: type[Any]) -> Any:
    return cls(**{name: read(message) for name, read in _decode_plan(cls, message)})


_PLANS: dict[type[Any], list[tuple[str, Callable[[Any], Any]]]] = {}


def _decode_plan(cls: type[Any], message: Message) -> list[tuple[str, Callable[[Any], Any]]]:
    """Per class, once: how to read each field (aggregates replay many events per load)."""
    plan = _PLANS.get(cls)
    if plan is not None:
        return plan
    plan = []
    for f in dataclasses.fields(cls):
        tp, optional = _unwrap_optional(_hints(cls)[f.name])
        getter = operator.attrgetter(f.name)
        if typing.get_origin(tp) is tuple:
            (item_tp, *_) = typing.get_args(tp)
            plan.append((f.name, _repeated_reader(getter, item_tp)))
        elif optional and _has_presence(message, f.name):
            plan.append((f.name, _optional_reader(f.name, getter, tp)))
        else:
            plan.append((f.name, _scalar_reader(getter, tp)))
    _PLANS[cls] = plan
    return plan


def _repeated_reader(getter: Callable[[Any], Any], item_tp: Any) -> Callable[[Any], Any]:
    return lambda message: tuple(_value_in(item, item_tp) for item in getter(message))


def _optional_reader(name: str, getter: Callable[[Any], Any], tp: Any) -> Callable[[Any], Any]:
    return lambda message: _value_in(getter(message), tp) if message.HasField(name) else None


def _scalar_reader(getter: Callable[[Any], Any], tp: Any) -> Callable[[Any], Any]:
    if tp in (str, int, float, bool, bytes):
        return getter
    return lambda message: _value_in(getter(message), tp)


def _has_presence(message: Message, name: str) -> bool:
    descriptor = message.DESCRIPTOR.fields_by_name[name]
    return bool(descriptor.has_presence)


def _value_in(raw: Any, tp: Any) -> Any:
    if dataclasses.is_dataclass(tp):
        return from_proto(raw, tp)  # type: ignore[arg-type]
    if tp is datetime:
        assert isinstance(raw, Timestamp)
        return raw.ToDatetime(tzinfo=UTC)
    if tp is date:
        return date.fromisoformat(raw) if raw else None
    if tp is Fraction:
        return decimal_fraction(raw)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return tp(raw)
    return raw


def decimal_fraction(value: float) -> Fraction:
    """The shortest decimal a double prints as, exactly: 0.1 is 1/10, not 3602879701896397/2**55."""
    return Fraction(repr(float(value)))


_JSON_SCALARS = frozenset({str, int, float, bool, type(None)})
_FIELD_NAMES: dict[type[Any], tuple[str, ...]] = {}


def to_json(obj: Any) -> Any:
    """A JSON-able structure for a dataclass tree (snapshots, timer payloads, every
    command's logged result: the leaves are checked first, by exact type, and a class's
    field names are looked up once)."""
    cls = type(obj)
    if cls in _JSON_SCALARS:
        return obj
    names = _FIELD_NAMES.get(cls)
    if names is None and dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        names = _FIELD_NAMES[cls] = tuple(f.name for f in dataclasses.fields(obj))
    if names is not None:
        return {name: to_json(getattr(obj, name)) for name in names}
    if isinstance(obj, datetime):
        return obj.isoformat()
    if isinstance(obj, date):
        return obj.isoformat()
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, Fraction):
        return str(obj)
    if isinstance(obj, tuple | list | frozenset | set):
        return [to_json(item) for item in obj]
    if isinstance(obj, dict):
        return {str(k): to_json(v) for k, v in obj.items()}
    return obj


def column_json(value: Any) -> str:
    """What a JSON column bound by SQLAlchemy holds (the engines' `json_serializer`, so
    PostgreSQL's and SQLite's, SQLAlchemy's upserts and executemany alike): the text of
    `json.dumps(value)` where the json module writes the value, so every value a caller
    converted itself reads exactly as before; else `json.dumps(to_json(value))`, so a
    dataclass tree (a position's reservations) may be handed as it is, as to
    `json_text`, and is written as its `to_json` structure would have been."""
    try:
        return json.dumps(value)
    except TypeError:
        return json.dumps(to_json(value))


def json_text(obj: Any) -> str:
    """`json.dumps(to_json(obj))`, as JSON: the same value reads back (`json.loads(text) ==
    to_json(obj)`), written by orjson at a fraction of the CPU (a command's logged result,
    timer payloads, event metadata, read-model JSON columns).

    orjson writes str, int, float, bool, None, list, tuple, dict, Enum, date and UTC or
    naive datetimes itself; a dataclass goes through `_json_default` (orjson's own
    dataclass output skips fields named with an underscore and adds a cached_property),
    which leaves to `to_json` any field whose hint orjson could write differently (a
    datetime with another zone, whose offset orjson truncates to minutes; Any; a dict with
    non-str keys, which `to_json` keys by str(k)). Whatever orjson refuses (an int beyond
    64 bits, a lone surrogate, a dict key not exactly str, nesting deeper than 254) is
    written by the json module, so the result is that of the old path, errors included.
    Not the same: a NaN or infinite float outside a dataclass field hinted float is
    written as null (the json module writes NaN, which PostgreSQL's json refuses); and a
    field is trusted to hold what its hint says (a field hinted str holding a datetime of
    a zone whose offset has seconds would lose them)."""
    try:
        if (
            type(obj) in _JSON_SCALARS
            or _json_fields(type(obj)) is not None
            or (type(obj) is tuple and all(_json_fields(type(x)) is not None for x in obj))
        ):
            # Moments only in dataclass fields, each guarded (a tuple of them: a position's
            # reservations, at a quarter of the CPU of passing every moment through).
            return orjson.dumps(obj, default=_json_default, option=_DATACLASSES).decode()
        # A bare container (metadata, a read-model column's to_json structure): any
        # datetime in it goes through isoformat, as only a dataclass field is guarded.
        return orjson.dumps(obj, default=_json_default, option=_EVERY_MOMENT).decode()
    except orjson.JSONEncodeError:
        return json.dumps(to_json(obj))


_DATACLASSES = orjson.OPT_PASSTHROUGH_DATACLASS
_EVERY_MOMENT = orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME
_JsonField = tuple[str, Callable[[Any], Any] | None]
_JSON_FIELDS: dict[type[Any], tuple[_JsonField, ...] | None] = {}
_JSON_DEFAULTS: dict[type[Any], Callable[[Any], Any]] = {}


def _json_default(obj: Any) -> Any:
    """What orjson writes for a value it does not write itself: a dataclass's fields as a
    dict (each guarded as its hint asks), anything else as `to_json` gives it."""
    convert = _JSON_DEFAULTS.get(type(obj))
    if convert is None:
        convert = _JSON_DEFAULTS[type(obj)] = _json_converter(type(obj))
    return convert(obj)


def _json_converter(cls: type[Any]) -> Callable[[Any], Any]:
    """For a dataclass, a function made for it (as dataclasses makes its __init__): one
    dict display of its fields, each guarded as its hint asks, a UTC or naive moment
    checked inline. A loop over the fields cost more than the rest of json_text."""
    plan = _json_fields(cls)
    if plan is None:
        return _by_to_json
    scope: dict[str, Any] = {"datetime": datetime, "UTC": UTC}
    items = []
    for k, (name, guard) in enumerate(plan):
        scope[f"guard{k}"] = guard
        if guard is None:
            items.append(f"{name!r}: obj.{name}")
        elif guard is _moment_json:
            items.append(
                f"{name!r}: v if (v := obj.{name}) is None or (type(v) is datetime and "
                f"(v.tzinfo is UTC or v.tzinfo is None)) else guard{k}(v)"
            )
        else:
            items.append(f"{name!r}: None if (v := obj.{name}) is None else guard{k}(v)")
    exec(f"def fields_of(obj):\n    return {{{', '.join(items)}}}\n", scope)
    return scope["fields_of"]  # type: ignore[no-any-return]


def _by_to_json(obj: Any) -> Any:
    converted = to_json(obj)
    if converted is obj:  # to_json leaves what it does not know to json.dumps to refuse
        raise TypeError(f"{type(obj).__name__} is not JSON serializable")
    return converted


def _json_fields(cls: type[Any]) -> tuple[_JsonField, ...] | None:
    """A dataclass's fields, each with the guard its hint asks for (None: orjson writes
    it as to_json would); None for a class that is not a dataclass."""
    if cls in _JSON_FIELDS:
        return _JSON_FIELDS[cls]
    plan: tuple[_JsonField, ...] | None = None
    if dataclasses.is_dataclass(cls):
        try:
            hints = _hints(cls)
        except Exception:  # an unresolvable hint: every field goes through to_json
            hints = {}
        plan = tuple((f.name, _json_guard(hints.get(f.name, Any))) for f in dataclasses.fields(cls))
    _JSON_FIELDS[cls] = plan
    return plan


def _json_guard(tp: Any) -> Callable[[Any], Any] | None:
    tp, _ = _unwrap_optional(tp)
    if tp is datetime:
        return _moment_json
    if tp is float:
        return _finite
    if _written_alike(tp):
        return None
    if typing.get_origin(tp) is dict:
        _, value_tp = typing.get_args(tp) or (Any, Any)
        if _written_alike(value_tp):
            return _str_keys
    return to_json


def _written_alike(tp: Any) -> bool:
    """Whether orjson (with `_json_default`) writes a value of this hint as to_json does
    whatever the value (bar a hint the value does not honour)."""
    if tp in (str, int, bool, type(None), Fraction, date) or dataclasses.is_dataclass(tp):
        return True
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return True
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType, tuple, list, frozenset, set):
        return bool(args) and all(a is Ellipsis or _written_alike(a) for a in args)
    if origin is typing.Literal:
        return all(type(a) in (str, int, bool, type(None)) for a in args)
    if origin is dict:
        key_tp, value_tp = args or (Any, Any)
        return key_tp is str and _written_alike(value_tp)
    return False


def _moment_json(value: Any) -> Any:
    """A datetime field's value that is not a UTC or naive datetime (those `_json_converter`
    lets through inline: orjson writes them as isoformat does): as to_json writes it (an
    offset of seconds is isoformat's, orjson would drop them)."""
    return to_json(value)


def _finite(value: Any) -> Any:
    if type(value) is float and value - value != 0:  # NaN or infinite: orjson writes null
        raise TypeError("not finite: written by the json module")
    return value


def _str_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): v for k, v in value.items()}
    return to_json(value)


def from_json(data: Any, tp: Any) -> Any:
    return _decoder(tp)(data)


_DECODERS: dict[Any, Callable[[Any], Any]] = {}


def _decoder(tp: Any) -> Callable[[Any], Any]:
    """A decoder per type, built once: reading a state of hundreds of values per query
    (read models, snapshots) must not walk the type hints value by value."""
    found = _DECODERS.get(tp)
    if found is None:
        decode = _decoder_of(_unwrap_optional(tp)[0])

        def found(data: Any) -> Any:
            return None if data is None else decode(data)

        _DECODERS[tp] = found
    return found


def _decoder_of(tp: Any) -> Callable[[Any], Any]:
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        return _dataclass_decoder(tp)  # type: ignore[arg-type]
    if origin is tuple:
        (item_tp, *_) = typing.get_args(tp)
        return lambda data: tuple(_decoder(item_tp)(item) for item in data)
    if origin is frozenset:
        (item_tp,) = typing.get_args(tp)
        return lambda data: frozenset(_decoder(item_tp)(item) for item in data)
    if origin is dict:
        key_tp, value_tp = typing.get_args(tp)
        return lambda data: {_decoder(key_tp)(k): _decoder(value_tp)(v) for k, v in data.items()}
    if tp is datetime:
        return datetime.fromisoformat
    if tp is date:
        return date.fromisoformat
    if tp is Fraction:
        return Fraction
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return tp
    return _same


def _dataclass_decoder(cls: type) -> Callable[[Any], Any]:
    fields: dict[str, Callable[[Any], Any]] = {}

    def decode(data: Any) -> Any:
        if not fields:  # resolved on first use, so a type may refer to itself
            fields.update({name: _decoder(tp) for name, tp in _hints(cls).items()})
        return cls(**{k: fields[k](v) for k, v in data.items() if k in fields})

    return decode


def _same(data: Any) -> Any:
    return data
