"""Realistic event rows: a StockReceived encoded the way the inventory service stores it."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from services.inventory.bootstrap import DEFINITION
from services.inventory.domain.events import StockReceived

REGISTRY = DEFINITION.registry


@dataclass(frozen=True)
class SampleEvent:
    event_type: str
    payload: bytes
    store_id: str
    metadata: dict[str, Any]


def traceparent() -> str:
    return f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01"


def stock_received(store_id: str = "SZ01", part_number: str = "P-00001", n: int = 1) -> SampleEvent:
    event = StockReceived(store_id, part_number, 10, f"DN-{n:08d}", 10 * n, datetime.now(UTC))
    event_type, payload = REGISTRY.encode(event)
    metadata = {
        "traceparent": traceparent(),
        "request_id": str(uuid.uuid4()),
        "command": "ReceiveStock",
    }
    return SampleEvent(event_type, payload, store_id, metadata)
