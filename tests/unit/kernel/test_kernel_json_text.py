"""`json_text` writes what `json.dumps(to_json(obj))` wrote (the command log, timer
payloads, event metadata and read-model JSON columns went that way), and `set_moment` /
`timestamp` set what `Timestamp.FromDatetime` set.

The property test draws random values of every dataclass the services and the kernel
define (every command's result, every aggregate's state, every timer payload is one of
them), from their type hints, bypassing their constructors' checks."""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import importlib
import json
import pkgutil
import random
import types
import typing
from collections.abc import Callable, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from datetime import UTC, date, datetime, time, timedelta, timezone
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

import kernel
import services
from kernel.codec import column_json, json_text, set_moment, timestamp, to_json


class Tone(enum.Enum):
    LOW = "low"
    PAIR = (1, 2)


class Level(enum.IntEnum):
    ONE = 1


class Side(str, enum.Enum):  # noqa: UP042 (str() of a member is "Side.LEFT", not its value)
    LEFT = "left"


class Label(str):
    def __str__(self) -> str:  # to_json writes the text, not str(): so must json_text
        return "not me"


class Count(int):
    pass


ZONES: tuple[Any, ...] = (
    None,
    UTC,
    timezone(timedelta(hours=8)),
    timezone(timedelta(hours=-3, minutes=-30)),
    timezone(timedelta(hours=5, seconds=17)),  # isoformat keeps the seconds, orjson not
    timezone(timedelta(microseconds=-7)),
    ZoneInfo("Asia/Shanghai"),  # its LMT before 1901 is +08:05:43
    ZoneInfo("Europe/Amsterdam"),
)
TEXTS = ("", "P-1", 'quote " and \\', "\u0000\n\t", "ünïcödé 中文 🚗", "\ud800 lone")


def moment(rng: random.Random) -> datetime:
    """Years 2 to 9998 (FromDatetime and set_moment part only where an offset pushes a
    moment out of years 1 to 9999), microseconds, before and after 1970, any zone."""
    start = datetime(2, 1, 1) + timedelta(
        seconds=rng.randint(0, 315_400_000_000), microseconds=rng.randint(0, 999_999)
    )
    if rng.random() < 0.3:
        start = start.replace(microsecond=0)
    return start.replace(tzinfo=rng.choice(ZONES), fold=rng.randint(0, 1))


def scalar(rng: random.Random) -> Any:
    return rng.choice(
        (
            None,
            True,
            rng.randint(-(2**63), 2**64 - 1),
            2**64 + rng.randint(0, 9),  # beyond orjson: the json module writes it
            -(2**70),
            Count(7),
            rng.uniform(-1e300, 1e300),
            -0.0,
            5e-324,
            rng.choice(TEXTS),
            Label("labelled"),
            Fraction(rng.randint(-(10**6), 10**6), rng.randint(1, 999)),
            moment(rng),
            date.fromordinal(rng.randint(1, 3_000_000)),
            rng.choice(list(Tone)),
            Level.ONE,
            Side.LEFT,
        )
    )


