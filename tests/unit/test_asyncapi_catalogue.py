"""The AsyncAPI catalogue: generated from proto/, valid AsyncAPI 3, true to the services."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from deploy.asyncapi.__main__ import OUTPUT, PROTO_ROOT, render
from deploy.asyncapi.spec import problems
from services.capacity.bootstrap import DEFINITION as CAPACITY
from services.inventory.bootstrap import DEFINITION as INVENTORY
from services.workforce.bootstrap import DEFINITION as WORKFORCE

NEW_CONTEXT_EVENTS = """\
// Domain events of the diversion context (a stand-in for this test).
syntax = "proto3";

package storemesh.diversion.events.v1;

import "google/protobuf/timestamp.proto";

// A store asked another to take its customer.
message DiversionRequested {
  string store_id = 1;
  // The saga asking.
  string diversion_id = 2;
  google.protobuf.Timestamp occurred_at = 3;
}
"""


@pytest.fixture(scope="module")
def rendered() -> dict[str, str]:
    return render()


def _doc(text: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(text)
    return loaded


def test_committed_catalogue_is_what_the_protos_generate(rendered: dict[str, str]) -> None:
    committed = {p.name: p.read_text() for p in OUTPUT.glob("*.yaml")}
    assert committed == rendered, "run `make asyncapi` and commit docs/asyncapi/"


def test_every_document_is_valid_asyncapi_3(rendered: dict[str, str]) -> None:
    assert set(rendered) >= {"inventory.yaml", "workforce.yaml", "capacity.yaml"}
    for name, text in rendered.items():
        assert problems(_doc(text)) == [], name


def test_the_official_schema_rejects_a_broken_document(rendered: dict[str, str]) -> None:
    doc = _doc(rendered["inventory.yaml"])
    doc["operations"]["publishStockReceived"]["action"] = "broadcast"
    del doc["components"]["messages"]["PartsIssued"]
    found = problems(doc)
    assert any(p.startswith("operations/publishStockReceived") for p in found)
    assert "dangling $ref #/components/messages/PartsIssued" in found


@pytest.mark.parametrize("definition", [INVENTORY, WORKFORCE, CAPACITY], ids=lambda d: d.name)
def test_catalogue_lists_exactly_the_events_the_relay_publishes(
    rendered: dict[str, str], definition: Any
) -> None:
    registry = definition.registry
    doc = _doc(rendered[f"{registry.context}.yaml"])
    published = {m["x-ce-type"] for m in doc["components"]["messages"].values()}
    assert published == {b.type_name for b in registry._by_domain.values()}
    assert doc["x-jetstream"]["stream"] == registry.stream_name
    for name, channel in doc["channels"].items():
        full = doc["components"]["messages"][name]["x-ce-type"]
        assert channel["address"] == registry.subject("{store_id}", full)


def test_event_carries_headers_subject_and_proto_comments(rendered: dict[str, str]) -> None:
    doc = _doc(rendered["inventory.yaml"])
    message = doc["components"]["messages"]["StockReceived"]
    assert message["contentType"] == "application/protobuf"
    assert message["summary"] == "Goods were received into a store's stock (goods receipt)."
    headers = doc["components"]["schemas"]["CloudEventHeaders"]
    for header in (
        "ce-specversion",
        "ce-id",
        "ce-source",
        "ce-type",
        "ce-time",
        "ce-subject",
        "ce-storeid",
        "ce-streamversion",
        "content-type",
        "Nats-Msg-Id",
        "traceparent",
    ):
        assert header in headers["required"], header
    assert message["headers"]["allOf"][1]["properties"]["ce-type"]["const"] == (
        "storemesh.inventory.events.v1.StockReceived"
    )
    payload = doc["components"]["schemas"]["storemesh.inventory.events.v1.StockReceived"]
    assert payload["properties"]["onHandAfter"]["x-protobuf-field"] == {
        "name": "on_hand_after",
        "number": 5,
    }
    assert payload["properties"]["quantity"] == {
        "type": "string",
        "format": "int64",
        "x-protobuf-field": {"name": "quantity", "number": 3},
    }
    part = doc["components"]["schemas"]["storemesh.inventory.events.v1.PartRegistered"]
    assert part["properties"]["unitCostFen"]["description"] == "Unit cost in fen (1 CNY = 100 fen)."


def test_a_new_context_and_a_renamed_field_come_from_the_protos(tmp_path: Path) -> None:
    root = tmp_path / "proto"
    shutil.copytree(PROTO_ROOT, root)
    inventory = root / "storemesh/inventory/events/v1/events.proto"
    inventory.write_text(inventory.read_text().replace("Timestamp at =", "Timestamp occurred_at ="))
    diversion = root / "storemesh/diversion/events/v1/events.proto"
    diversion.parent.mkdir(parents=True)
    diversion.write_text(NEW_CONTEXT_EVENTS)

    rendered = render(root)

    doc = _doc(rendered["diversion.yaml"])
    assert problems(doc) == []
    assert doc["channels"]["DiversionRequested"]["address"] == (
        "diversion.v1.{store_id}.DiversionRequested"
    )
    assert doc["x-jetstream"]["stream"] == "DIVERSION"
    schema = doc["components"]["schemas"]["storemesh.diversion.events.v1.DiversionRequested"]
    assert schema["properties"]["diversionId"]["description"] == "The saga asking."
    received = _doc(rendered["inventory.yaml"])["components"]["schemas"][
        "storemesh.inventory.events.v1.StockReceived"
    ]
    assert "occurredAt" in received["properties"]
    assert "at" not in received["properties"]
