"""SOP 3's RPCs of the collab servicer, and their proto <-> domain mapping: thin, each
declaring who may call it. Only the origin store (whose customer chooses) or HQ answers."""

from __future__ import annotations

from datetime import datetime
from functools import cached_property
from typing import Any

from storemesh.collab.v1 import collab_pb2 as pb

from kernel import access, paging, validation
from kernel.auth import current_principal
from kernel.codec import timestamp
from kernel.errors import Violations
from services.collab.access import diversion_parties, origin_store
from services.collab.application_diversion import Diversions
from services.collab.domain.commands import AnswerDiversion, RequestDiversion
from services.collab.domain.diversion import DMS_TRIGGER
from services.collab.queries_sops import SopQueries

ANSWERING_ROLES = ("dms", "manager", "hq")
# As capacity's bookings: a visit's expected labour.
MAX_LABOUR_HOURS = 100.0


def request_diversion(r: pb.RequestDiversionRequest, at: datetime) -> RequestDiversion:
    v = Violations()
    validation.request_id(v, "request_id", r.request_id)
    validation.store_code(v, "store_id", r.store_id)
    validation.identifier(v, "appointment_id", r.appointment_id)
    validation.day(v, "day", r.day)
    # An opaque reference only: the DMS resolves it; names and phones are not sent.
    validation.identifier(v, "customer_ref", r.customer_ref)
    validation.text(v, "vehicle", r.vehicle, max_len=64)
    validation.text(v, "service_type", r.service_type, max_len=64)
    if not 0.0 < r.expected_labour_hours <= MAX_LABOUR_HOURS:
        v.add("expected_labour_hours", f"must be above 0 and at most {MAX_LABOUR_HOURS:g}")
    v.raise_if_any()
    return RequestDiversion(
        r.request_id,
        r.store_id,
        r.appointment_id,
        r.day,
        r.customer_ref,
        r.vehicle,
        r.service_type,
        r.expected_labour_hours,
        DMS_TRIGGER,
        at,
    )


def answer(r: pb.AnswerDiversionRequest, by: str, at: datetime) -> AnswerDiversion:
    v = Violations()
    validation.request_id(v, "request_id", r.request_id)
    validation.identifier(v, "diversion_id", r.diversion_id)
    if r.answer not in (pb.DIVERSION_ANSWER_ACCEPTED, pb.DIVERSION_ANSWER_DECLINED):
        v.add("answer", "must be DIVERSION_ANSWER_ACCEPTED or DIVERSION_ANSWER_DECLINED")
    validation.text(v, "note", r.note, required=False)
    v.raise_if_any()
    return AnswerDiversion(r.diversion_id, r.answer == pb.DIVERSION_ANSWER_ACCEPTED, r.note, by, at)


def diversion_message(row: Any) -> pb.Diversion:
    return pb.Diversion(
        diversion_id=row.diversion_id,
        origin_store_id=row.origin_store_id,
        origin_appointment_id=row.origin_appointment_id,
        origin_day=row.origin_day,
        customer_ref=row.customer_ref,
        vehicle=row.vehicle,
        service_type=row.service_type,
        expected_labour_hours=row.expected_labour_hours,
        trigger=row.trigger,
        receiving_store_id=row.receiving_store_id,
        candidate_store_ids=list(row.candidates),
        distance_km=row.distance_km,
        stage=pb.DiversionStage.Value(f"DIVERSION_STAGE_{row.stage}"),
        reason=row.reason,
        requested_at=timestamp(row.requested_at),
        offer_due_at=timestamp(row.offer_due_at),
        slot_at=timestamp(row.slot_at),
        appointment_id=row.appointment_id,
        compensation_fen=row.compensation_fen,
        transport_voucher_fen=row.transport_voucher_fen,
    )


class DiversionRpcs:
    """Mixed into CollabServicer, which gives it `collab`."""

    collab: Any

    @cached_property
    def sop_queries(self) -> SopQueries:
        return SopQueries(self.collab.app)

    @property
    def diversions(self) -> Diversions:
        found: Diversions = self.collab.diversions
        return found

    async def _diversion(self, diversion_id: str) -> pb.Diversion:
        return diversion_message(await self.sop_queries.diversion(diversion_id))

    @access.store_in("store_id", "divert a customer of")
    async def RequestDiversion(
        self, request: pb.RequestDiversionRequest, context: Any
    ) -> pb.Diversion:
        command = request_diversion(request, self.collab.app.clock.now())
        return await self._diversion(await self.diversions.request(command, request.request_id))

    @access.stores_of(origin_store, "answer for the customer of", roles=ANSWERING_ROLES)
    async def AnswerDiversion(
        self, request: pb.AnswerDiversionRequest, context: Any
    ) -> pb.Diversion:
        command = answer(request, current_principal().subject, self.collab.app.clock.now())
        return await self._diversion(await self.diversions.answer(command, request.request_id))

    @access.stores_of(diversion_parties, "see")
    async def GetDiversion(self, request: pb.GetDiversionRequest, context: Any) -> pb.Diversion:
        validation.require_ids(diversion_id=request.diversion_id)
        return await self._diversion(request.diversion_id)

    @access.store_in("store_id", "list the diversions of", empty_is_network=True)
    async def ListDiversions(
        self, request: pb.ListDiversionsRequest, context: Any
    ) -> pb.ListDiversionsResponse:
        size = paging.page_size(request.page_size)
        pages = paging.PageQuery.of(
            {"list": "diversions", "store_id": request.store_id}, paging.text
        )
        page = await self.sop_queries.diversions(request.store_id, pages, request.page_token, size)
        return pb.ListDiversionsResponse(
            diversions=[diversion_message(r) for r in page.rows],
            next_page_token=page.next_page_token,
        )
