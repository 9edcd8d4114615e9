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
import operator
import types
import typing
from collections.abc import Callable
from datetime import UTC, date, datetime
from fractions import Fraction
from typing import Any

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
    stamp.FromDatetime(moment)
    return stamp


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
                target.add().FromDatetime(item)
            else:
                target.append(_scalar_out(item))

    return write


def _message_writer(name: str) -> _Writer:
    return lambda message, value: _fill(getattr(message, name), value)


def _moment_writer(name: str) -> _Writer:
    return lambda message, value: getattr(message, name).FromDatetime(value)


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
