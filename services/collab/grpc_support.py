"""SOP 2's RPCs of the collab servicer, and their proto <-> domain mapping: thin, each
declaring who may call it (services/collab/access.py finds the stores from the support)."""

from __future__ import annotations

from datetime import datetime
from functools import cached_property
from typing import Any

from storemesh.collab.v1 import collab_pb2 as pb

from kernel import access, paging, validation
from kernel.auth import current_principal
from kernel.codec import timestamp
from kernel.errors import Violations
from services.collab.access import answering_for, lending_store, support_parties
from services.collab.application_support import Supports
from services.collab.domain.commands import (
    ApproveSupport,
    RateSupport,
    RejectSupport,
    ReportSupportProgress,
    RequestSupport,
    SupportProgress,
)
from services.collab.domain.support import MAX_RATING, MIN_RATING
from services.collab.queries_sops import SopQueries

ANSWERING_ROLES = ("dms", "manager", "hq")
MAX_SUPPORT_HOURS = 24.0
# Travel and lodging above this is a typo, not a trip (fen: 50,000 CNY).
MAX_TRAVEL_FEN = 5_000_000
_LEVELS = {pb.TECHNICIAN_LEVEL_T1: "T1", pb.TECHNICIAN_LEVEL_T2: "T2", pb.TECHNICIAN_LEVEL_T3: "T3"}
_PROGRESS = {
    pb.SUPPORT_PROGRESS_CHECKED_IN: SupportProgress.CHECKED_IN,
    pb.SUPPORT_PROGRESS_COMPLETED: SupportProgress.COMPLETED,
    pb.SUPPORT_PROGRESS_CALLED_OFF: SupportProgress.CALLED_OFF,
}


def request_support(r: pb.RequestSupportRequest, at: datetime) -> RequestSupport:
    v = Violations()
    validation.request_id(v, "request_id", r.request_id)
    validation.store_code(v, "store_id", r.store_id)
    validation.text(v, "specialty", r.specialty, max_len=40)
    level = validation.enum_choice(
        v, "minimum_level", r.minimum_level, _LEVELS, pb.TechnicianLevel.Name
    )
    starts = validation.moment(v, r, "starts_at")
    ends = validation.moment(v, r, "ends_at")
    if starts is not None and ends is not None and ends <= starts:
        v.add("ends_at", "must be after starts_at")
    validation.text(v, "fault", r.fault)
    v.raise_if_any()
    assert starts is not None and ends is not None and level is not None
    return RequestSupport(
        r.request_id,
        r.store_id,
        r.specialty,
        level,
        starts,
        ends,
        r.fault,
        r.urgent,
        at,
    )


def _answer(r: Any) -> None:
    v = Violations()
    validation.request_id(v, "request_id", r.request_id)
    validation.identifier(v, "support_id", r.support_id)
    if isinstance(r, pb.RejectSupportRequest):
        validation.text(v, "reason", r.reason)
    v.raise_if_any()


def report(r: pb.ReportSupportProgressRequest, by: str, at: datetime) -> ReportSupportProgress:
    v = Violations()
    validation.request_id(v, "request_id", r.request_id)
    validation.identifier(v, "support_id", r.support_id)
    progress = validation.enum_choice(v, "progress", r.progress, _PROGRESS, pb.SupportProgress.Name)
    completed = r.progress == pb.SUPPORT_PROGRESS_COMPLETED
    if not 0 <= r.hours_worked <= MAX_SUPPORT_HOURS:  # NaN fails this too
        v.add("hours_worked", f"must be between 0 and {MAX_SUPPORT_HOURS:.0f}")
    elif r.hours_worked and not completed:
        v.add("hours_worked", "is reported with COMPLETED only")
    elif completed and not r.hours_worked:
        v.add("hours_worked", "is required with COMPLETED: the hours the technician worked")
    validation.non_negative(v, "travel_and_lodging_fen", r.travel_and_lodging_fen, MAX_TRAVEL_FEN)
    if r.travel_and_lodging_fen and not completed:
        v.add("travel_and_lodging_fen", "is reported with COMPLETED only")
    validation.text(v, "note", r.note, required=False)
    v.raise_if_any()
    assert progress is not None
    return ReportSupportProgress(
        r.support_id,
        progress,
        r.hours_worked,
        r.fault_solved,
        r.travel_and_lodging_fen,
        r.note,
        by,
        at,
    )


def rate(r: pb.RateSupportRequest, at: datetime) -> RateSupport:
    v = Violations()
    validation.request_id(v, "request_id", r.request_id)
    validation.identifier(v, "support_id", r.support_id)
    validation.store_code(v, "rated_by_store_id", r.rated_by_store_id)
    if not MIN_RATING <= r.rating <= MAX_RATING:
        v.add("rating", f"must be {MIN_RATING} to {MAX_RATING}")
    validation.text(v, "comment", r.comment, required=False, max_len=2000)
    v.raise_if_any()
    return RateSupport(r.support_id, r.rated_by_store_id, r.rating, r.comment, at)


