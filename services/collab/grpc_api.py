"""The collab servicer: thin. Each RPC declares who may call it (kernel.access, stores
found from the transfer by services/collab/access.py), then parses, acts, replies."""

from __future__ import annotations

from typing import Any

from storemesh.collab.v1 import collab_pb2 as pb
from storemesh.collab.v1 import collab_pb2_grpc as pb_grpc

from kernel import access, paging
from kernel.auth import current_principal
from kernel.codec import timestamp
from services.collab import grpc_messages as messages
from services.collab.access import answering_for, source_store, transfer_parties
from services.collab.application import Collab
from services.collab.grpc_diversion import DiversionRpcs
from services.collab.grpc_support import SupportRpcs

ANSWERING_ROLES = ("dms", "manager", "hq")


# SOP 2's and SOP 3's RPCs live in grpc_support.py and grpc_diversion.py.
class CollabServicer(SupportRpcs, DiversionRpcs, pb_grpc.CollabServiceServicer):
    def __init__(self, collab: Collab) -> None:
        self.collab = collab
        self.queries = collab.queries

    @access.store_in("store_id", "look up sources for")
    async def RecommendSources(
        self, request: pb.RecommendSourcesRequest, context: Any
    ) -> pb.RecommendSourcesResponse:
        store, part, quantity, limit = messages.recommend(request)
        ranked = await self.collab.recommend(store, part, quantity, limit)
        return pb.RecommendSourcesResponse(
            candidates=[messages.candidate_message(c) for c in ranked]
        )

    @access.store_in("store_id", "request a transfer for")
    async def RequestTransfer(
        self, request: pb.RequestTransferRequest, context: Any
    ) -> pb.Transfer:
        command = messages.request_transfer(request, self.collab.app.clock.now())
        done = await self.collab.request_transfer(command, request.request_id)
        return messages.transfer_message(await self.queries.transfer(done))

    @access.stores_of(source_store, "approve this transfer", roles=ANSWERING_ROLES)
    async def ApproveTransfer(
        self, request: pb.ApproveTransferRequest, context: Any
    ) -> pb.Transfer:
        principal = current_principal()
        messages.answer(request)
        command = messages.approve(request, principal.subject, self.collab.app.clock.now())
        acting_for = None if principal.network_wide else await self._source(request.transfer_id)
        done = await self.collab.approve(command, request.request_id, acting_for)
        return messages.transfer_message(await self.queries.transfer(done))

    @access.stores_of(source_store, "reject this transfer", roles=ANSWERING_ROLES)
    async def RejectTransfer(self, request: pb.RejectTransferRequest, context: Any) -> pb.Transfer:
        principal = current_principal()
        messages.answer(request)
        command = messages.reject(request, principal.subject, self.collab.app.clock.now())
        acting_for = None if principal.network_wide else await self._source(request.transfer_id)
        done = await self.collab.reject(command, request.request_id, acting_for)
        return messages.transfer_message(await self.queries.transfer(done))

    async def _source(self, transfer_id: str) -> str:
        """The source store a store's answer is for: as the access check found it."""

        async def read() -> str:
            return (await self.queries.transfer(transfer_id)).source_store_id

        return await answering_for(transfer_id, read)

    @access.stores_of(transfer_parties, "report on this transfer")
    async def ReportCourierProgress(
        self, request: pb.ReportCourierProgressRequest, context: Any
    ) -> pb.Transfer:
        command = messages.courier(request, self.collab.app.clock.now())
        done = await self.collab.report_courier(command, request.request_id)
        return messages.transfer_message(await self.queries.transfer(done))

    @access.stores_of(transfer_parties, "see")
    async def GetTransfer(self, request: pb.GetTransferRequest, context: Any) -> pb.Transfer:
        messages.lookup(request)
        row = await self.queries.transfer(request.transfer_id)
        reply = messages.transfer_message(row)
        customer = await self.collab.customers.of(request.transfer_id)
        if customer is not None:
            # The source store gives a part; whom it is for is the requester's business.
            personal = current_principal().may_act_for(row.requesting_store_id)
            reply.customer.CopyFrom(messages.customer_message(customer, personal))
        return reply

    @access.store_in("store_id", "list the transfers of", empty_is_network=True)
    async def ListTransfers(
        self, request: pb.ListTransfersRequest, context: Any
    ) -> pb.ListTransfersResponse:
        size = paging.page_size(request.page_size)
        pages = paging.PageQuery.of(
            {"list": "transfers", "store_id": request.store_id}, paging.text
        )
        page = await self.queries.transfers(request.store_id, pages, request.page_token, size)
        return pb.ListTransfersResponse(
            transfers=[messages.transfer_message(r) for r in page.rows],
            next_page_token=page.next_page_token,
        )

    @access.roles("hq", action="see the cost settlement")
    async def GetCostSettlement(
        self, request: pb.GetCostSettlementRequest, context: Any
    ) -> pb.CostSettlement:
        month = messages.month(request)
        return messages.settlement_message(month, await self.queries.settlement(month))

    # ---- Stale stock revitalisation ----

    @access.store_in("store_id", "recommend where to move the stale stock of")
    async def RecommendRevitalisation(
        self, request: pb.RecommendRevitalisationRequest, context: Any
    ) -> pb.RecommendRevitalisationResponse:
        store, part, idle_days, limit = messages.recommend_revitalisation(request)
        ranked = await self.collab.revitalisation.recommend(store, part, idle_days, limit)
        return pb.RecommendRevitalisationResponse(
            lots=[messages.stale_lot_message(lot, receivers) for lot, receivers in ranked]
        )

    # ---- Customers' personal data ----

    @access.roles("hq", action="forget a customer")
    async def ForgetCustomer(
        self, request: pb.ForgetCustomerRequest, context: Any
    ) -> pb.ForgetCustomerResponse:
        command = messages.forget_customer(request, self.collab.app.clock.now())
        forgotten_at = await self.collab.customers.forget(command, request.request_id)
        return pb.ForgetCustomerResponse(
            customer_ref=command.customer_ref, forgotten_at=timestamp(forgotten_at)
        )
