"""Integration fixtures: real PostgreSQL, real NATS, services over real gRPC."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import grpc
import pytest

from kernel.clock import Clock
from kernel.config import Settings
from kernel.messaging import NatsConnection
from kernel.peer_client import bearer
from kernel.service import Service
from kernel.testing.servers import Endpoints, create_database, drop_database, resolve

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def endpoints() -> Iterator[Endpoints]:
    found = resolve()
    yield found
    found.stop()


@pytest.fixture
def pg_url(endpoints: Endpoints) -> Iterator[str]:
    url = create_database(endpoints.postgres_url)
    yield url
    drop_database(url, endpoints.postgres_url)


@pytest.fixture
def namespace() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
async def nats_client(endpoints: Endpoints, namespace: str) -> AsyncIterator[NatsConnection]:
    connection = NatsConnection(endpoints.nats_url, name="test-client", namespace=namespace)
    yield connection
    await delete_streams(connection)
    await connection.close()


async def delete_streams(connection: NatsConnection) -> None:
    """Remove the streams of this test's namespace so runs leave nothing behind."""
    try:
        js = (await connection.client()).jetstream()
        prefix = f"{connection.namespace.upper()}_"
        for info in await js.streams_info():
            if info.config.name and info.config.name.startswith(prefix):
                await js.delete_stream(info.config.name)
    except Exception:
        pass


def settings_for(
    service: str, database_url: str, nats_url: str, namespace: str, **overrides: Any
) -> Settings:
    """A test process's settings: loopback, any free port; `overrides` e.g. service_token."""
    return Settings(
        service=service,
        database_url=database_url,
        nats_url=nats_url,
        nats_namespace=namespace,
        grpc_address="127.0.0.1:0",
        shutdown_grace_seconds=2.0,
        **overrides,
    )


@dataclass
class Running:
    service: Service
    channel: grpc.aio.Channel

    def metadata(self, token: str) -> tuple[tuple[str, str], ...]:
        return bearer(token)


class GrpcClient:
    """A service's stub with a token: `await client.ReceiveStock(store_id=..., ...)`.

    Keyword fields build the request message; a fresh request_id is added where the
    request has one and the test gave none. Subclasses name the stub and the messages.
    """

    stub_type: Any
    messages: Any

    def __init__(self, run: Running, token: str) -> None:
        self.run = run
        self.stub = self.stub_type(run.channel)
        self.token = token

    def as_(self, token: str) -> Any:
        return type(self)(self.run, token)

    def __getattr__(self, method: str) -> Callable[..., Any]:
        call = getattr(self.stub, method)
        request_type = getattr(self.messages, f"{method}Request")

        async def invoke(**fields: Any) -> Any:
            if (
                "request_id" in request_type.DESCRIPTOR.fields_by_name
                and "request_id" not in fields
            ):
                fields["request_id"] = str(uuid.uuid4())
            return await call(request_type(**fields), metadata=self.run.metadata(self.token))

        return invoke


Builder = Callable[..., Awaitable[Service]]


@asynccontextmanager
async def running(
    build: Builder,
    settings: Settings,
    clock: Clock,
    verifier: Any,
    *,
    before_start: Callable[[Service], Awaitable[None]] | None = None,
    **kwargs: Any,
) -> AsyncIterator[Running]:
    """A built service serving on a free loopback port; `before_start` seeds its database
    first (rows the process must find from its first request on)."""
    service = await build(settings, clock=clock, verifier=verifier, **kwargs)
    if before_start is not None:
        await before_start(service)
    port = await service.host.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield Running(service, channel)
    finally:
        await channel.close()
        await service.host.stop(grace=1.0)


@asynccontextmanager
async def running_on(
    database: str,
    build: Builder,
    service: str,
    *,
    tmp_path: Any,
    endpoints: Endpoints,
    namespace: str,
    clock: Clock,
    verifier: Any,
) -> AsyncIterator[Running]:
    """`running` on a fresh database of the kind named ("postgresql": one of its own, dropped
    after; "sqlite": a file under `tmp_path`), its JetStream streams deleted after."""
    if database == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / f'{service}.db'}"
    else:
        url = create_database(endpoints.postgres_url)
    settings = settings_for(service, url, endpoints.nats_url, namespace)
    try:
        async with running(build, settings, clock, verifier, timer_interval=3600) as run:
            yield run
            await delete_streams(run.service.nats)
    finally:
        if database != "sqlite":
            drop_database(url, endpoints.postgres_url)
