"""The event registry: which protobuf message carries which domain event, and its subject."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from google.protobuf.message import Message

from kernel.codec import from_proto, to_proto


@dataclass(frozen=True)
class EventBinding:
    domain_type: type[Any]
    message_type: type[Message]

    @property
    def type_name(self) -> str:
        return str(self.message_type.DESCRIPTOR.full_name)

    @property
    def short_name(self) -> str:
        return str(self.message_type.DESCRIPTOR.name)


class EventRegistry:
    """Binds domain event dataclasses to proto messages by class name.

    `context` names the bounded context ("inventory"): its events are published on
    `<context>.v1.<store_id>.<EventType>`.
    """

    def __init__(self, context: str, domain_types: tuple[type[Any], ...], proto_module: Any):
        self.context = context
        self._by_domain: dict[type[Any], EventBinding] = {}
        self._by_name: dict[str, EventBinding] = {}
        for domain_type in domain_types:
            message_type = getattr(proto_module, domain_type.__name__)
            binding = EventBinding(domain_type, message_type)
            self._by_domain[domain_type] = binding
            self._by_name[binding.type_name] = binding

    def binding(self, event: Any) -> EventBinding:
        return self._by_domain[type(event)]

    def encode(self, event: Any) -> tuple[str, bytes]:
        binding = self._by_domain[type(event)]
        return binding.type_name, to_proto(event, binding.message_type).SerializeToString()

    def decode(self, type_name: str, payload: bytes) -> Any:
        binding = self._by_name[type_name]
        message = binding.message_type.FromString(payload)
        return from_proto(message, binding.domain_type)

    def knows(self, type_name: str) -> bool:
        return type_name in self._by_name

    def short_name(self, type_name: str) -> str:
        return self._by_name[type_name].short_name

    def subject(self, store_id: str, type_name: str) -> str:
        return f"{self.context}.v1.{store_id}.{self.short_name(type_name)}"

    @property
    def stream_name(self) -> str:
        return self.context.upper()

    @property
    def subjects(self) -> list[str]:
        return [f"{self.context}.v1.>"]
