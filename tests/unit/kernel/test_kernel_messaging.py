"""What goes on the wire: subjects, CloudEvents headers, and reading them back."""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import nkeys
import pytest
from storemesh.inventory.events.v1 import events_pb2

from kernel.events import EventRegistry
from kernel.eventstore import RecordedEvent
from kernel.messaging import (
    InboundEvent,
    NatsConnection,
    StreamSpec,
    cloudevent_headers,
    covering_subject,
    subject_matches,
)
from services.inventory.domain.events import EVENT_TYPES, StockReceived

REGISTRY = EventRegistry("inventory", EVENT_TYPES, events_pb2)
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-03"


def recorded(**metadata: Any) -> RecordedEvent:
    at = datetime(2026, 11, 2, 16, 0, tzinfo=timezone(timedelta(hours=8)))
    type_name, payload = REGISTRY.encode(StockReceived("SZ01", "P-1", 3, "GR-1", 3, at))
    return RecordedEvent(
        position=7,
        tx_id=1234,
        stream_id="stock/SZ01/P-1",
        stream_version=3,
        event_id=uuid.UUID("6f1c2a4e-8d1b-4c39-9b0e-2f5d3c7a9e11"),
        event_type=type_name,
        store_id="SZ01",
        payload=payload,
        metadata=metadata,
        recorded_at=at,
    )


def test_an_event_is_published_on_its_context_store_and_type() -> None:
    type_name = "storemesh.inventory.events.v1.StockReceived"
    assert REGISTRY.subject("SZ01", type_name) == "inventory.v1.SZ01.StockReceived"
    assert REGISTRY.stream_name == "INVENTORY"
    assert REGISTRY.subjects == ["inventory.v1.>"]


def test_the_registry_round_trips_an_event() -> None:
    event = StockReceived("SZ01", "P-1", 3, "GR-1", 3, datetime(2026, 11, 2, tzinfo=UTC))
    type_name, payload = REGISTRY.encode(event)
    assert REGISTRY.knows(type_name) and not REGISTRY.knows("storemesh.nope.v1.X")
    assert REGISTRY.decode(type_name, payload) == event


def test_cloudevents_headers_in_binary_mode() -> None:
    event = recorded(traceparent=TRACEPARENT, tracestate="v=1", request_id="req-9", actor="u1")
    headers = cloudevent_headers(event, source="/storemesh/inventory")
    assert headers == {
        "ce-specversion": "1.0",
        "ce-id": "6f1c2a4e-8d1b-4c39-9b0e-2f5d3c7a9e11",
        "ce-source": "/storemesh/inventory",
        "ce-type": "storemesh.inventory.events.v1.StockReceived",
        "ce-time": "2026-11-02T16:00:00+08:00",
        "ce-subject": "stock/SZ01/P-1",
        "ce-storeid": "SZ01",
        "ce-streamversion": "3",
        "content-type": "application/protobuf",
        "Nats-Msg-Id": "6f1c2a4e-8d1b-4c39-9b0e-2f5d3c7a9e11",
        "traceparent": TRACEPARENT,
        "tracestate": "v=1",
        "ce-requestid": "req-9",
        "ce-actor": "u1",
    }


def test_no_trace_headers_without_a_trace() -> None:
    headers = cloudevent_headers(recorded(), source="/s")
    assert "traceparent" not in headers and "ce-requestid" not in headers


@dataclass
class _Meta:
    num_delivered: int


@dataclass
class _Msg:
    subject: str
    data: bytes
    headers: dict[str, str] | None = None
    metadata: Any = field(default_factory=lambda: _Meta(3))


def test_an_inbound_message_reads_its_cloudevent() -> None:
    headers = cloudevent_headers(recorded(), source="/storemesh/inventory")
    event = InboundEvent.from_message(_Msg("t1.inventory.v1.SZ01.StockReceived", b"p", headers))
    assert event.event_id == "6f1c2a4e-8d1b-4c39-9b0e-2f5d3c7a9e11"
    assert event.event_type == "storemesh.inventory.events.v1.StockReceived"
    assert (event.source, event.store_id, event.payload) == ("/storemesh/inventory", "SZ01", b"p")
    assert event.delivered == 3


