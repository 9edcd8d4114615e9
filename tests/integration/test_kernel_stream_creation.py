"""Replicas starting at once each ensure the service's stream: whoever loses the race to
create it finds it made, and none of them fails (seen in CI: 'subjects overlap with an
existing stream' from the second of two simultaneous creations)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid

import nats
from nats.js.errors import NotFoundError

from kernel.messaging import StreamSpec, ensure_stream
from kernel.testing.servers import Endpoints


async def test_replicas_creating_the_same_stream_at_once_all_succeed(endpoints: Endpoints) -> None:
    clients = [await nats.connect(endpoints.nats_url) for _ in range(6)]
    names: list[str] = []
    try:
        for _ in range(100):  # bounded: a hundred fresh streams, six creators each
            name = f"T{uuid.uuid4().hex[:10].upper()}_RACE"
            names.append(name)
            spec = StreamSpec(name=name, subjects=[f"{name.lower()}.v1.>"])
            outcomes = await asyncio.gather(
                *(ensure_stream(c.jetstream(), spec) for c in clients), return_exceptions=True
            )
            assert [o for o in outcomes if isinstance(o, BaseException)] == []
            info = await clients[0].jetstream().stream_info(name)
            assert info.config.subjects == spec.subjects
    finally:
        js = clients[0].jetstream()
        for name in names:
            with contextlib.suppress(NotFoundError):
                await js.delete_stream(name)
        for c in clients:
            await c.close()
