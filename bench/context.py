"""What every section shares: the servers, a signing key, fresh databases and namespaces."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import grpc

from bench.config import Sizes
from kernel.auth import TokenIssuer, TokenVerifier, generate_keys
from kernel.config import Settings, event_loop_from_env
from kernel.gc_tuning import PYTHON_DEFAULT_YOUNG, tune_for_serving
from kernel.messaging import NatsConnection, StreamSpec, ensure_stream
from kernel.service import Service
from kernel.testing.servers import Endpoints, create_database, drop_database

Builder = Callable[..., Awaitable[Service]]  # e.g. services.inventory.bootstrap.build


def libpq(url: str) -> str:
    """The libpq form of a SQLAlchemy PostgreSQL URL, for bare psycopg connections."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


@dataclass
class RunningService:
    service: Service
    channel: grpc.aio.Channel
    port: int
    metadata: tuple[tuple[str, str], ...]


@dataclass
class BenchContext:
    sizes: Sizes
    endpoints: Endpoints
    log_level: str = "warning"
    # Switches for A/B runs (bench.ab_commands); the defaults are production's.
    # gc: "serving" (freeze + young threshold), "freeze" (freeze, Python's thresholds),
    # "off" (no tuning at all).
    gc_mode: str = "serving"
    gc_young_threshold: int = Settings.gc_young_threshold
    pipelined_begin: bool = Settings.db_pipelined_begin
    relay_gather_ms: float = Settings.relay_gather_ms
    _keys: tempfile.TemporaryDirectory[str] | None = None
    issuer: TokenIssuer | None = None
    verifier: TokenVerifier | None = None

    def __post_init__(self) -> None:
        self._keys = tempfile.TemporaryDirectory(prefix="storemesh-bench-keys-")
        private, public = generate_keys(Path(self._keys.name))
        self.issuer = TokenIssuer.from_file(private)
        self.verifier = TokenVerifier.from_file(public)

    def token(self, role: str = "hq", *stores: str) -> str:
        assert self.issuer is not None
        return self.issuer.mint("bench", role, list(stores), ttl=timedelta(hours=2))

    def close(self) -> None:
        if self._keys is not None:
            self._keys.cleanup()
            self._keys = None

    @contextlib.asynccontextmanager
    async def database(self, label: str) -> AsyncIterator[str]:
        """A new PostgreSQL database for one section, dropped afterwards."""
        admin = self.endpoints.postgres_url
        url = await asyncio.to_thread(create_database, admin, f"bench_{label}")
        try:
            yield url
        finally:
            await asyncio.to_thread(drop_database, url, admin)

    @contextlib.asynccontextmanager
    async def namespace(self, label: str) -> AsyncIterator[str]:
        """A NATS namespace of our own; its streams are deleted afterwards."""
        ns = f"bench{label}{uuid.uuid4().hex[:8]}".lower()
        try:
            yield ns
        finally:
            await delete_streams(self.endpoints.nats_url, ns)

    def settings(self, service: str, database_url: str, namespace: str) -> Settings:
        return Settings(
            service=service,
            database_url=database_url,
            nats_url=self.endpoints.nats_url,
            nats_namespace=namespace,
            grpc_address="127.0.0.1:0",
            # The loop the bench itself runs on, which its in-process services share.
            event_loop=event_loop_from_env(),
            shutdown_grace_seconds=2.0,
            log_level=self.log_level,
            # As many connections as the largest client count, like the raw baseline's
            # one connection per client (the production default is 5).
            db_pool_size=16,
            gc_young_threshold=self.gc_young_threshold,
            db_pipelined_begin=self.pipelined_begin,
            relay_gather_ms=self.relay_gather_ms,
        )

    @contextlib.asynccontextmanager
    async def running(
        self, build: Builder, service: str, database_url: str, namespace: str
    ) -> AsyncIterator[RunningService]:
        """A real service built by its composition root, in this process, on a loopback port,
        called with a real (HQ) token; stopped gracefully afterwards."""
        built = await build(self.settings(service, database_url, namespace), verifier=self.verifier)
        channel: grpc.aio.Channel | None = None
        try:
            await upstream_streams(built)
            port = await built.host.start()
            # As `serve_forever` does in a service's own process.
            self.tune_gc(built.host.settings.gc_young_threshold)
            channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
            await asyncio.wait_for(channel.channel_ready(), 10)
            yield RunningService(
                built, channel, port, (("authorization", f"Bearer {self.token('hq')}"),)
            )
        finally:
            if channel is not None:
                await channel.close()
            await built.host.stop(grace=1.0)

    def tune_gc(self, young_threshold: int) -> None:
        """The collector as `gc_mode` says, from Python's defaults (an earlier service of
        this process may have tuned it otherwise)."""
        gc.unfreeze()
        gc.set_threshold(PYTHON_DEFAULT_YOUNG, 10, 10)
        if self.gc_mode == "serving":
            tune_for_serving(young_threshold)
        elif self.gc_mode == "freeze":
            tune_for_serving(0)

    @contextlib.asynccontextmanager
    async def inventory(self, database_url: str, namespace: str) -> AsyncIterator[RunningService]:
        from services.inventory.bootstrap import build

        async with self.running(build, "inventory", database_url, namespace) as running:
            yield running

    @contextlib.asynccontextmanager
    async def capacity(self, database_url: str, namespace: str) -> AsyncIterator[RunningService]:
        from services.capacity.bootstrap import build

        async with self.running(build, "capacity", database_url, namespace) as running:
            yield running

    @contextlib.asynccontextmanager
    async def workforce(self, database_url: str, namespace: str) -> AsyncIterator[RunningService]:
        from services.workforce.bootstrap import build

        async with self.running(build, "workforce", database_url, namespace) as running:
            yield running


async def upstream_streams(service: Service) -> None:
    """Create the streams the service subscribes to (another service's, in production), so
    its consumers bind as they would in a full deployment instead of retrying."""
    wanted: dict[str, list[str]] = {}
    for runner in service.host.subscriptions:
        subjects = wanted.setdefault(runner.sub.stream, [])
        subjects += [s for s in runner.sub.subjects if s not in subjects]
    if not wanted:
        return
    connection = service.nats
    js = await connection.jetstream()
    for stream, subjects in wanted.items():
        await ensure_stream(
            js,
            StreamSpec(
                name=connection.stream(stream),
                subjects=[connection.subject(s) for s in subjects],
            ),
        )


async def delete_streams(nats_url: str, namespace: str) -> None:
    connection = NatsConnection(nats_url, name="bench-cleanup", namespace=namespace)
    try:
        js = (await connection.client()).jetstream()
        prefix = f"{namespace.upper()}_"
        for info in await js.streams_info():
            if info.config.name and info.config.name.startswith(prefix):
                await js.delete_stream(info.config.name)
    finally:
        await connection.close()
