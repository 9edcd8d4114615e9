"""kernel/bulk_rows.py: a batch's payloads are the bytes the registry makes event by
event, whatever the batch shares or not; COPY text escapes what PostgreSQL's text format
requires (the round trip through PostgreSQL is in tests/integration/test_kernel_bulk_append.py)."""

from __future__ import annotations

import random
import typing
import uuid
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from storemesh.inventory.events.v1 import events_pb2 as inventory_pb2
from storemesh.workforce.events.v1 import events_pb2 as workforce_pb2

from kernel import bulk_rows
from kernel.bulk_rows import copy_text, decode_all, encode_all
from kernel.events import EventRegistry
from services.inventory.domain.events import EVENT_TYPES as INVENTORY_TYPES
from services.inventory.domain.events import StockAdjusted
from services.workforce.domain import EVENT_TYPES as WORKFORCE_TYPES
from services.workforce.domain.capability import Level
from services.workforce.domain.events import (
    LeaveScheduled,
    SpecialtyAdded,
    TechnicianLevelChanged,
)

INVENTORY = EventRegistry("inventory", INVENTORY_TYPES, inventory_pb2)
WORKFORCE = EventRegistry("workforce", WORKFORCE_TYPES, workforce_pb2)
NOW = datetime(2026, 11, 2, 22, 0, 0, 123456, tzinfo=UTC)


def random_value(rng: random.Random, hint: Any) -> Any:
    if hint is bool:
        return rng.random() < 0.5
    if hint is int:
        return rng.choice([0, 1, 7, -3, 2**30])
    if hint is datetime:
        return rng.choice([NOW, NOW + timedelta(seconds=1), NOW - timedelta(days=400)])
    if hint == datetime | None:
        return rng.choice([None, random_value(rng, datetime)])
    if hint is date:
        return rng.choice([date(2026, 11, 2), date(2025, 1, 31)])
    assert hint is str, hint
    return rng.choice(["", "SZ01", "P-1", "名字", "tab\there"])


def random_events(rng: random.Random, size: int, shared: float) -> list[Any]:
    """Events of a few inventory types; each field shared by the batch with probability
    `shared`, else drawn per event."""
    types = rng.sample(INVENTORY_TYPES, rng.randint(1, 4))
    hints = {t: typing.get_type_hints(t) for t in types}
    common = {(t, name): random_value(rng, hint) for t in types for name, hint in hints[t].items()}
    picked_shared = {key: rng.random() < shared for key in common}
    out = []
    for _ in range(size):
        t = rng.choice(types)
        values = {
            name: common[(t, name)] if picked_shared[(t, name)] else random_value(rng, hint)
            for name, hint in hints[t].items()
        }
        out.append(t(**values))
    return out


@pytest.mark.parametrize("seed", range(30))
def test_payloads_are_the_bytes_the_registry_encodes(seed: int) -> None:
    rng = random.Random(seed)
    events = random_events(rng, rng.choice([1, 2, 5, 50]), rng.choice([0.0, 0.5, 0.9, 1.0]))

    assert encode_all(INVENTORY, events) == [INVENTORY.encode(e) for e in events]


def test_an_unset_field_is_encoded_as_the_codec_leaves_it() -> None:
    unset: Any = None  # the codec leaves a None field unset
    events = [
        SpecialtyAdded(store_id="SZ01", technician_id="T-1", occurred_at=NOW, specialty="ev"),
        SpecialtyAdded(store_id="SZ01", technician_id="T-2", occurred_at=NOW, specialty="ac"),
        SpecialtyAdded(store_id="SZ01", technician_id=unset, occurred_at=unset, specialty="ac"),
    ]
    all_unset = [replace(e, technician_id=unset) for e in events]

    for batch in (events, all_unset):
        assert encode_all(WORKFORCE, batch) == [WORKFORCE.encode(e) for e in batch]


