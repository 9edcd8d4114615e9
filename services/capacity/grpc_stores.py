"""The store directory's RPCs of the capacity service (register, change, close, find,
distance, nearest, peer group), mixed into CapacityServicer (grpc_api.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from storemesh.capacity.v1 import capacity_pb2 as pb

from kernel import access, paging, validation
from kernel.errors import InvalidArgument, Violations
from services.capacity.application import Capacity
from services.capacity.domain.peer_groups import PeerFacet, chosen_facets
from services.capacity.domain.stores import CloseStore, RegisterStore, UpdateStore
from services.capacity.grpc_messages import (
    checked,
    optional_day,
    profile_from,
    reply,
    store_message,
)
from services.capacity.queries import CapacityQueries

MAX_NEAREST = 100
FACETS = {
    pb.PEER_FACET_SIZE: PeerFacet.SIZE,
    pb.PEER_FACET_LOCATION_TIER: PeerFacet.LOCATION_TIER,
    pb.PEER_FACET_AGE: PeerFacet.AGE,
    pb.PEER_FACET_CUSTOMER_SEGMENT: PeerFacet.CUSTOMER_SEGMENT,
}
FACET_NUMBERS = {facet: number for number, facet in FACETS.items()}


class StoreRpcs:
    """Mixed into CapacityServicer, which gives it `capacity`, `queries` and `_now`."""

    capacity: Capacity
    queries: CapacityQueries

    def _now(self) -> datetime:
        raise NotImplementedError

    @access.roles("hq", "service", action="change the store directory")
    async def RegisterStore(self, request: pb.RegisterStoreRequest, context: Any) -> pb.Store:
        return await self._profile_change(RegisterStore, request)

    @access.roles("hq", "service", action="change the store directory")
    async def UpdateStore(self, request: pb.UpdateStoreRequest, context: Any) -> pb.Store:
        return await self._profile_change(UpdateStore, request)

    async def _profile_change(
        self, kind: type[RegisterStore] | type[UpdateStore], request: Any
    ) -> pb.Store:
        v = Violations()
        validation.request_id(v, "request_id", request.request_id)
        validation.store_code(v, "store_id", request.store_id)
        profile = profile_from(v, request)
        v.raise_if_any()
        assert profile is not None
        command = kind(store_id=request.store_id, profile=profile, at=self._now())
        return store_message(await self.capacity.change_store(command, request.request_id))

    @access.roles("hq", "service", action="change the store directory")
    async def CloseStore(self, request: pb.CloseStoreRequest, context: Any) -> pb.Store:
        checked(request)
        command = CloseStore(store_id=request.store_id, reason=request.reason, at=self._now())
        return store_message(await self.capacity.change_store(command, request.request_id))

    @access.anyone_signed_in
    async def GetStore(self, request: pb.GetStoreRequest, context: Any) -> pb.Store:
        checked(request, mutation=False)
        return store_message(await self.queries.store(request.store_id))

    @access.anyone_signed_in
    async def ListStores(
        self, request: pb.ListStoresRequest, context: Any
    ) -> pb.ListStoresResponse:
        v = Violations()
        validation.text(v, "region", request.region, required=False)
        validation.text(v, "city", request.city, required=False)
        v.raise_if_any()
        limit = paging.page_size(request.page_size)
        query = {
            "list": "stores",
            "region": request.region,
            "city": request.city,
            "open_only": request.open_only,
        }
        page, token = await self.queries.stores(
            request.region,
            request.city,
            request.open_only,
            paging.PageQuery.of(query, paging.text),
            request.page_token,
            limit,
        )
        return pb.ListStoresResponse(stores=[store_message(s) for s in page], next_page_token=token)

    @access.anyone_signed_in
    async def GetDistance(
        self, request: pb.GetDistanceRequest, context: Any
    ) -> pb.GetDistanceResponse:
        v = Violations()
        validation.store_code(v, "from_store_id", request.from_store_id)
        validation.store_code(v, "to_store_id", request.to_store_id)
        v.raise_if_any()
        km = await self.queries.distance(request.from_store_id, request.to_store_id)
        return pb.GetDistanceResponse(
            from_store_id=request.from_store_id, to_store_id=request.to_store_id, distance_km=km
        )

    @access.anyone_signed_in
    async def ListNearestStores(
        self, request: pb.ListNearestStoresRequest, context: Any
    ) -> pb.ListNearestStoresResponse:
        checked(request, mutation=False)
        if not 0 <= request.limit <= MAX_NEAREST:
            raise InvalidArgument.of("limit", f"must be from 1 to {MAX_NEAREST} (0 for 5)")
        nearby = await self.queries.nearest(request.store_id, request.limit or 5)
        return pb.ListNearestStoresResponse(
            store_id=request.store_id,
            stores=[
                pb.StoreDistance(
                    store_id=n.distance.store_id, name=n.name, distance_km=n.distance.distance_km
                )
                for n in nearby
            ],
        )

    @access.anyone_signed_in
    async def GetPeerGroup(self, request: pb.GetPeerGroupRequest, context: Any) -> pb.PeerGroup:
        checked(request, mutation=False)
        as_of = optional_day("as_of", request.as_of)
        v = Violations()
        asked = validation.enum_choices(v, "facets", request.facets, FACETS, pb.PeerFacet.Name)
        v.raise_if_any()
        facets = chosen_facets(asked)
        day, group, store_ids = await self.queries.peer_group(request.store_id, as_of, facets)
        message: pb.PeerGroup = reply(group, pb.PeerGroup)
        message.store_id, message.as_of = request.store_id, day.isoformat()
        message.store_ids.extend(store_ids)
        message.facets.extend(FACET_NUMBERS[f] for f in facets)
        return message
