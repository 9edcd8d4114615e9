"""NatsConnection.close while the server is away: the client is closed, not left
reconnecting forever in the background (its own close logs at debug, kernel.messaging)."""

from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import urlsplit

from kernel.messaging import NatsConnection
from kernel.testing.servers import Endpoints
from tests.integration.kernel_fixtures import eventually


class Proxy:
    """A TCP relay to NATS that a test can take away (the server, as the client sees it)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.server: asyncio.Server | None = None
        self.writers: list[asyncio.StreamWriter] = []

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._pipe, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(self.host, self.port)
        self.writers += [writer, up_writer]

        async def copy(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(Exception):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(copy(reader, up_writer), copy(up_reader, writer))

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in self.writers:
            writer.close()
        await self.server.wait_closed()


async def test_a_close_while_nats_is_away_closes_the_client(
    endpoints: Endpoints, namespace: str
) -> None:
    upstream = urlsplit(endpoints.nats_url)
    proxy = Proxy(upstream.hostname or "127.0.0.1", upstream.port or 4222)
    port = await proxy.start()
    connection = NatsConnection(f"nats://127.0.0.1:{port}", name="close-test", namespace=namespace)
    nc = await connection.client()
    try:
        await proxy.stop()

        async def reconnecting() -> bool:
            return bool(nc.is_reconnecting)

        await eventually(reconnecting, within=10)
        await connection.close()
        assert nc.is_closed
    finally:
        await nc.close()