def test_an_inbound_message_without_ce_id_falls_back_to_the_message_id() -> None:
    event = InboundEvent.from_message(_Msg("s", b"", {"Nats-Msg-Id": "m-1"}, metadata=None))
    assert (event.event_id, event.delivered) == ("m-1", 1)
    assert InboundEvent.from_message(_Msg("s", b"", None, metadata=None)).event_id == ""


def test_a_namespace_prefixes_subjects_and_streams() -> None:
    spaced = NatsConnection("nats://127.0.0.1:1", "x", namespace="t42")
    assert spaced.subject("inventory.v1.>") == "t42.inventory.v1.>"
    assert spaced.stream("INVENTORY") == "T42_INVENTORY"
    spaced.declare(StreamSpec("INVENTORY", ["inventory.v1.>"]))
    spaced.declare(StreamSpec("INVENTORY", ["inventory.v1.>"]))
    assert [(s.name, s.subjects) for s in spaced._streams] == [
        ("T42_INVENTORY", ["t42.inventory.v1.>"])
    ]
    plain = NatsConnection("nats://127.0.0.1:1", "x")
    assert (plain.subject("a.b"), plain.stream("S")) == ("a.b", "S")


def test_nats_identity_comes_from_seed_or_creds_files_named_in_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from kernel.config import Settings
    from kernel.messaging import seed_public_key

    public, seed = new_user_nkey()
    (tmp_path / "seed.nk").write_text(seed + "\n")
    monkeypatch.setenv("STOREMESH_NATS_NKEY_SEED_FILE", str(tmp_path / "seed.nk"))
    monkeypatch.setenv("STOREMESH_NATS_CREDS_FILE", "")
    settings = Settings.from_env("inventory", 50051)
    assert settings.nats_nkey_seed_file == str(tmp_path / "seed.nk")
    assert seed_public_key(settings.nats_nkey_seed_file) == public

    keyed = NatsConnection("nats://x:1", "inventory", nkey_seed_file=str(tmp_path / "seed.nk"))
    assert keyed._credentials() == {"nkeys_seed": str(tmp_path / "seed.nk")}
    assert not keyed.key_rotated()
    (tmp_path / "seed.nk").write_text(new_user_nkey()[1])
    assert keyed.key_rotated()
    creds = NatsConnection("nats://x:1", "inventory", creds_file="/run/inventory.creds")
    assert creds._credentials() == {"user_credentials": "/run/inventory.creds"}
    assert NatsConnection("nats://u:p@x:1", "inventory")._credentials() == {}


def new_user_nkey() -> tuple[str, str]:
    seed = nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_USER)
    return nkeys.from_seed(bytearray(seed)).public_key.decode(), bytes(seed).decode()


@pytest.mark.parametrize(
    ("pattern", "subject", "matches"),
    [
        ("capacity.v1.*.StoreClosed", "capacity.v1.SZ01.StoreClosed", True),
        ("capacity.v1.*.StoreClosed", "capacity.v1.SZ01.WalkInArrived", False),
        ("capacity.v1.*.StoreClosed", "capacity.v1.StoreClosed", False),
        ("capacity.v1.>", "capacity.v1.SZ01.StoreClosed", True),
        ("capacity.v1.>", "capacity.v1", False),
        ("capacity.v1", "capacity.v1.SZ01", False),
        ("*", "capacity", True),
    ],
)
def test_subjects_match_as_nats_matches_them(pattern: str, subject: str, matches: bool) -> None:
    assert subject_matches(pattern, subject) is matches


@pytest.mark.parametrize(
    ("subjects", "covering"),
    [
        (
            ["capacity.v1.*.StoreRegistered", "capacity.v1.*.StoreUpdated"],
            "capacity.v1.*.*",
        ),
        (["inventory.v1.*.StockReceived", "capacity.v1.*.StockReceived"], "*.v1.*.StockReceived"),
        (["a.b.c", "a.b.c.d"], "a.b.>"),
        (["a.b.>", "a.c.d"], "a.>"),
        (["a.b", "c.d.e"], ">"),
    ],
)
def test_one_subject_covers_several(subjects: list[str], covering: str) -> None:
    assert covering_subject(subjects) == covering
    for subject in subjects:
        concrete = subject.replace("*", "X").replace(">", "Y.Z")
        assert subject_matches(covering, concrete)
