"""The codec maps domain dataclasses to protobuf and JSON and back without losing anything."""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, timestamp_pb2

from kernel.codec import from_json, from_proto, to_json, to_proto

# A proto3 message made for this test, in the default pool (so Timestamp is the real one).
_F = descriptor_pb2.FieldDescriptorProto


def _build_messages() -> tuple[Any, Any]:
    file = descriptor_pb2.FileDescriptorProto(
        name="storemesh_kernel_codec_test.proto",
        package="storemesh.kerneltest",
        syntax="proto3",
        dependency=["google/protobuf/timestamp.proto"],
    )
    line = file.message_type.add(name="Line")
    line.field.add(name="sku", number=1, type=_F.TYPE_STRING, label=_F.LABEL_OPTIONAL)
    line.field.add(name="qty", number=2, type=_F.TYPE_INT32, label=_F.LABEL_OPTIONAL)
    sample = file.message_type.add(name="Sample")
    plain = [
        ("name", 1, _F.TYPE_STRING),
        ("count", 2, _F.TYPE_INT64),
        ("level", 8, _F.TYPE_INT32),
        ("color", 9, _F.TYPE_STRING),
        ("day", 10, _F.TYPE_STRING),
        ("flag", 12, _F.TYPE_BOOL),
        ("ratio", 13, _F.TYPE_DOUBLE),
    ]
    for name, number, kind in plain:
        sample.field.add(name=name, number=number, type=kind, label=_F.LABEL_OPTIONAL)
    ts = ".google.protobuf.Timestamp"
    sample.field.add(name="at", number=3, type=_F.TYPE_MESSAGE, type_name=ts)
    sample.field.add(name="tags", number=5, type=_F.TYPE_STRING, label=_F.LABEL_REPEATED)
    sample.field.add(
        name="lines",
        number=6,
        type=_F.TYPE_MESSAGE,
        type_name=".storemesh.kerneltest.Line",
        label=_F.LABEL_REPEATED,
    )
    sample.field.add(
        name="main", number=7, type=_F.TYPE_MESSAGE, type_name=".storemesh.kerneltest.Line"
    )
    sample.field.add(
        name="moments", number=11, type=_F.TYPE_MESSAGE, type_name=ts, label=_F.LABEL_REPEATED
    )
    for index, (name, number, kind) in enumerate(
        [("note", 4, _F.TYPE_STRING), ("score", 14, _F.TYPE_INT32)]
    ):
        sample.field.add(
            name=name,
            number=number,
            type=kind,
            label=_F.LABEL_OPTIONAL,
            proto3_optional=True,
            oneof_index=index,
        )
        sample.oneof_decl.add(name=f"_{name}")
    pool = descriptor_pool.Default()
    pool.AddSerializedFile(timestamp_pb2.DESCRIPTOR.serialized_pb)
    pool.AddSerializedFile(file.SerializeToString())
    return (
        message_factory.GetMessageClass(pool.FindMessageTypeByName("storemesh.kerneltest.Sample")),
        message_factory.GetMessageClass(pool.FindMessageTypeByName("storemesh.kerneltest.Line")),
    )


SampleMessage, LineMessage = _build_messages()


class Level(enum.IntEnum):
    LOW = 0
    HIGH = 2


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


@dataclass(frozen=True)
class Line:
    sku: str
    qty: int


@dataclass(frozen=True)
class Sample:
    name: str
    count: int
    at: datetime
    note: str | None
    tags: tuple[str, ...]
    lines: tuple[Line, ...]
    main: Line
    level: Level
    color: Color
    day: date | None
    moments: tuple[datetime, ...]
    flag: bool
    ratio: float
    score: int | None


@dataclass(frozen=True)
class State:
    sample: Sample
    seen: frozenset[str]
    counts: dict[str, int]
    last: datetime | None
    history: tuple[Sample, ...] = ()


CHINA = timezone(timedelta(hours=8))


