"""Capacity as collab reaches it over gRPC: the stores near an overloaded one, with today's
places left (the network day view) and bays in use now (the wait estimate)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import grpc
from storemesh.capacity.v1 import capacity_pb2 as pb
from storemesh.capacity.v1 import capacity_pb2_grpc as pb_grpc

from kernel.errors import NotFound, Unavailable
from services.collab.domain.receivers import MAX_RECEIVERS, Nearby

CAPACITY_API = pb.DESCRIPTOR.services_by_name["CapacityService"]
# How many of the nearest stores are looked at; the bay check is asked of those with a
# place left, up to MAX_RECEIVERS, so one request costs a bounded number of calls.
NEAREST = 20


class CapacityNearby:
    def __init__(
        self,
        channel: grpc.aio.Channel,
        metadata: Callable[[], Sequence[tuple[str, str]]],
        timeout: float = 5.0,
    ) -> None:
        self.stub = pb_grpc.CapacityServiceStub(channel)
        self.metadata = metadata
        self.timeout = timeout

    async def nearby(self, store_id: str) -> Sequence[Nearby]:
        meta = tuple(self.metadata())
        try:
            nearest = await self.stub.ListNearestStores(
                pb.ListNearestStoresRequest(store_id=store_id, limit=NEAREST),
                timeout=self.timeout,
                metadata=meta,
            )
            network = await self.stub.GetNetworkDayView(
                pb.GetNetworkDayViewRequest(), timeout=self.timeout, metadata=meta
            )
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
                    wait = await self.stub.GetWaitEstimate(
                        pb.GetWaitEstimateRequest(store_id=s.store_id),
                        timeout=self.timeout,
                        metadata=meta,
                    )
                    bays, in_use = wait.bays, wait.bays_in_use
                found.append(Nearby(s.store_id, s.distance_km, day.capacity, taken, bays, in_use))
            return found
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                raise NotFound("store", store_id) from exc
            raise Unavailable(f"capacity: {exc.code().name}") from exc
