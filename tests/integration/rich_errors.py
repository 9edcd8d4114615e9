"""Reading the rich gRPC error model (google.rpc.Status details) and counting what changed."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from sqlalchemy import func, select

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
    async with run.service.db.transaction("test.count") as conn:
        return int(await conn.scalar(select(func.count()).select_from(events)) or 0)


async def recorded_types(run: Running) -> list[str]:
    """The short type names of every event the service recorded, in order."""
    async with run.service.db.transaction("test.types") as conn:
        rows = await conn.execute(select(events.c.event_type).order_by(events.c.position))
        return [row.event_type.rsplit(".", 1)[-1] for row in rows]
