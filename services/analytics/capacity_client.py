"""Capacity as analytics reaches it over gRPC: a store's peer group (GetPeerGroup), and the
daily capacity pressure forecast analytics' scheduler asks capacity to run for each store
(ForecastCapacityPressure: capacity owns the books, so it forecasts and raises the early
warning; analytics only says when).

Capacity owns stores and their facets (size, location tier, age, segment), so the group is
asked, never computed here: both services then always agree on who is compared with whom.
"""

from __future__ import annotations

from collections.abc import Callable

import grpc
from storemesh.capacity.v1 import capacity_pb2 as pb
from storemesh.capacity.v1 import capacity_pb2_grpc as pb_grpc

from kernel.errors import DomainError
from kernel.peer_client import PeerClient, not_found


class CapacityPeerGroups(PeerClient):
    stub_type = pb_grpc.CapacityServiceStub
    peer = "capacity"

    async def peers(self, store_id: str, as_of: str) -> list[str]:
        """The open stores of the store's group on `as_of` (YYYY-MM-DD), itself included."""
        group = await self.call(
            "GetPeerGroup",
            pb.GetPeerGroupRequest(store_id=store_id, as_of=as_of),
            refusals={grpc.StatusCode.NOT_FOUND: not_found("store", store_id)},
        )
        return list(group.store_ids)

    async def forecast_pressure(self, store_id: str, request_id: str) -> None:
        """Capacity's 7-day pressure forecast of the store, once per `request_id` (capacity
        answers a retry from its command log). A store capacity does not know or has
        closed is a refusal, not capacity being away: the timer is done with it."""
        await self.call(
            "ForecastCapacityPressure",
            pb.ForecastCapacityPressureRequest(request_id=request_id, store_id=store_id),
            refusals={
                grpc.StatusCode.NOT_FOUND: not_found("store", store_id),
                grpc.StatusCode.FAILED_PRECONDITION: _refused(store_id),
            },
        )


def _refused(store_id: str) -> Callable[[grpc.aio.AioRpcError], Exception]:
    return lambda exc: DomainError(f"capacity refused the forecast of {store_id}: {exc.details()}")
