"""Collab running beside the real workforce (SOP 2) or capacity (SOP 3) service: its own
PostgreSQL database, the shared NATS namespace and ManualClock, the saga's calls going to
the real service over gRPC with a service token."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import pytest
from sqlalchemy import select

from kernel.eventstore import EventStore
from services.collab.read_model import contributions
from tests.integration.collab_fixtures import CollabRun, collab_starter
from tests.integration.conftest import Running
from tests.integration.kernel_fixtures import eventually

Starter = Callable[..., AbstractAsyncContextManager[CollabRun]]


@pytest.fixture
def collab_with_workforce(request: pytest.FixtureRequest, workforce_service: Running) -> Starter:
    return collab_starter(request, workforce=workforce_service.channel)


@pytest.fixture
def collab_with_capacity(request: pytest.FixtureRequest, capacity_service: Running) -> Starter:
    return collab_starter(request, capacity=capacity_service.channel)


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
    request: pytest.FixtureRequest, workforce_service: Running, capacity_service: Running
) -> Starter:
    return collab_starter(
        request, workforce=workforce_service.channel, capacity=capacity_service.channel
    )