def sample(**changes: Any) -> Sample:
    values: dict[str, Any] = dict(
        name="brake pads",
        count=2**40,
        at=datetime(2026, 11, 2, 16, 30, 15, 123456, tzinfo=CHINA),
        note="urgent",
        tags=("front", "ceramic"),
        lines=(Line("P-1", 2), Line("P-2", 0)),
        main=Line("P-9", 9),
        level=Level.HIGH,
        color=Color.BLUE,
        day=date(2026, 11, 3),
        moments=(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 6, 1, 12, tzinfo=UTC)),
        flag=True,
        ratio=0.25,
        score=0,
    )
    values.update(changes)
    return Sample(**values)


def test_proto_round_trip_keeps_every_field() -> None:
    original = sample()
    wire = to_proto(original, SampleMessage).SerializeToString()
    back = from_proto(SampleMessage.FromString(wire), Sample)
    assert back == original
    assert back.at.utcoffset() == timedelta(0), "timestamps come back in UTC, same instant"
    assert isinstance(back.level, Level) and isinstance(back.color, Color)


def test_proto_round_trip_keeps_absent_optionals_apart_from_zero_values() -> None:
    original = sample(note=None, score=None, day=None, tags=(), lines=())
    message = to_proto(original, SampleMessage)
    assert not message.HasField("note") and not message.HasField("score")
    assert from_proto(SampleMessage.FromString(message.SerializeToString()), Sample) == original

    zero = sample(note="", score=0)
    message = to_proto(zero, SampleMessage)
    assert message.HasField("note") and message.HasField("score")
    assert from_proto(message, Sample) == zero


def test_proto_maps_enums_and_dates_to_their_wire_forms() -> None:
    message = to_proto(sample(), SampleMessage)
    assert message.level == 2
    assert message.color == "blue"
    assert message.day == "2026-11-03"
    assert message.at.ToDatetime(tzinfo=UTC) == datetime(2026, 11, 2, 8, 30, 15, 123456, UTC)
    assert [line.sku for line in message.lines] == ["P-1", "P-2"]


def test_json_round_trip_keeps_nested_state() -> None:
    state = State(
        sample=sample(),
        seen=frozenset({"a", "b"}),
        counts={"x": 1, "y": 2},
        last=None,
        history=(sample(name="old", note=None), sample(day=None)),
    )
    raw = json.loads(json.dumps(to_json(state)))  # really JSON, as stored in a snapshot
    assert from_json(raw, State) == state


def test_json_ignores_fields_a_newer_version_wrote() -> None:
    raw = to_json(Line("P-1", 3))
    raw["added_later"] = "x"
    assert from_json(raw, Line) == Line("P-1", 3)


def test_json_keeps_time_zones() -> None:
    moment = datetime(2026, 11, 2, 23, 59, tzinfo=CHINA)
    back = from_json(to_json(moment), datetime)
    assert back == moment and back.utcoffset() == timedelta(hours=8)


@pytest.mark.parametrize("value", [None, 0, "", [], {}])
def test_json_passes_plain_values_through(value: Any) -> None:
    assert to_json(value) == value


class Shade(enum.StrEnum):
    DARK = "dark"


@dataclass(frozen=True)
class Marked(Line):
    """A subclass: its own fields, not its parent's, however often both are encoded."""

    shade: Shade = Shade.DARK


def test_json_writes_enum_members_of_str_and_int_as_their_values() -> None:
    """Scalars pass through by exact type; a member of a str or int enum is not one."""
    out = to_json({"level": Level.HIGH, "shade": Shade.DARK, "flag": True, "n": 1.5})
    assert out == {"level": Level.HIGH.value, "shade": "dark", "flag": True, "n": 1.5}
    assert type(out["shade"]) is str and type(out["level"]) is int


def test_json_of_a_dataclass_and_its_subclass_each_has_its_own_fields() -> None:
    assert to_json(Line("P-1", 3)) == {"sku": "P-1", "qty": 3}
    assert to_json(Marked("P-1", 3)) == {"sku": "P-1", "qty": 3, "shade": "dark"}
    assert to_json(Line("P-2", 4)) == {"sku": "P-2", "qty": 4}
    assert to_json(Line) is Line  # a class is not a value to encode