def test_enums_and_repeated_fields_go_through_the_registry() -> None:
    events = [
        TechnicianLevelChanged(
            store_id="SZ01",
            technician_id=f"T-{k}",
            occurred_at=NOW,
            level=Level(2),
            previous_level=Level(1),
        )
        for k in range(3)
    ] + [
        LeaveScheduled(
            store_id="SZ01",
            technician_id=f"T-{k}",
            occurred_at=NOW,
            leave_id=f"L-{k}",
            starts_at=NOW,
            ends_at=NOW + timedelta(days=k + 1),
            conflicting_support_ids=("S-1", f"S-{k}"),
        )
        for k in range(3)
    ]

    assert encode_all(WORKFORCE, events) == [WORKFORCE.encode(e) for e in events]


def test_copy_text_escapes_what_the_text_format_requires() -> None:
    event_id = uuid.UUID(int=7)
    rows = [
        ("a\tb", "back\\slash", "new\nline\r", 12, True, None),
        (b"\x00\xff", NOW, date(2026, 1, 2), event_id, False, {"k": "v\t\\"}),
    ]

    text = copy_text(rows, json_at=(5,))

    assert text == (
        "a\\tb\tback\\\\slash\tnew\\nline\\r\t12\tt\tnull\n"
        f"\\\\x00ff\t{NOW.isoformat()}\t2026-01-02\t{event_id}\tf\t"
        '{"k": "v\\\\t\\\\\\\\"}\n'
    )


def test_copy_text_leaves_a_type_it_does_not_know_to_psycopg() -> None:
    assert copy_text([(1, 2.5)]) is None


@pytest.mark.parametrize("seed", range(30))
def test_events_decode_as_the_registry_decodes_them(seed: int) -> None:
    rng = random.Random(seed)
    events = random_events(rng, rng.choice([1, 2, 5, 50]), rng.choice([0.0, 0.5, 1.0]))
    rows = [INVENTORY.encode(e) for e in events]

    decoded = decode_all(INVENTORY, rows)

    assert decoded == [INVENTORY.decode(t, p) for t, p in rows] == events


def test_an_optional_moment_is_read_without_the_registry_as_the_registry_reads_it() -> None:
    # A store's count loads thousands of positions whose last event is a StockAdjusted,
    # with and without the DMS's last_moved_at: they must keep the field-by-field reader.
    events = [
        StockAdjusted("SZ01", "P-1", 0, 6, 6, "joining", NOW, NOW - timedelta(days=400)),
        StockAdjusted("SZ01", "P-2", 0, 3, 3, "joining", NOW),
        StockAdjusted("SZ01", "P-3", 1, 3, 2, "joining", NOW, NOW - timedelta(days=400)),
    ]
    rows = [INVENTORY.encode(e) for e in events]

    assert bulk_rows._reader(INVENTORY, events[0]) is not None
    assert decode_all(INVENTORY, rows) == [INVENTORY.decode(t, p) for t, p in rows] == events


def test_optional_enum_and_repeated_fields_decode_through_the_registry() -> None:
    events = [
        SpecialtyAdded(store_id="SZ01", technician_id="T-1", occurred_at=NOW, specialty="ev"),
        TechnicianLevelChanged(
            store_id="SZ01", technician_id="T-1", occurred_at=NOW, level=Level(2),
            previous_level=Level(1),
        ),
        LeaveScheduled(
            store_id="SZ01", technician_id="T-2", occurred_at=NOW, leave_id="L-1",
            starts_at=NOW, ends_at=NOW, conflicting_support_ids=("S-1",),
        ),
    ] * 2  # fmt: skip
    rows = [WORKFORCE.encode(e) for e in events]

    assert decode_all(WORKFORCE, rows) == [WORKFORCE.decode(t, p) for t, p in rows] == events


def test_copy_text_writes_empty_json_and_shared_moments_as_json_and_isoformat_do() -> None:
    rows = [([], NOW), ({}, NOW), ((), None), (None, NOW)]

    assert copy_text(rows, json_at=(0,)) == (
        f"[]\t{NOW.isoformat()}\n{{}}\t{NOW.isoformat()}\n[]\t\\N\nnull\t{NOW.isoformat()}\n"
    )
