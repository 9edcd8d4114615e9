"""Builds one context's AsyncAPI 3 document from its compiled events.proto and the kernel."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from google.protobuf import descriptor_pool, message_factory

from deploy.asyncapi.descriptors import ProtoFile, SchemaBuilder
from kernel.events import EventRegistry
from kernel.eventstore import RecordedEvent
from kernel.messaging import DEDUP_WINDOW_SECONDS, StreamSpec, cloudevent_headers
from kernel.subscriptions import DEAD_LETTER_STREAM
from services.inventory.domain.events import NETWORK

ASYNCAPI_VERSION = "3.0.0"
STORE_PARAMETER = "store_id"

# Every header the kernel sends must be described here: build() fails on one it does not
# know, so a header added to kernel/messaging.py cannot slip past the catalogue.
HEADER_DESCRIPTIONS: dict[str, str] = {
    "ce-specversion": "CloudEvents spec version (binary mode of the NATS binding).",
    "ce-id": "The event id (UUID), unique per event; equal to Nats-Msg-Id.",
    "ce-source": "The publishing context, `/storemesh/<context>`.",
    "ce-type": "Full protobuf message name of the payload: pick the decoder by it.",
    "ce-time": "When the event was recorded (RFC 3339, UTC).",
    "ce-subject": "The aggregate stream the event belongs to (e.g. `stock/SZ01/P-1`).",
    "ce-storeid": (
        f"Extension: the store the event belongs to (`{NETWORK}` for catalogue events), "
        "the same as the subject's store token."
    ),
    "ce-streamversion": (
        "Extension: the event's version within its aggregate stream (1, 2, ...); events of "
        "one aggregate arrive in this order."
    ),
    "content-type": "Always `application/protobuf`: the payload is the binary message.",
    "Nats-Msg-Id": "The event id again: JetStream drops a republished duplicate by it.",
    "traceparent": "W3C trace context of the publish span (flags may be `03`).",
    "tracestate": "W3C trace state, when the command that caused the event carried one.",
    "ce-requestid": "Extension: the request id of the command that caused the event.",
    "ce-actor": "Extension: who issued the command (token subject), when known.",
}


def header_schema() -> tuple[dict[str, Any], list[str]]:
    """The headers the kernel's relay really sends, asked of the kernel itself."""
    bare = RecordedEvent(
        position=1,
        tx_id=1,
        stream_id="stock/SZ01/P-1",
        stream_version=1,
        event_id=uuid.UUID(int=1),
        event_type="storemesh.example.v1.Example",
        store_id="SZ01",
        payload=b"",
        metadata={},
        recorded_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    full_metadata = {
        "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        "tracestate": "vendor=1",
        "request_id": "r-1",
        "actor": "dms-SZ01",
    }
    always = cloudevent_headers(bare, source="/storemesh/example")
    # The relay sets traceparent on every message (its producer span), whatever the metadata.
    required = [*always, "traceparent"]
    sent = cloudevent_headers(replace(bare, metadata=full_metadata), source="/x")
    unknown = sorted(set(sent) - set(HEADER_DESCRIPTIONS))
    if unknown:
        raise ValueError(f"describe these headers in HEADER_DESCRIPTIONS: {unknown}")
    properties = {
        name: {"type": "string", "description": HEADER_DESCRIPTIONS[name]} for name in sent
    }
    properties["ce-specversion"]["const"] = always["ce-specversion"]
    properties["content-type"]["const"] = always["content-type"]
    properties["ce-time"]["format"] = "date-time"
    properties["ce-id"]["format"] = "uuid"
    properties["Nats-Msg-Id"]["format"] = "uuid"
    schema = {
        "type": "object",
        "description": "CloudEvents NATS binding (binary mode) plus JetStream and W3C headers.",
        "required": required,
        "properties": properties,
    }
    return schema, required


def _registry(file: ProtoFile, known: list[ProtoFile], event_names: list[str]) -> EventRegistry:
    """The kernel's own registry over the compiled messages: subjects as the relay forms them.

    Message classes come from a pool of the compiled descriptors, not from gen/, so a
    context whose proto was just added needs no code generated first.
    """
    pool = descriptor_pool.DescriptorPool()
    for compiled in known:
        pool.Add(compiled.proto)
    package = file.proto.package
    module = SimpleNamespace(
        **{
            name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{package}.{name}"))
            for name in event_names
        }
    )
    stand_ins = tuple(type(name, (), {}) for name in event_names)
    return EventRegistry(file.context, stand_ins, module)


def _stream_description(context: str, stream: StreamSpec) -> str:
    dead = DEAD_LETTER_STREAM
    return (
        f"JetStream stream `{stream.name}` holds every subject `{stream.subjects[0]}`: file "
        "storage, limits retention, kept for ever (it is the partners' history), duplicates "
        f"dropped within {int(stream.duplicate_window_seconds // 60)} minutes by "
        "`Nats-Msg-Id`. Read it with a durable pull consumer of your own: create it with "
        f"`filter_subject` `{context}.v1.<store>.>` (or one event type, "
        f"`{context}.v1.<store>.<Type>`), `deliver_policy` all (or by start time), "
        "`ack_policy` explicit, a bounded `max_deliver`, then bind to it and fetch; ack each "
        "message after your effect is durable. Delivery is at least once: deduplicate by "
        "`ce-id`. Events of one aggregate (`ce-subject`) arrive in `ce-streamversion` "
        "order. Partners may read only the stores and events they were granted and may "
        "publish nothing (docs/partners.md); their consumer names are granted by name. "
        f"Messages a StoreMesh service gave up on go to `{dead.name}` "
        f"(`{dead.subjects[0]}`), which partners cannot read. Test runs prefix subjects "
        "with `<namespace>.` and streams with `<NAMESPACE>_`; production has no prefix."
    )


def build(file: ProtoFile, known: list[ProtoFile]) -> dict[str, Any]:
    """The document of one context; `known` are every compiled file its types may use."""
    builder = SchemaBuilder(known)
    context = file.context
    events = file.event_messages()
    registry = _registry(file, known, [message.name for _, message in events])
    stream = StreamSpec(registry.stream_name, registry.subjects)
    headers, _ = header_schema()
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for index, message in events:
        name = message.name
        full_name = file.full_name(message)
        comment = file.comments.get((4, index), "")
        address = registry.subject("{" + STORE_PARAMETER + "}", full_name)
        message_headers = {
            "allOf": [
                {"$ref": "#/components/schemas/CloudEventHeaders"},
                {"properties": {"ce-type": {"type": "string", "const": full_name}}},
            ]
        }
        messages[name] = {
            "name": name,
            "title": name,
            "summary": comment or name,
            "contentType": "application/protobuf",
            "headers": message_headers,
            "payload": builder.reference(full_name),
            "x-protobuf-type": full_name,
            "x-protobuf-file": file.name,
            "x-ce-type": full_name,
        }
        channels[name] = {
            "address": address,
            "title": f"{name} of one store",
            "description": f"{comment} Subject `{address}`.".strip(),
            "messages": {name: {"$ref": f"#/components/messages/{name}"}},
            "parameters": {STORE_PARAMETER: {"$ref": "#/components/parameters/store_id"}},
            "x-jetstream-stream": stream.name,
        }
        operations[f"publish{name}"] = {
            "action": "send",
            "title": f"{context} publishes {name}",
            "channel": {"$ref": f"#/channels/{name}"},
            "messages": [{"$ref": f"#/channels/{name}/messages/{name}"}],
        }
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "id": f"urn:storemesh:{context}:events:v1",
        "info": {
            "title": f"StoreMesh {context} events",
            "version": "v1",
            "description": (
                f"{file.description}\n\n{_stream_description(context, stream)}\n\n"
                f"Generated from proto/{file.name} by `make asyncapi`; do not edit."
            ),
            "tags": [{"name": context}],
        },
        "defaultContentType": "application/protobuf",
        "servers": {
            "production": {
                "host": "nats:4222",
                "protocol": "nats",
                "description": (
                    "The StoreMesh NATS JetStream cluster; partners authenticate with an "
                    "NKey (docs/partners.md) and see only their granted subjects."
                ),
                "security": [{"$ref": "#/components/securitySchemes/nkey"}],
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {
            "messages": messages,
            "schemas": {"CloudEventHeaders": headers, **dict(sorted(builder.schemas.items()))},
            "parameters": {
                "store_id": {
                    "description": (
                        "The store's code (1-32 letters, digits, `-`, `_`, starting with a "
                        f"letter or digit), or `{NETWORK}` for events that belong to no store."
                    ),
                    "examples": ["SZ01", NETWORK],
                    "location": "$message.header#/ce-storeid",
                }
            },
            "securitySchemes": {
                "nkey": {
                    "type": "asymmetricEncryption",
                    "description": (
                        "NATS NKey (Ed25519): the client signs the server's nonce with its "
                        "seed; the server knows only the public key."
                    ),
                }
            },
        },
        "x-jetstream": {
            "stream": stream.name,
            "subjects": stream.subjects,
            "storage": "file",
            "retention": "limits",
            "max_age_seconds": stream.max_age_seconds,
            "duplicate_window_seconds": DEDUP_WINDOW_SECONDS,
            "dead_letter_stream": DEAD_LETTER_STREAM.name,
            "dead_letter_subjects": DEAD_LETTER_STREAM.subjects,
            "subject_pattern": f"{context}.v1.{{store_id}}.{{EventType}}",
            "no_store_token": NETWORK,
        },
    }
