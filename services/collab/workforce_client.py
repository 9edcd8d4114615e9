"""Workforce as collab reaches it over gRPC: who could help with a support need (MatchSupport)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import grpc
from storemesh.workforce.v1 import workforce_pb2 as pb
from storemesh.workforce.v1 import workforce_pb2_grpc as pb_grpc

from kernel.codec import timestamp
from kernel.errors import InvalidArgument, RuleViolated
from kernel.peer_client import PeerClient, not_found
from kernel.saga.dispatcher import classify
from services.collab.application_support import Match

WORKFORCE_API = pb.DESCRIPTOR.services_by_name["WorkforceService"]


def _specialty_refused(exc: grpc.aio.AioRpcError) -> Exception:
    # Workforce owns the specialty codes (and their Chinese names).
    return InvalidArgument.of("specialty", exc.details() or "not accepted")


def _rule(exc: grpc.aio.AioRpcError) -> Exception:
    said = classify(exc.code(), exc.details() or "", exc.trailing_metadata())
    return RuleViolated(said.reason, exc.details() or said.reason)


class WorkforceMatching(PeerClient):
    stub_type = pb_grpc.WorkforceServiceStub
    peer = "workforce"

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
        reply = await self.call(
            "MatchSupport",
            request,
            refusals={
                grpc.StatusCode.INVALID_ARGUMENT: _specialty_refused,
                grpc.StatusCode.NOT_FOUND: not_found("store", store_id),
                grpc.StatusCode.FAILED_PRECONDITION: _rule,
            },
        )
        return [Match(c.technician_id, c.store_id) for c in reply.candidates]
