"""The eventsourcing library's side of section 2's peer row: one aggregate, one event."""

from __future__ import annotations

import uuid

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate


class StockPosition(Aggregate):
    """Its one event is its creation, with a receipt."""

    def __init__(self, store_id: str, part_number: str, quantity: int) -> None:
        self.store_id = store_id
        self.part_number = part_number
        self.on_hand = quantity


class PeerInventory(Application[uuid.UUID]):
    def receive(self, store_id: str, part_number: str, quantity: int) -> None:
        self.save(StockPosition(store_id, part_number, quantity))
