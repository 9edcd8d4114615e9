"""The collab servicer: thin. Each RPC first says who may call it, then parses, acts, replies.

Approving or rejecting is for the SOURCE store's DMS or manager (or HQ): the source is
read from the transfer, and checked again inside the transaction, since a source that
stayed silent past its deadline is no longer the one being asked.
"""

from __future__ import annotations

from typing import Any

from storemesh.collab.v1 import collab_pb2 as pb
from storemesh.collab.v1 import collab_pb2_grpc as pb_grpc

from kernel import paging
from kernel.auth import authorize_any_store, authorize_role, authorize_store
from services.collab import grpc_messages as messages
from services.collab.application import Collab


class CollabServicer(pb_grpc.CollabServiceServicer):
    def __init__(self, collab: Collab) -> None:
        self.collab = collab
        self.queries = collab.queries

    async def RecommendSources(
        self, request: pb.RecommendSourcesRequest, context: Any
    ) -> pb.RecommendSourcesResponse:
        authorize_store(request.store_id, "look up sources for")
        store, part, quantity, limit = messages.recommend(request)
        ranked = await self.collab.recommend(store, part, quantity, limit)
        return pb.RecommendSourcesResponse(
            candidates=[messages.candidate_message(c) for c in ranked]
        )

    async def RequestTransfer(
        self, request: pb.RequestTransferRequest, context: Any
    ) -> pb.Transfer:
        authorize_store(request.store_id, "request a transfer for")
        command = messages.request_transfer(request, self.collab.app.clock.now())
        done = await self.collab.request_transfer(command, request.request_id)
        return messages.transfer_message(await self.queries.transfer(done))

    async def ApproveTransfer(
        self, request: pb.ApproveTransferRequest, context: Any
    ) -> pb.Transfer:
        principal = authorize_role("dms", "manager", "hq")
        messages.answer(request)
        source = (await self.queries.transfer(request.transfer_id)).source_store_id
        authorize_store(source, "approve a transfer from")
        command = messages.approve(request, principal.subject, self.collab.app.clock.now())
        acting_for = None if principal.network_wide else source
        done = await self.collab.approve(command, request.request_id, acting_for)
        return messages.transfer_message(await self.queries.transfer(done))

    async def RejectTransfer(self, request: pb.RejectTransferRequest, context: Any) -> pb.Transfer:
        principal = authorize_role("dms", "manager", "hq")
        messages.answer(request)
        source = (await self.queries.transfer(request.transfer_id)).source_store_id
        authorize_store(source, "reject a transfer from")
        command = messages.reject(request, principal.subject, self.collab.app.clock.now())
        acting_for = None if principal.network_wide else source
        done = await self.collab.reject(command, request.request_id, acting_for)
        return messages.transfer_message(await self.queries.transfer(done))

    async def ReportCourierProgress(
        self, request: pb.ReportCourierProgressRequest, context: Any
    ) -> pb.Transfer:
        command = messages.courier(request, self.collab.app.clock.now())
        row = await self.queries.transfer(request.transfer_id)
        authorize_any_store([row.source_store_id, row.requesting_store_id], "report on")
        done = await self.collab.report_courier(command, request.request_id)
        return messages.transfer_message(await self.queries.transfer(done))

    async def GetTransfer(self, request: pb.GetTransferRequest, context: Any) -> pb.Transfer:
        messages.lookup(request)
        row = await self.queries.transfer(request.transfer_id)
        authorize_any_store([row.source_store_id, row.requesting_store_id], "see")
        return messages.transfer_message(row)

    async def ListTransfers(
        self, request: pb.ListTransfersRequest, context: Any
    ) -> pb.ListTransfersResponse:
        if request.store_id:
            authorize_store(request.store_id, "list the transfers of")
        else:
            authorize_role("hq", "service")
        page = await self.queries.transfers(
            request.store_id, paging.page_size(request.page_size), request.page_token
        )
        return pb.ListTransfersResponse(
            transfers=[messages.transfer_message(r) for r in page.rows],
            next_page_token=page.next_page_token,
        )

    async def GetCostSettlement(
        self, request: pb.GetCostSettlementRequest, context: Any
    ) -> pb.CostSettlement:
        authorize_role("hq")
        month = messages.month(request)
        return messages.settlement_message(month, await self.queries.settlement(month))
