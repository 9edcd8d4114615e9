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

    def __init__(
        self,
        context: str,
        domain_types: tuple[type[Any], ...],
        proto_module: Any,
        *,
        private_fields: dict[type[Any], tuple[str, ...]] | None = None,
    ):
        """`private_fields`: fields of an event type kept in the event store but never
        published (personal data sealed under a customer's key: partner streams carry
        only the customer reference)."""
        self.context = context
        self._by_domain: dict[type[Any], EventBinding] = {}
        self._by_name: dict[str, EventBinding] = {}
        self._private: dict[str, tuple[str, ...]] = {}
        for domain_type in domain_types:
            message_type = getattr(proto_module, domain_type.__name__)
            binding = EventBinding(domain_type, message_type)
            self._by_domain[domain_type] = binding
            self._by_name[binding.type_name] = binding
        for domain_type, names in (private_fields or {}).items():
            binding = self._by_domain[domain_type]
            unknown = set(names) - set(binding.message_type.DESCRIPTOR.fields_by_name)
            if unknown:
                raise ValueError(f"{domain_type.__name__} has no fields {sorted(unknown)}")
            self._private[binding.type_name] = tuple(names)

    def binding(self, event: Any) -> EventBinding:
        return self._by_domain[type(event)]

    def encode(self, event: Any) -> tuple[str, bytes]:
        binding = self._by_domain[type(event)]
        return binding.type_name, to_proto(event, binding.message_type).SerializeToString()

    def decode(self, type_name: str, payload: bytes) -> Any:
        binding = self._by_name[type_name]
        message = binding.message_type.FromString(payload)
        return from_proto(message, binding.domain_type)

    def published_payload(self, type_name: str, payload: bytes) -> bytes:
        """The payload as partners receive it: private fields cleared (None kept apart)."""
        private = self._private.get(type_name)
        if not private:
            return payload
        message = self._by_name[type_name].message_type.FromString(payload)
        for name in private:
            message.ClearField(name)
        return message.SerializeToString()

    def private_fields(self, type_name: str) -> tuple[str, ...]:
        return self._private.get(type_name, ())

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
