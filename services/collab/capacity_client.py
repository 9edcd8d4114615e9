"""Capacity as collab reaches it over gRPC: the stores near an overloaded one, with today's
places left (the network day view) and bays in use now (the wait estimate)."""

from __future__ import annotations

from collections.abc import Sequence

import grpc
from storemesh.capacity.v1 import capacity_pb2 as pb
from storemesh.capacity.v1 import capacity_pb2_grpc as pb_grpc

from kernel.peer_client import PeerClient, not_found
from services.collab.domain.receivers import MAX_RECEIVERS, Nearby

CAPACITY_API = pb.DESCRIPTOR.services_by_name["CapacityService"]
# How many of the nearest stores are looked at; the bay check is asked of those with a
# place left, up to MAX_RECEIVERS, so one request costs a bounded number of calls.
NEAREST = 20


class CapacityNearby(PeerClient):
    stub_type = pb_grpc.CapacityServiceStub
    peer = "capacity"

    async def nearby(self, store_id: str) -> Sequence[Nearby]:
        unknown = {grpc.StatusCode.NOT_FOUND: not_found("store", store_id)}
        nearest = await self.call(
            "ListNearestStores",
            pb.ListNearestStoresRequest(store_id=store_id, limit=NEAREST),
            refusals=unknown,
        )
        network = await self.call("GetNetworkDayView", pb.GetNetworkDayViewRequest())
        days = {d.store_id: d for d in network.stores}
        found: list[Nearby] = []
        asked = 0
        for s in nearest.stores:
            day = days.get(s.store_id)
            if day is None or s.store_id == store_id:
                continue
            taken = day.booked + day.walk_ins + day.live_holds
            bays, in_use = 0, 0
            if taken < day.capacity and asked < MAX_RECEIVERS:
                asked += 1
                wait = await self.call(
                    "GetWaitEstimate", pb.GetWaitEstimateRequest(store_id=s.store_id)
                )
                bays, in_use = wait.bays, wait.bays_in_use
            found.append(Nearby(s.store_id, s.distance_km, day.capacity, taken, bays, in_use))
        return found
