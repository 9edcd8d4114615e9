"""Collab running beside the real workforce (SOP 2) or capacity (SOP 3) service: its own
PostgreSQL database, the shared NATS namespace and ManualClock, the saga's calls going to
the real service over gRPC with a service token."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import grpc
import pytest
from sqlalchemy import select

from kernel.eventstore import EventStore, command_log
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


class CancellationsCut:
    """Capacity as the sagas reach it, except a CancelAppointment at `store_id`: answered
    `code` instead, without capacity hearing of it, or, when `acts`, once capacity acted on
    it (the answer lost on the way back)."""

    def __init__(
        self,
        channel: grpc.aio.Channel,
        store_id: str,
        code: grpc.StatusCode,
        *,
        acts: bool = False,
    ) -> None:
        self.channel = channel
        self.store_id = store_id
        self.code = code
        self.acts = acts

    def unary_unary(self, method: str, **options: Any) -> Any:
        stub = self.channel.unary_unary(method, **options)
        if not method.endswith("/CancelAppointment"):
            return stub

        async def call(request: Any, **kw: Any) -> Any:
            if request.store_id != self.store_id:
                return await stub(request, **kw)
            if self.acts:
                await stub(request, **kw)
            raise grpc.aio.AioRpcError(
                self.code,
                grpc.aio.Metadata(),
                grpc.aio.Metadata(),
                details=f"the cancellation at {self.store_id} is cut off",
            )

        return call


async def commands_under(run: Running, request_id: str) -> list[str]:
    """The commands `run` (a participant) recorded under `request_id`: what it acted on."""
    async with run.service.db.transaction() as conn:
        rows = await conn.execute(
            select(command_log.c.command_type).where(command_log.c.request_id == request_id)
        )
        return list(rows.scalars())
