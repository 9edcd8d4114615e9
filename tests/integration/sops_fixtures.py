"""Collab running beside the real workforce (SOP 2) or capacity (SOP 3) service: its own
PostgreSQL database, the shared NATS namespace and ManualClock, the saga's calls going to
the real service over gRPC with a service token."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import replace
from typing import Any

import grpc
import pytest
from sqlalchemy import select

from kernel.clock import ManualClock
from kernel.eventstore import EventStore
from kernel.testing.servers import Endpoints, free_port
from services.collab.application import Collab
from services.collab.bootstrap import DEFINITION, collaboration
from services.collab.read_model import contributions
from tests.integration.collab_fixtures import Collaboration, CollabRun
from tests.integration.conftest import Running, settings_for
from tests.integration.kernel_fixtures import eventually

Starter = Callable[..., AbstractAsyncContextManager[CollabRun]]


def _nowhere() -> grpc.aio.Channel:
    """A service this test does not run: the saga never calls it."""
    return grpc.aio.insecure_channel(f"127.0.0.1:{free_port()}")


def _starter(
    db_url: str,
    endpoints: Endpoints,
    namespace: str,
    clock: ManualClock,
    verifier: Any,
    mint: Callable[..., str],
    **channels: grpc.aio.Channel,
) -> Starter:
    @asynccontextmanager
    async def start(saga_channel: grpc.aio.Channel | None = None) -> AsyncIterator[CollabRun]:
        """`saga_channel`: where the sagas' calls go (cut, to stage a crash between steps)."""
        settings = replace(
            settings_for("collab", db_url, endpoints.nats_url, namespace),
            service_token=mint("service", subject="collab"),
        )
        made: list[Collab] = []

        def application(app: Any, settings: Any) -> Collab:
            made.append(
                collaboration(
                    app,
                    settings,
                    inventory=channels.get("inventory") or _nowhere(),
                    workforce=channels.get("workforce") or _nowhere(),
                    capacity=channels.get("capacity") or _nowhere(),
                    saga_channel=saga_channel,
                )
            )
            return made[0]

        service = await replace(DEFINITION, application=application).build(
            settings, clock=clock, verifier=verifier, timer_interval=3600
        )
        parts = Collaboration(service, made[0])
        port = await service.host.start()
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
        try:
            yield CollabRun(Running(service, channel), parts)
        finally:
            await channel.close()
            await service.host.stop(grace=1.0)

    return start


@pytest.fixture
def collab_with_workforce(
    collab_db_url: str,
    endpoints: Endpoints,
    namespace: str,
    clock: ManualClock,
    verifier: Any,
    workforce_service: Running,
    mint: Callable[..., str],
) -> Starter:
    return _starter(
        collab_db_url,
        endpoints,
        namespace,
        clock,
        verifier,
        mint,
        workforce=workforce_service.channel,
    )


@pytest.fixture
def collab_with_capacity(
    collab_db_url: str,
    endpoints: Endpoints,
    namespace: str,
    clock: ManualClock,
    verifier: Any,
    capacity_service: Running,
    mint: Callable[..., str],
) -> Starter:
    return _starter(
        collab_db_url,
        endpoints,
        namespace,
        clock,
        verifier,
        mint,
        capacity=capacity_service.channel,
    )


async def reached(probe: Callable[[], Any], stage: int) -> Any:
    """The resource once at `stage`: the dispatcher's calls land in the background."""

    async def at() -> Any:
        found = await probe()
        return found if found.stage == stage else None

    return await eventually(at)


async def saga_types(run: CollabRun, runtime: Any, saga_id: str) -> list[str]:
    async with run.parts.service.db.transaction() as conn:
        recorded = await EventStore().read_stream(conn, runtime.stream_id(saga_id))
    return [r.event_type.rsplit(".", 1)[-1] for r in recorded]


async def points(run: CollabRun) -> list[tuple[str, str, int]]:
    async with run.parts.service.db.transaction() as conn:
        rows = await conn.execute(
            select(contributions.c.store_id, contributions.c.act, contributions.c.points)
        )
        return [tuple(r) for r in rows]  # type: ignore[misc]


@pytest.fixture
def collab_with_both(
    collab_db_url: str,
    endpoints: Endpoints,
    namespace: str,
    clock: ManualClock,
    verifier: Any,
    workforce_service: Running,
    capacity_service: Running,
    mint: Callable[..., str],
) -> Starter:
    return _starter(
        collab_db_url,
        endpoints,
        namespace,
        clock,
        verifier,
        mint,
        workforce=workforce_service.channel,
        capacity=capacity_service.channel,
    )
