"""Workforce as collab reaches it over gRPC: who could help with a support need (MatchSupport)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

import grpc
from storemesh.workforce.v1 import workforce_pb2 as pb
from storemesh.workforce.v1 import workforce_pb2_grpc as pb_grpc

from kernel.codec import timestamp
from kernel.errors import InvalidArgument, NotFound, RuleViolated, Unavailable
from kernel.saga.dispatcher import classify
from services.collab.application_support import Match

WORKFORCE_API = pb.DESCRIPTOR.services_by_name["WorkforceService"]


class WorkforceMatching:
    def __init__(
        self,
        channel: grpc.aio.Channel,
        metadata: Callable[[], Sequence[tuple[str, str]]],
        timeout: float = 5.0,
    ) -> None:
        self.stub = pb_grpc.WorkforceServiceStub(channel)
        self.metadata = metadata
        self.timeout = timeout

    async def match(
        self,
        store_id: str,
        specialty: str,
        minimum_level: str,
        starts_at: datetime,
        ends_at: datetime,
        limit: int,
    ) -> Sequence[Match]:
        request = pb.MatchSupportRequest(
            requesting_store_id=store_id,
            specialty=specialty,
            minimum_level=pb.Level.Value(f"LEVEL_{minimum_level}"),
            starts_at=timestamp(starts_at),
            ends_at=timestamp(ends_at),
            page_size=limit,
        )
        try:
            reply = await self.stub.MatchSupport(
                request, timeout=self.timeout, metadata=tuple(self.metadata())
            )
        except grpc.aio.AioRpcError as exc:
            code = exc.code()
            if code == grpc.StatusCode.INVALID_ARGUMENT:
                # Workforce owns the specialty codes (and their Chinese names).
                raise InvalidArgument.of("specialty", exc.details() or "not accepted") from exc
            if code == grpc.StatusCode.NOT_FOUND:
                raise NotFound("store", store_id) from exc
            if code == grpc.StatusCode.FAILED_PRECONDITION:
                said = classify(code, exc.details() or "", exc.trailing_metadata())
                raise RuleViolated(said.reason, exc.details() or said.reason) from exc
            raise Unavailable(f"workforce MatchSupport: {exc.code().name}") from exc
        return [Match(c.technician_id, c.store_id) for c in reply.candidates]