def value_of(tp: Any, rng: random.Random, depth: int = 0) -> Any:
    """A random value of a type hint (any value where the hint says nothing usable)."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        return value_of(rng.choice(args), rng, depth)
    if origin is typing.Literal:
        return rng.choice(args)
    if tp is type(None):
        return None
    if origin is typing.ClassVar or tp is Any or isinstance(tp, typing.TypeVar):
        return scalar(rng)
    many = 0 if depth > 3 else rng.randint(0, 3)
    if origin is tuple:
        if args and args[-1] is Ellipsis:
            return tuple(value_of(args[0], rng, depth + 1) for _ in range(many))
        return tuple(value_of(a, rng, depth + 1) for a in args if a != ())
    if origin in (list, Sequence):
        return [value_of(args[0] if args else Any, rng, depth + 1) for _ in range(many)]
    if origin in (frozenset, set, AbstractSet):
        items = [value_of(args[0] if args else Any, rng, depth + 1) for _ in range(many)]
        try:
            return frozenset(items)
        except TypeError:  # unhashable items: none
            return frozenset()
    if origin in (dict, Mapping):
        key_tp, value_tp = args or (Any, Any)
        out = {}
        for _ in range(many):
            with contextlib.suppress(TypeError):  # an unhashable key: none
                out[value_of(key_tp, rng, depth + 1)] = value_of(value_tp, rng, depth + 1)
        return out
    if origin is not None:
        return scalar(rng)
    if tp is str:
        return rng.choice((*TEXTS, Label("x"), "S-" + str(rng.randint(0, 99))))
    if tp is bool:
        return rng.random() < 0.5
    if tp is int:
        return rng.choice((rng.randint(-1000, 10**6), rng.randint(-(2**63), 2**63), 2**65))
    if tp is float:
        return rng.choice((rng.uniform(-1e6, 1e6), 0.1, -0.0, 1e300))
    if tp is Fraction:
        return Fraction(rng.randint(-(10**9), 10**9), rng.randint(1, 10**4))
    if tp is datetime:
        return moment(rng)
    if tp is date:
        return date.fromordinal(rng.randint(1, 3_000_000))
    if tp in (time, timedelta, bytes):  # to_json leaves them to json.dumps to refuse
        return {time: time(1, 2), timedelta: timedelta(1), bytes: b"x"}[tp]
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return rng.choice(list(tp))
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return instance(tp, rng, depth + 1)
    return scalar(rng)


def instance(cls: type[Any], rng: random.Random, depth: int = 0) -> Any:
    """An instance of a dataclass with random field values (its __init__ and
    __post_init__ skipped: a value it would refuse is still a value to_json writes)."""
    hints = typing.get_type_hints(cls)
    obj = object.__new__(cls)
    for f in dataclasses.fields(cls):
        object.__setattr__(obj, f.name, value_of(hints.get(f.name, Any), rng, depth))
    return obj


def every_dataclass() -> list[type[Any]]:
    found: set[type[Any]] = set()
    for package in (services, kernel):
        for module_info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            if module_info.name.endswith("__main__"):
                continue
            module = importlib.import_module(module_info.name)
            for v in vars(module).values():
                if (
                    isinstance(v, type)
                    and dataclasses.is_dataclass(v)
                    and v.__module__.startswith(("services.", "kernel."))
                ):
                    found.add(v)
    return sorted(found, key=lambda c: f"{c.__module__}.{c.__qualname__}")


DATACLASSES = every_dataclass()


def old_text(obj: Any, write: Callable[[Any], str]) -> str | None:
    """The old path's text, `json.dumps(to_json(obj))`; None where it refused obj, after
    checking that `write` refuses it the same way."""
    try:
        return json.dumps(to_json(obj))
    except (TypeError, ValueError) as refused:
        with pytest.raises(type(refused)):
            write(obj)
        return None


def assert_same_json(obj: Any) -> None:
    """json_text(obj) reads back as the old path's text did, or fails as it failed."""
    expected = old_text(obj, json_text)
    if expected is None:
        return
    text = json_text(obj)
    assert isinstance(text, str)
    assert json.loads(text) == json.loads(expected), (obj, text, expected)


def test_every_result_state_and_payload_type_is_drawn() -> None:
    """The classes the services log as command results, hold as aggregate states and arm
    as timer payloads are among those drawn (a sample named here; the walk finds all)."""
    names = {f"{c.__module__}.{c.__qualname__}" for c in DATACLASSES}
    for name in (
        "services.inventory.read_model.tables.PositionView",
        "services.inventory.read_model.tables.PartView",
        "services.inventory.domain.stock.StockPosition",
        "services.inventory.domain.stock.Reservation",
        "services.capacity.domain.book_state.BookState",
        "kernel.saga.definition.SagaState",
        "services.analytics.domain.targets.Targets",
        "services.analytics.domain.warning_board.WarningBoard",
    ):
        assert name in names, name
    assert len(DATACLASSES) > 300


@pytest.mark.parametrize("cls", DATACLASSES, ids=lambda c: f"{c.__module__}.{c.__qualname__}")
def test_json_text_of_every_dataclass_reads_back_as_to_json(cls: type[Any]) -> None:
    rng = random.Random(f"{cls.__module__}.{cls.__qualname__}")
    for _ in range(25):
        assert_same_json(instance(cls, rng))
        # A tuple of them too (a position's reservations): orjson writes it as a dataclass.
        assert_same_json(tuple(instance(cls, rng) for _ in range(rng.randint(0, 3))))


@pytest.mark.parametrize("cls", DATACLASSES, ids=lambda c: f"{c.__module__}.{c.__qualname__}")
def test_column_json_writes_a_dataclass_as_its_to_json_and_plain_json_as_before(
    cls: type[Any],
) -> None:
    """Byte for byte (PostgreSQL's json keeps the text): a dataclass, or a tuple of them,
    as `json.dumps(to_json(...))`; a value already converted as `json.dumps` wrote it."""
    rng = random.Random(f"column {cls.__module__}.{cls.__qualname__}")
    for _ in range(25):
        one = instance(cls, rng)
        for obj in (one, (one, instance(cls, rng)), to_json(one)):
            expected = old_text(obj, column_json)
            if expected is not None:
                assert column_json(obj) == expected


def test_json_text_of_random_bare_values_reads_back_as_to_json() -> None:
    rng = random.Random(7)
    hints: list[Any] = [
        Any,
        tuple[Any, ...],
        list[Any],
        frozenset[int],
        dict[str, Any],
        dict[Any, Any],
        dict[str, tuple[datetime, ...]],
        tuple[Held, ...],
    ]
    for _ in range(3000):
        assert_same_json(value_of(rng.choice(hints), rng))


