"""Capacity as analytics reaches it over gRPC: a store's peer group (GetPeerGroup), and the
daily capacity pressure forecast analytics' scheduler asks capacity to run for each store
(ForecastCapacityPressure: capacity owns the books, so it forecasts and raises the early
warning; analytics only says when).

Capacity owns stores and their facets (size, location tier, age, segment), so the group is
asked, never computed here: both services then always agree on who is compared with whom.
Which facets the group matches is the caller's choice, passed through (none: all four).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import grpc
from storemesh.capacity.v1 import capacity_pb2 as pb
from storemesh.capacity.v1 import capacity_pb2_grpc as pb_grpc

from kernel.errors import DomainError
from kernel.peer_client import PeerClient, not_found
from services.analytics.queries_comparison import PeerFacet

# Analytics' facets as capacity's proto names them (each proto has its own enum).
FACETS = {
    PeerFacet.SIZE: pb.PEER_FACET_SIZE,
    PeerFacet.LOCATION_TIER: pb.PEER_FACET_LOCATION_TIER,
    PeerFacet.AGE: pb.PEER_FACET_AGE,
    PeerFacet.CUSTOMER_SEGMENT: pb.PEER_FACET_CUSTOMER_SEGMENT,
}


class CapacityPeerGroups(PeerClient):
    stub_type = pb_grpc.CapacityServiceStub
    peer = "capacity"

    async def peers(self, store_id: str, as_of: str, facets: Sequence[PeerFacet] = ()) -> list[str]:
        """The open stores of the store's group on `as_of` (YYYY-MM-DD) matching it on
        `facets` (none: all four), itself included."""
        request = pb.GetPeerGroupRequest(
            store_id=store_id, as_of=as_of, facets=[FACETS[f] for f in facets]
        )
        group = await self.call(
            "GetPeerGroup",
            request,
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
