"""Reading the rich gRPC error model (google.rpc.Status details) and counting what changed."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from sqlalchemy import func, select

from kernel.errors import Unavailable
from kernel.eventstore import events
from tests.integration.conftest import Running


def details(err: grpc.aio.AioRpcError) -> list[Any]:
    status = rpc_status.from_call(err)  # type: ignore[arg-type]
    assert status is not None, f"no rich status on {err.code()}: {err.details()}"
    found = []
    for packed in status.details:
        for kind in (
            error_details_pb2.BadRequest,
            error_details_pb2.ErrorInfo,
            error_details_pb2.ResourceInfo,
            error_details_pb2.PreconditionFailure,
        ):
            if packed.Is(kind.DESCRIPTOR):
                message = kind()
                packed.Unpack(message)
                found.append(message)
    return found


def violated_fields(err: grpc.aio.AioRpcError) -> list[str]:
    """The fields of an INVALID_ARGUMENT's BadRequest, sorted."""
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, (err.code(), err.details())
    return sorted(
        v.field
        for d in details(err)
        if isinstance(d, error_details_pb2.BadRequest)
        for v in d.field_violations
    )


def reason(err: grpc.aio.AioRpcError) -> str:
    """The ErrorInfo reason of a refusal."""
    infos = [d for d in details(err) if isinstance(d, error_details_pb2.ErrorInfo)]
    assert infos, f"no ErrorInfo on {err.code()}: {err.details()}"
    return str(infos[0].reason)


def resource(err: grpc.aio.AioRpcError) -> tuple[str, str]:
    """The (type, name) of a NOT_FOUND's ResourceInfo."""
    assert err.code() == grpc.StatusCode.NOT_FOUND, (err.code(), err.details())
    infos = [d for d in details(err) if isinstance(d, error_details_pb2.ResourceInfo)]
    assert infos, err.details()
    return str(infos[0].resource_type), str(infos[0].resource_name)


async def failure(call: Awaitable[Any]) -> grpc.aio.AioRpcError:
    """The error a call ends in; fails the test when it succeeds."""
    try:
        result = await call
    except grpc.aio.AioRpcError as err:
        return err
    raise AssertionError(f"expected the call to fail, it returned {result!r}")


async def event_count(run: Running) -> int:
    """The events the service recorded. On SQLite this takes the write lock: a wait for it
    that runs out (the kernel logs the transactions holding it) fails the test naming
    where each of the process's tasks was waiting in our code."""
    try:
        async with run.service.db.transaction("test.count") as conn:
            return int(await conn.scalar(select(func.count()).select_from(events)) or 0)
    except Unavailable as exc:
        raise AssertionError(f"{exc}; the tasks were at: {awaiting()}") from exc


def awaiting() -> list[str]:
    """Where each asyncio task waits, innermost in kernel/, services/ or tests/ (its await
    chain walked down: a task's stack shows only its outermost coroutine)."""
    found = []
    for task in asyncio.all_tasks():
        ours = None
        step: Any = task.get_coro()
        for _ in range(100):  # an await chain is short; bounded all the same
            if step is None:
                break
            frame = getattr(step, "cr_frame", None) or getattr(step, "ag_frame", None)
            if frame is not None and _ours(frame.f_code.co_filename):
                ours = frame
            step = getattr(step, "cr_await", None) or getattr(step, "ag_await", None)
        if ours is not None:
            where = "/".join(ours.f_code.co_filename.rsplit("/", 2)[-2:])
            found.append(f"{task.get_name()} at {where}:{ours.f_lineno} in {ours.f_code.co_name}")
    return sorted(found)


OUR_CODE = ("kernel", "services", "tests")


def _ours(filename: str) -> bool:
    return any(f"/{top}/" in filename for top in OUR_CODE)


async def recorded_types(run: Running) -> list[str]:
    """The short type names of every event the service recorded, in order."""
    async with run.service.db.transaction("test.types") as conn:
        rows = await conn.execute(select(events.c.event_type).order_by(events.c.position))
        return [row.event_type.rsplit(".", 1)[-1] for row in rows]


async def recorded_events(run: Running, short_type: str) -> list[Any]:
    """Every event of one type (its short name) the service recorded, decoded, in order."""
    async with run.service.db.transaction("test.events") as conn:
        query = (
            select(events.c.event_type, events.c.payload)
            .where(events.c.event_type.like(f"%.{short_type}"))
            .order_by(events.c.position)
        )
        rows = (await conn.execute(query)).all()
    return [run.service.app.registry.decode(r.event_type, r.payload) for r in rows]
