"""The transfer workflow's reactions: what one end of a shipment means for the other.

A transfer moves stock between two positions; each event at one end is a command at the
other, run in the same transaction (see Policy in kernel.application).
"""

from __future__ import annotations

from services.inventory.domain.commands import (
    ConfirmDelivery,
    RecordInboundLost,
    RecordInboundTransfer,
)
from services.inventory.domain.events import ShipmentLost, TransferReceived, TransferShipped


def expect_at_destination(e: TransferShipped) -> RecordInboundTransfer:
    """A shipped transfer is in transit towards its destination."""
    return RecordInboundTransfer(
        e.destination_store_id, e.part_number, e.transfer_id, e.store_id, e.quantity, e.occurred_at
    )


def confirm_to_source(e: TransferReceived) -> ConfirmDelivery:
    """A received transfer is delivered, as far as its source is concerned."""
    return ConfirmDelivery(
        e.source_store_id, e.part_number, e.transfer_id, e.quantity, e.occurred_at
    )


def lost_on_the_way(e: ShipmentLost) -> RecordInboundLost:
    """A shipment reported lost will never arrive at its destination."""
    return RecordInboundLost(
        e.destination_store_id, e.part_number, e.transfer_id, e.quantity, e.reason, e.occurred_at
    )
