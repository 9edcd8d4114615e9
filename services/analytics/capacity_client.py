"""Capacity as analytics reaches it over gRPC: a store's peer group (GetPeerGroup).

Capacity owns stores and their facets (size, location tier, age, segment), so the group is
asked, never computed here: both services then always agree on who is compared with whom.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import grpc
from storemesh.capacity.v1 import capacity_pb2 as pb
from storemesh.capacity.v1 import capacity_pb2_grpc as pb_grpc

from kernel.errors import NotFound, Unavailable


class CapacityPeerGroups:
    def __init__(
        self,
        channel: grpc.aio.Channel,
        metadata: Callable[[], Sequence[tuple[str, str]]],
        timeout: float = 5.0,
    ) -> None:
        self.stub = pb_grpc.CapacityServiceStub(channel)
        self.metadata = metadata
        self.timeout = timeout

    async def peers(self, store_id: str, as_of: str) -> list[str]:
        """The open stores of the store's group on `as_of` (YYYY-MM-DD), itself included."""
        try:
            group = await self.stub.GetPeerGroup(
                pb.GetPeerGroupRequest(store_id=store_id, as_of=as_of),
                timeout=self.timeout,
                metadata=tuple(self.metadata()),
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                raise NotFound("store", store_id) from exc
            raise Unavailable(f"capacity GetPeerGroup: {exc.code().name}") from exc
        return list(group.store_ids)