@dataclasses.dataclass(frozen=True)
class Held:
    at: datetime | None
    count: int
    _private: str = "kept"  # orjson's own dataclass output drops it


@dataclasses.dataclass(frozen=True, slots=True)
class Board:
    by_tone: dict[Tone, int]
    by_side: dict[Side, Fraction]
    by_day: dict[date, int]
    held: tuple[Held, ...]
    seen: frozenset[str]
    anything: Any
    ratio: float
    when: datetime


@dataclasses.dataclass
class Cached:
    n: int

    @property
    def doubled(self) -> int:
        return self.n * 2


@pytest.mark.parametrize(
    "obj",
    [
        Board(
            by_tone={Tone.LOW: 1, Tone.PAIR: 2},  # keys str(k): "Tone.LOW", not "low"
            by_side={Side.LEFT: Fraction(1, 3)},
            by_day={date(2026, 1, 2): 3},
            held=(Held(datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC), 1), Held(None, 2)),
            seen=frozenset({"a", "b"}),
            anything={1: datetime(1969, 7, 20, 20, 17), "n": [Tone.LOW, Level.ONE]},
            ratio=0.1,
            when=datetime(2026, 1, 2, tzinfo=timezone(timedelta(hours=1, seconds=30))),
        ),
        Held(datetime(2026, 1, 1, 12), 2**64),  # naive; an int beyond 64 bits
        Held(datetime(1901, 1, 1, tzinfo=ZoneInfo("Asia/Shanghai")), -(2**63)),
        {"metadata": "plain", "request_id": "r-1", Side.LEFT: 1},  # a str-Enum key
        {Label("k"): Label("v")},  # a str subclass key: str(k) would say "not me"
        [datetime(2020, 1, 1, tzinfo=timezone(timedelta(seconds=59))), Count(3), {1, 2}],
        (Tone.PAIR, Level.ONE, Side.LEFT, Fraction(-7, 3), date(999, 1, 2)),
        {"deep": [[[[[[[[[[1]]]]]]]]]]},
        "\ud800",  # a lone surrogate: orjson refuses it, the json module escapes it
        None,
        Cached(3),
    ],
    ids=lambda o: type(o).__name__,
)
def test_json_text_edge_cases_read_back_as_to_json(obj: Any) -> None:
    assert_same_json(obj)


def test_json_text_guards_what_orjson_writes_differently() -> None:
    held = Held(datetime(2026, 1, 2, tzinfo=timezone(timedelta(hours=5, seconds=17))), 1)
    assert json.loads(json_text(held)) == {
        "at": "2026-01-02T00:00:00+05:00:17",
        "count": 1,
        "_private": "kept",
    }
    assert json.loads(json_text({Tone.LOW: 1})) == {"Tone.LOW": 1}
    assert json.loads(json_text({1: "a", 2.5: "b", None: "c"})) == {
        "1": "a",
        "2.5": "b",
        "None": "c",
    }
    assert json_text(2**64) == str(2**64)
    deep: Any = 1
    for _ in range(300):  # deeper than orjson goes
        deep = [deep]
    assert json.loads(json_text(deep)) == json.loads(json.dumps(deep))


def test_json_text_refuses_what_the_json_module_refuses() -> None:
    unknown: Any = object()
    for refused in (unknown, Held(datetime(2026, 1, 1), unknown), {"t": time(1)}, b"x"):
        with pytest.raises(TypeError):
            json.dumps(to_json(refused))
        with pytest.raises(TypeError):
            json_text(refused)


def test_a_nan_in_a_float_field_goes_the_json_module_s_way() -> None:
    """The one value orjson writes otherwise (null): in a field hinted float it is left to
    the json module, which writes NaN as before (PostgreSQL's json refuses it, as it did)."""
    board = Board({}, {}, {}, (), frozenset(), None, float("nan"), datetime(2026, 1, 1))
    assert '"ratio": NaN' in json_text(board)


def random_moments() -> Iterator[datetime]:
    rng = random.Random(11)
    for _ in range(20_000):
        yield moment(rng)
    yield datetime(1970, 1, 1)
    yield datetime(1969, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)
    yield datetime(9999, 12, 31, 23, 59, 59, 999_999)
    yield datetime(1, 1, 1)


def test_timestamp_and_set_moment_are_from_datetime() -> None:
    for at in random_moments():
        expected = Timestamp()
        expected.FromDatetime(at)
        assert timestamp(at) == expected, at
        set_in_place = Timestamp(seconds=1, nanos=2)
        set_moment(set_in_place, at)
        assert set_in_place == expected, at
    assert timestamp(None) is None


def test_set_moment_refuses_what_from_datetime_refuses() -> None:
    # Year 1 with a positive offset is before 0001-01-01 UTC.
    early = datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=1)))
    with pytest.raises((ValueError, OverflowError)):
        Timestamp().FromDatetime(early)
    with pytest.raises(ValueError):
        timestamp(early)
