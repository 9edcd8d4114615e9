"""The subscription in docs/partners.md, run as written against a relay-filled stream on a
nats-server with the generated permissions: the guide's code cannot rot."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

from google.protobuf.message import Message

from kernel.application import Application
from tests.integration.kernel_fixtures import app, db, receive
from tests.integration.nats_access_fixtures import (
    ConfiguredNats,
    PartnerKey,
    gz01_app,
    relay_events,
    secured_nats,
    sz01_courier,
)
from tests.integration.test_partner_access import fill_stream

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "partners.md"


def guide_snippet() -> dict[str, Any]:
    """The one python block after the 'tested by' marker, executed as a module."""
    text = GUIDE.read_text()
    marker = text.index("<!-- tested by tests/integration/test_partner_guide.py")
    match = re.search(r"```python\n(.*?)```", text[marker:], re.S)
    assert match is not None, "docs/partners.md lost its tested python block"
    namespace: dict[str, Any] = {"__name__": "partner_guide"}
    exec(compile(match.group(1), str(GUIDE), "exec"), namespace)
    return namespace


async def _follow_until(
    snippet: dict[str, Any], server: ConfiguredNats, key: PartnerKey, wanted: int
) -> list[tuple[str, Message]]:
    seen: list[tuple[str, Message]] = []
    stop = asyncio.Event()

    async def handle(event_id: str, event: Message) -> None:
        seen.append((event_id, event))
        if len(seen) >= wanted:
            stop.set()

    follow = snippet["follow"](server.url(), key.seed, key.name, "SZ01", handle, stop)
    await asyncio.wait_for(follow, timeout=20)
    return seen


async def test_guide_subscription_receives_and_decodes_its_stores_events_and_resumes(
    app: Application, secured_nats: ConfiguredNats, sz01_courier: PartnerKey
) -> None:
    await fill_stream(app, secured_nats)
    snippet = guide_snippet()

    first = await _follow_until(snippet, secured_nats, sz01_courier, 1)

    (event_id, event), *_ = first
    assert type(event).__name__ == "StockReceived"
    assert (event.store_id, event.part_number, event.quantity) == ("SZ01", "P-1", 3)

    # Later events reach the same durable consumer, which resumes after what was acked.
    await receive(app, "SZ01", "P-1", 2)
    await receive(app, "GZ01", "P-2", 5)
    await relay_events(app, secured_nats, 2)
    again = await _follow_until(snippet, secured_nats, sz01_courier, 1)
    assert [(e.store_id, e.quantity) for _, e in again] == [("SZ01", 2)]
    assert again[0][0] != event_id


def test_guide_decode_skips_a_type_newer_than_the_compiled_protos() -> None:
    decode = guide_snippet()["decode"]
    assert decode("storemesh.inventory.events.v1.SomethingNew", b"") is None
    assert decode("storemesh.workforce.events.v1.TechnicianRegistered", b"") is None
    assert type(decode("storemesh.inventory.events.v1.StockReceived", b"")).__name__ == (
        "StockReceived"
    )
