"""Capacity as analytics reaches it over gRPC: a store's peer group (GetPeerGroup).

Capacity owns stores and their facets (size, location tier, age, segment), so the group is
asked, never computed here: both services then always agree on who is compared with whom.
"""

from __future__ import annotations

import grpc
from storemesh.capacity.v1 import capacity_pb2 as pb
from storemesh.capacity.v1 import capacity_pb2_grpc as pb_grpc

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