def support_message(row: Any) -> pb.Support:
    return pb.Support(
        support_id=row.support_id,
        requesting_store_id=row.requesting_store_id,
        specialty=row.specialty,
        minimum_level=pb.TechnicianLevel.Value(f"TECHNICIAN_LEVEL_{row.minimum_level}"),
        starts_at=timestamp(row.starts_at),
        ends_at=timestamp(row.ends_at),
        fault=row.fault,
        urgent=row.urgent,
        technician_id=row.technician_id,
        lending_store_id=row.lending_store_id,
        candidate_technician_ids=list(row.candidates),
        stage=pb.SupportStage.Value(f"SUPPORT_STAGE_{row.stage}"),
        reason=row.reason,
        requested_at=timestamp(row.requested_at),
        approval_due_at=timestamp(row.approval_due_at),
        subsidy_fen=row.subsidy_fen,
        travel_and_lodging_paid=row.travel_and_lodging_paid,
        distance_km=row.distance_km,
        hours_worked=row.hours_worked,
        fault_solved=row.fault_solved,
        travel_and_lodging_fen=row.travel_and_lodging_fen,
        rated_by_store_ids=list(row.rated_by),
    )


class SupportRpcs:
    """Mixed into CollabServicer, which gives it `collab`."""

    collab: Any

    @cached_property
    def sop_queries(self) -> SopQueries:
        return SopQueries(self.collab.app)

    @property
    def supports(self) -> Supports:
        found: Supports = self.collab.supports
        return found

    def _now(self) -> datetime:
        now: datetime = self.collab.app.clock.now()
        return now

    async def _reply(self, support_id: str) -> pb.Support:
        return support_message(await self.sop_queries.support(support_id))

    @access.store_in("store_id", "request support for")
    async def RequestSupport(self, request: pb.RequestSupportRequest, context: Any) -> pb.Support:
        command = request_support(request, self._now())
        return await self._reply(await self.supports.request(command, request.request_id))

    @access.stores_of(lending_store, "approve this support", roles=ANSWERING_ROLES)
    async def ApproveSupport(self, request: pb.ApproveSupportRequest, context: Any) -> pb.Support:
        principal = current_principal()
        _answer(request)
        command = ApproveSupport(request.support_id, principal.subject, self._now())
        acting_for = None if principal.network_wide else await self._lender(request.support_id)
        return await self._reply(
            await self.supports.approve(command, request.request_id, acting_for)
        )

    @access.stores_of(lending_store, "reject this support", roles=ANSWERING_ROLES)
    async def RejectSupport(self, request: pb.RejectSupportRequest, context: Any) -> pb.Support:
        principal = current_principal()
        _answer(request)
        command = RejectSupport(request.support_id, request.reason, principal.subject, self._now())
        acting_for = None if principal.network_wide else await self._lender(request.support_id)
        return await self._reply(
            await self.supports.reject(command, request.request_id, acting_for)
        )

    async def _lender(self, support_id: str) -> str:
        """The lending store a store's answer is for: as the access check found it."""

        async def read() -> str:
            return (await self.sop_queries.support(support_id)).lending_store_id

        return await answering_for(support_id, read)

    @access.stores_of(support_parties, "report on this support")
    async def ReportSupportProgress(
        self, request: pb.ReportSupportProgressRequest, context: Any
    ) -> pb.Support:
        command = report(request, current_principal().subject, self._now())
        return await self._reply(await self.supports.report(command, request.request_id))

    @access.store_in("rated_by_store_id", "rate a support for")
    async def RateSupport(self, request: pb.RateSupportRequest, context: Any) -> pb.Support:
        command = rate(request, self._now())
        return await self._reply(await self.supports.rate(command, request.request_id))

    @access.stores_of(support_parties, "see")
    async def GetSupport(self, request: pb.GetSupportRequest, context: Any) -> pb.Support:
        validation.require_ids(support_id=request.support_id)
        return await self._reply(request.support_id)

    @access.store_in("store_id", "list the supports of", empty_is_network=True)
    async def ListSupports(
        self, request: pb.ListSupportsRequest, context: Any
    ) -> pb.ListSupportsResponse:
        size = paging.page_size(request.page_size)
        pages = paging.PageQuery.of({"list": "supports", "store_id": request.store_id}, paging.text)
        page = await self.sop_queries.supports(request.store_id, pages, request.page_token, size)
        return pb.ListSupportsResponse(
            supports=[support_message(r) for r in page.rows],
            next_page_token=page.next_page_token,
        )
