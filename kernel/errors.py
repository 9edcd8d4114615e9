"""Errors a command can end in, named by what the caller did wrong, not by transport."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class FieldViolation:
    field: str
    description: str


class DomainError(Exception):
    """Base of every error a caller can cause; the gRPC layer maps each to a status code."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidArgument(DomainError):
    """Malformed input (INVALID_ARGUMENT), with every offending field."""

    def __init__(self, violations: list[FieldViolation] | FieldViolation) -> None:
        if isinstance(violations, FieldViolation):
            violations = [violations]
        self.violations = list(violations)
        super().__init__("; ".join(f"{v.field}: {v.description}" for v in self.violations))

    @classmethod
    def of(cls, field_name: str, description: str) -> InvalidArgument:
        return cls([FieldViolation(field_name, description)])


class NotFound(DomainError):
    """`message`: what the caller can do instead, where "<type> '<name>' not found" would
    not say (a name the caller did not give)."""

    def __init__(self, resource_type: str, resource_name: str, message: str = "") -> None:
        super().__init__(message or f"{resource_type} {resource_name!r} not found")
        self.resource_type = resource_type
        self.resource_name = resource_name


class AlreadyExists(DomainError):
    def __init__(self, resource_type: str, resource_name: str) -> None:
        super().__init__(f"{resource_type} {resource_name!r} already exists")
        self.resource_type = resource_type
        self.resource_name = resource_name


class RuleViolated(DomainError):
    """A business rule refused the command (FAILED_PRECONDITION).

    `reason` is a stable UPPER_SNAKE code a client can switch on; `subject` names what the
    rule is about (e.g. "stock/SZ01/P-100") and `metadata` carries the figures behind it.
    """

    def __init__(
        self,
        reason: str,
        message: str,
        subject: str = "",
        metadata: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.subject = subject
        self.metadata = dict(metadata or {})


class ConcurrencyConflict(DomainError):
    """Someone else changed the stream first (ABORTED: safe to retry)."""

    def __init__(self, stream_id: str, expected_version: int, actual_version: int | None = None):
        super().__init__(
            f"stream {stream_id!r} moved on: expected version {expected_version}"
            + ("" if actual_version is None else f", found {actual_version}")
        )
        self.stream_id = stream_id
        self.expected_version = expected_version


class PermissionDenied(DomainError):
    pass


class Unauthenticated(DomainError):
    pass


class Unavailable(DomainError):
    """A dependency (database, broker, another service) cannot be reached right now."""


@dataclass
class Violations:
    """Collects field violations so a request reports all its faults at once."""

    items: list[FieldViolation] = field(default_factory=list)

    def add(self, field_name: str, description: str) -> None:
        self.items.append(FieldViolation(field_name, description))

    def add_unnamed(self, other: Violations, renamed: Mapping[str, str] | None = None) -> None:
        """`other`'s faults of the fields not named yet, each field once (a command's own
        rules after the request's checks). `renamed` reports a fault against the field the
        caller sent, where a checked field was filled from another."""
        named = {v.field for v in self.items}
        for fault in other.items:
            sent = renamed.get(fault.field, fault.field) if renamed else fault.field
            if sent not in named:
                named.add(sent)
                self.add(sent, fault.description)

    def raise_if_any(self) -> None:
        if self.items:
            raise InvalidArgument(self.items)
