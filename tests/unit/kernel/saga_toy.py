"""A toy saga shaped like SOP 1 (reserve at a source -> ask its approval -> ship), its
events as frozen dataclasses, and protobuf messages for them built at import time, so the
kernel's saga tests need no generated code and partners' protos stay untouched."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, timestamp_pb2

from kernel.events import EventRegistry
from kernel.saga import Await, Call, Invoke, Reply, Retry, Saga


@dataclass(frozen=True)
class Transfer:
    transfer_id: str
    store_id: str
    sources: tuple[str, ...]
    part_number: str
    quantity: int
    source: int = 0

    @property
    def source_store_id(self) -> str:
        return self.sources[self.source]

    @property
    def has_next_source(self) -> bool:
        return self.source + 1 < len(self.sources)


@dataclass(frozen=True)
class TransferRequested:
    transfer_id: str
    store_id: str
    # The candidate sources, best first (collab ranks them).
    sources: tuple[str, ...]
    part_number: str
    quantity: int
    at: datetime


class _Step:
    """Events the saga records about the transfer at its source: built from the data."""

    transfer_id: str

    @classmethod
    def of(cls, t: Transfer, reply: Reply) -> Any:
        values: dict[str, Any] = {"transfer_id": t.transfer_id, "store_id": t.source_store_id}
        names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        if "reason" in names:
            values["reason"] = reply.reason
        return cls(**values, at=reply.at)


@dataclass(frozen=True)
class SourceReserved(_Step):
    transfer_id: str
    store_id: str
    at: datetime


@dataclass(frozen=True)
class SourceRefused(_Step):
    transfer_id: str
    store_id: str
    reason: str
    at: datetime


@dataclass(frozen=True)
class SourceUnanswered(_Step):
    transfer_id: str
    store_id: str
    at: datetime


@dataclass(frozen=True)
class ApprovalRequested(_Step):
    transfer_id: str
    store_id: str
    at: datetime


@dataclass(frozen=True)
class TransferApproved:
    transfer_id: str
    store_id: str
    at: datetime


@dataclass(frozen=True)
class TransferRejected:
    transfer_id: str
    store_id: str
    reason: str
    at: datetime


@dataclass(frozen=True)
class ApprovalExpired(_Step):
    transfer_id: str
    store_id: str
    at: datetime


@dataclass(frozen=True)
class TransferShipped(_Step):
    transfer_id: str
    store_id: str
    at: datetime


@dataclass(frozen=True)
class ShipmentRefused(_Step):
    transfer_id: str
    store_id: str
    reason: str
    at: datetime


@dataclass(frozen=True)
class ReservationReleased(_Step):
    transfer_id: str
    store_id: str
    at: datetime


@dataclass(frozen=True)
class NextSourceChosen:
    transfer_id: str
    store_id: str
    at: datetime

    @classmethod
    def of(cls, t: Transfer, reply: Reply) -> NextSourceChosen:
        return cls(t.transfer_id, t.sources[t.source + 1], reply.at)


@dataclass(frozen=True)
class TransferCompleted(_Step):
    transfer_id: str
    store_id: str
    at: datetime


@dataclass(frozen=True)
class TransferCompensated(_Step):
    transfer_id: str
    store_id: str
    reason: str
    at: datetime


@dataclass(frozen=True)
class TransferFailed(_Step):
    transfer_id: str
    store_id: str
    reason: str
    at: datetime


def transfer(data: Transfer | None, event: Any) -> Transfer:
    if isinstance(event, TransferRequested):
        return Transfer(
            event.transfer_id, event.store_id, event.sources, event.part_number, event.quantity
        )
    assert data is not None
    if isinstance(event, NextSourceChosen):
        return dataclasses.replace(data, source=data.source + 1)
    return data


def reserve_at_source(t: Transfer) -> Call:
    return Call(
        "inventory",
        "ReserveStock",
        {
            "store_id": t.source_store_id,
            "part_number": t.part_number,
            "reservation_id": t.transfer_id,
            "quantity": t.quantity,
            "reference": t.transfer_id,
        },
    )


def release_reservation(t: Transfer) -> Call:
    return Call(
        "inventory",
        "ReleaseReservation",
        {
            "store_id": t.source_store_id,
            "part_number": t.part_number,
            "reservation_id": t.transfer_id,
        },
    )


def ship_to_requester(t: Transfer) -> Call:
    return Call(
        "inventory",
        "ShipTransfer",
        {
            "store_id": t.source_store_id,
            "part_number": t.part_number,
            "transfer_id": t.transfer_id,
            "reservation_id": t.transfer_id,
            "destination_store_id": t.store_id,
        },
    )


# SOP 1 as the toy reads it: reserve at the source (5 minutes), ask the source to approve
# within 10 minutes, ship; a refusal or silence releases the reservation and the next
# source is asked, until none is left.
TRANSFER = Saga(
    name="transfer",
    started_by=TransferRequested,
    evolve_data=transfer,
    steps=(
        Invoke(
            "reserve",
            call=reserve_at_source,
            done=SourceReserved,
            refused=SourceRefused,
            undo=release_reservation,
            undone=ReservationReleased,
            deadline=timedelta(minutes=5),
            expired=SourceUnanswered,
        ),
        Await(
            "approval",
            ask=ApprovalRequested,
            done=TransferApproved,
            refused=TransferRejected,
            deadline=timedelta(minutes=10),
            expired=ApprovalExpired,
        ),
        Invoke("ship", call=ship_to_requester, done=TransferShipped, refused=ShipmentRefused),
    ),
    completed=TransferCompleted,
    compensated=TransferCompensated,
    failed=TransferFailed,
    retry=Retry(NextSourceChosen, when=lambda t: t.has_next_source),
)

EVENT_TYPES: tuple[type[Any], ...] = (
    TransferRequested,
    SourceReserved,
    SourceRefused,
    SourceUnanswered,
    ApprovalRequested,
    TransferApproved,
    TransferRejected,
    ApprovalExpired,
    TransferShipped,
    ShipmentRefused,
    ReservationReleased,
    NextSourceChosen,
    TransferCompleted,
    TransferCompensated,
    TransferFailed,
)


def _messages(package: str, types: tuple[type[Any], ...]) -> SimpleNamespace:
    """Protobuf message classes mirroring the dataclasses (str, int, datetime fields)."""
    timestamp_pb2.Timestamp  # noqa: B018  (its file must be in the pool first)
    file = descriptor_pb2.FileDescriptorProto(
        name=f"{package.replace('.', '/')}/events.proto",
        package=package,
        syntax="proto3",
        dependency=["google/protobuf/timestamp.proto"],
    )
    Field = descriptor_pb2.FieldDescriptorProto
    for cls in types:
        message = file.message_type.add(name=cls.__name__)
        for number, f in enumerate(dataclasses.fields(cls), start=1):
            annotation = str(f.type)
            repeated = annotation.startswith("tuple[")
            kind = {"str": Field.TYPE_STRING, "int": Field.TYPE_INT64}.get(
                annotation.removeprefix("tuple[").removesuffix(", ...]")
            )
            label = Field.LABEL_REPEATED if repeated else Field.LABEL_OPTIONAL
            field = message.field.add(name=f.name, number=number, label=label)
            if kind is None:
                field.type = Field.TYPE_MESSAGE
                field.type_name = ".google.protobuf.Timestamp"
            else:
                field.type = kind
    pool = descriptor_pool.Default()
    found = pool.AddSerializedFile(file.SerializeToString())
    return SimpleNamespace(
        **{
            cls.__name__: message_factory.GetMessageClass(found.message_types_by_name[cls.__name__])
            for cls in types
        }
    )


MESSAGES = _messages("storemesh.testing.toysaga.v1", EVENT_TYPES)
REGISTRY = EventRegistry("toysaga", EVENT_TYPES, MESSAGES)
