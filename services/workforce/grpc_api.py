"""gRPC adapter of the workforce service: proto in, domain command out, and back.

Who may do what follows the header of workforce.proto: requests naming their store are
authorised here, commands on a technician through the guards of `access`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from storemesh.workforce.v1 import workforce_pb2 as pb
from storemesh.workforce.v1 import workforce_pb2_grpc as pb_grpc

from kernel import access, paging, validation
from kernel.errors import Violations
from services.workforce import grpc_messages
from services.workforce.access import home_store, support_parties
from services.workforce.application import SupportStep, Workforce
from services.workforce.domain.capability import Level, TechnicianStatus
from services.workforce.domain.commands import (
    AddSpecialty,
    CancelLeave,
    CancelSupport,
    ChangeLevel,
    ChangeStatus,
    CheckInSupport,
    CompleteSupport,
    ConfirmSupport,
    LeaveCompany,
    LogProductiveHours,
    PlanShift,
    PublishAvailability,
    RateSupport,
    RecordCertification,
    RemoveSpecialty,
    ScheduleLeave,
    TechnicianCommand,
    TransferTechnician,
    WithdrawAvailability,
)
from services.workforce.domain.matching import rank_key_of
from services.workforce.grpc_messages import (
    candidate_message,
    history_message,
    support_message,
    technician_message,
)
from services.workforce.queries import WorkforceQueries

MATCH_PAGE_SIZE = 10
MAX_MATCH_PAGE_SIZE = 100


class WorkforceServicer(pb_grpc.WorkforceServiceServicer):
    def __init__(self, workforce: Workforce) -> None:
        self.workforce = workforce
        self.queries = WorkforceQueries(workforce.app)

    def _now(self) -> datetime:
        return self.workforce.now()

    async def _change(self, request: Any, command: TechnicianCommand) -> pb.Technician:
        view = await self.workforce.change(command, request.request_id)
        return technician_message(view)

    # Technicians

    @access.store_in("store_id", "register a technician")
    async def RegisterTechnician(
        self, request: pb.RegisterTechnicianRequest, context: Any
    ) -> pb.Technician:
        command = grpc_messages.registration(request, self._now())
        return technician_message(await self.workforce.register(command, request.request_id))

    @access.stores_of(home_store, "change a technician's level")
    async def ChangeLevel(self, request: pb.ChangeLevelRequest, context: Any) -> pb.Technician:
        v = grpc_messages.technician_request(request)
        level = validation.enum_member(v, "level", request.level, Level)
        v.raise_if_any()
        assert level is not None
        command = ChangeLevel(technician_id=request.technician_id, at=self._now(), level=level)
        return await self._change(request, command)

    @access.stores_of(home_store, "add a specialty")
    async def AddSpecialty(self, request: pb.AddSpecialtyRequest, context: Any) -> pb.Technician:
        grpc_messages.technician_request(request).raise_if_any()
        command = AddSpecialty(
            technician_id=request.technician_id, at=self._now(), specialty=request.specialty
        )
        return await self._change(request, command)

    @access.stores_of(home_store, "remove a specialty")
    async def RemoveSpecialty(
        self, request: pb.RemoveSpecialtyRequest, context: Any
    ) -> pb.Technician:
        grpc_messages.technician_request(request).raise_if_any()
        command = RemoveSpecialty(
            technician_id=request.technician_id, at=self._now(), specialty=request.specialty
        )
        return await self._change(request, command)

    @access.stores_of(home_store, "record a certification")
    async def RecordCertification(
        self, request: pb.RecordCertificationRequest, context: Any
    ) -> pb.Technician:
        v = grpc_messages.technician_request(request)
        found = None
        if request.HasField("certification"):
            found = grpc_messages.certification(v, "certification", request.certification)
        else:
            v.add("certification", "is required")
        v.raise_if_any()
        assert found is not None
        command = RecordCertification(
            technician_id=request.technician_id, at=self._now(), certification=found
        )
        return await self._change(request, command)

    @access.stores_of(home_store, "transfer a technician")
    async def TransferTechnician(
        self, request: pb.TransferTechnicianRequest, context: Any
    ) -> pb.Technician:
        v = grpc_messages.technician_request(request)
        validation.store_code(v, "to_store_id", request.to_store_id)
        v.raise_if_any()
        command = TransferTechnician(
            technician_id=request.technician_id, at=self._now(), to_store_id=request.to_store_id
        )
        return await self._change(request, command)

    @access.stores_of(home_store, "change a technician's status")
    async def ChangeStatus(self, request: pb.ChangeStatusRequest, context: Any) -> pb.Technician:
        v = grpc_messages.technician_request(request)
        status = validation.enum_member(v, "status", request.status, TechnicianStatus)
        v.raise_if_any()
        assert status is not None
        command = ChangeStatus(technician_id=request.technician_id, at=self._now(), status=status)
        return await self._change(request, command)

    @access.stores_of(home_store, "record a technician leaving")
    async def LeaveCompany(self, request: pb.LeaveCompanyRequest, context: Any) -> pb.Technician:
        grpc_messages.technician_request(request).raise_if_any()
        command = LeaveCompany(technician_id=request.technician_id, at=self._now())
        return await self._change(request, command)

    @access.stores_of(home_store, "schedule leave")
    async def ScheduleLeave(self, request: pb.ScheduleLeaveRequest, context: Any) -> pb.Technician:
        v = grpc_messages.technician_request(request)
        window = grpc_messages.window(v, request, "starts_at", "ends_at")
        v.raise_if_any()
        assert window is not None
        command = ScheduleLeave(
            technician_id=request.technician_id,
            at=self._now(),
            leave_id=request.leave_id or request.request_id,
            starts_at=window.starts_at,
            ends_at=window.ends_at,
        )
        return await self._change(request, command)

    @access.stores_of(home_store, "cancel leave")
    async def CancelLeave(self, request: pb.CancelLeaveRequest, context: Any) -> pb.Technician:
        v = grpc_messages.technician_request(request)
        validation.identifier(v, "leave_id", request.leave_id)
        v.raise_if_any()
        command = CancelLeave(
            technician_id=request.technician_id, at=self._now(), leave_id=request.leave_id
        )
        return await self._change(request, command)

    # Work hours

    @access.stores_of(home_store, "plan a shift")
    async def PlanShift(self, request: pb.PlanShiftRequest, context: Any) -> pb.Technician:
        v = grpc_messages.technician_request(request)
        day = validation.day(v, "day", request.day)
        v.raise_if_any()
        assert day is not None
        command = PlanShift(
            technician_id=request.technician_id,
            at=self._now(),
            day=day,
            available_hours=request.available_hours,
        )
        return await self._change(request, command)

    @access.stores_of(home_store, "log productive hours")
    async def LogProductiveHours(
        self, request: pb.LogProductiveHoursRequest, context: Any
    ) -> pb.Technician:
        v = grpc_messages.technician_request(request)
        day = validation.day(v, "day", request.day)
        v.raise_if_any()
        assert day is not None
        command = LogProductiveHours(
            technician_id=request.technician_id,
            at=self._now(),
            job_id=request.job_id,
            day=day,
            hours=request.hours,
        )
        return await self._change(request, command)

    # Availability

    @access.stores_of(home_store, "publish support availability")
    async def PublishAvailability(
        self, request: pb.PublishAvailabilityRequest, context: Any
    ) -> pb.Technician:
        v = grpc_messages.technician_request(request)
        window = grpc_messages.published_window(v, request)
        v.raise_if_any()
        assert window is not None
        command = PublishAvailability(
            technician_id=request.technician_id,
            at=self._now(),
            window_id=request.window_id or request.request_id,
            starts_at=window.starts_at,
            ends_at=window.ends_at,
        )
        return await self._change(request, command)

    @access.stores_of(home_store, "withdraw support availability")
    async def WithdrawAvailability(
        self, request: pb.WithdrawAvailabilityRequest, context: Any
    ) -> pb.Technician:
        v = grpc_messages.technician_request(request)
        validation.identifier(v, "window_id", request.window_id)
        v.raise_if_any()
        command = WithdrawAvailability(
            technician_id=request.technician_id, at=self._now(), window_id=request.window_id
        )
        return await self._change(request, command)

    # Support (SOP 2)

    @access.store_in("host_store_id", "ask for technician support")
    async def HoldSupport(self, request: pb.HoldSupportRequest, context: Any) -> pb.Support:
        # The host store asks for help; lending is the home store's to agree (ConfirmSupport).
        command, defaulted = grpc_messages.hold(request, self._now())
        view = await self.workforce.hold(command, request.request_id, defaulted_expiry=defaulted)
        return support_message(view)

    @access.stores_of(home_store, "confirm lending a technician")
    async def ConfirmSupport(self, request: pb.ConfirmSupportRequest, context: Any) -> pb.Support:
        grpc_messages.support_request(request)
        command = ConfirmSupport(
            technician_id=request.technician_id, at=self._now(), support_id=request.support_id
        )
        return await self._step(request, command)

    @access.stores_of(support_parties, "check in a support")
    async def CheckInSupport(self, request: pb.CheckInSupportRequest, context: Any) -> pb.Support:
        grpc_messages.support_request(request)
        command = CheckInSupport(
            technician_id=request.technician_id, at=self._now(), support_id=request.support_id
        )
        return await self._step(request, command)

    @access.stores_of(support_parties, "complete a support")
    async def CompleteSupport(self, request: pb.CompleteSupportRequest, context: Any) -> pb.Support:
        grpc_messages.support_request(request)
        command = CompleteSupport(
            technician_id=request.technician_id,
            at=self._now(),
            support_id=request.support_id,
            hours_worked=request.hours_worked,
            fault_solved=request.fault_solved,
        )
        return await self._step(request, command)

    @access.stores_of(support_parties, "cancel a support")
    async def CancelSupport(self, request: pb.CancelSupportRequest, context: Any) -> pb.Support:
        grpc_messages.support_request(request)
        command = CancelSupport(
            technician_id=request.technician_id,
            at=self._now(),
            support_id=request.support_id,
            reason=request.reason,
        )
        return await self._step(request, command)

    @access.store_in("rated_by_store_id", "rate a support")
    async def RateSupport(self, request: pb.RateSupportRequest, context: Any) -> pb.Support:
        v = grpc_messages.technician_request(request)
        validation.identifier(v, "support_id", request.support_id)
        validation.store_code(v, "rated_by_store_id", request.rated_by_store_id)
        v.raise_if_any()
        command = RateSupport(
            technician_id=request.technician_id,
            at=self._now(),
            support_id=request.support_id,
            rated_by_store_id=request.rated_by_store_id,
            rating=request.rating,
            comment=request.comment,
        )
        return await self._step(request, command)

    async def _step(self, request: Any, command: SupportStep) -> pb.Support:
        return support_message(await self.workforce.support_step(command, request.request_id))

    # Visibility and recommendations

    @access.anyone_signed_in
    async def GetTechnician(self, request: pb.GetTechnicianRequest, context: Any) -> pb.Technician:
        validation.require_ids(technician_id=request.technician_id)
        return technician_message(await self.queries.technician(request.technician_id))

    @access.anyone_signed_in
    async def ListTechnicians(
        self, request: pb.ListTechniciansRequest, context: Any
    ) -> pb.ListTechniciansResponse:
        f = grpc_messages.map_filter(request)
        limit = paging.page_size(request.page_size)
        query = {"list": "technicians", **{k: str(x) for k, x in vars(f).items()}}
        pages = paging.PageQuery.of(query, paging.text)
        after = pages.after(request.page_token)
        rows = await self.queries.capability_map(f, after[0] if after else None, limit + 1)
        page, token = pages.cut(rows, limit, lambda t: (t.technician_id,))
        return pb.ListTechniciansResponse(
            technicians=[technician_message(t) for t in page], next_page_token=token
        )

    @access.anyone_signed_in
    async def MatchSupport(
        self, request: pb.MatchSupportRequest, context: Any
    ) -> pb.MatchSupportResponse:
        v = Violations()
        validation.store_code(v, "requesting_store_id", request.requesting_store_id)
        specialty = grpc_messages.specialty(v, "specialty", request.specialty)
        level = validation.enum_member(v, "minimum_level", request.minimum_level, Level)
        window = grpc_messages.window(v, request, "starts_at", "ends_at")
        if not 0 <= request.page_size <= MAX_MATCH_PAGE_SIZE:
            v.add("page_size", f"must be between 1 and {MAX_MATCH_PAGE_SIZE} (0 for 10)")
        v.raise_if_any()
        assert level is not None and window is not None
        limit = request.page_size or MATCH_PAGE_SIZE
        query = {
            "list": "match",
            "store": request.requesting_store_id,
            "specialty": specialty,
            "level": int(level),
            "window": window.describe(),
        }
        pages = paging.PageQuery.of(
            query, paging.number, paging.optional(paging.number), paging.text
        )
        after = pages.after(request.page_token)
        last = None if after is None else rank_key_of(*after)
        matches = await self.queries.match(
            requesting_store_id=request.requesting_store_id,
            specialty=specialty,
            minimum_level=level,
            window=window,
            after=last,
            limit=limit + 1,
        )
        page, token = pages.cut(
            matches, limit, lambda m: (m.ranked.score, m.ranked.distance_km, m.ranked.technician_id)
        )
        return pb.MatchSupportResponse(
            candidates=[candidate_message(m) for m in page], next_page_token=token
        )

    @access.anyone_signed_in
    async def GetTechnicianHistory(
        self, request: pb.GetTechnicianHistoryRequest, context: Any
    ) -> pb.TechnicianHistory:
        v = Violations()
        validation.identifier(v, "technician_id", request.technician_id)
        v.raise_if_any()
        limit = paging.page_size(request.page_size)
        pages = paging.PageQuery.of(
            {"list": "history", "technician": request.technician_id}, paging.moment, paging.text
        )
        after = pages.after(request.page_token)
        totals, records = await self.queries.history(
            request.technician_id, (after[0], after[1]) if after else None, limit + 1
        )
        page, token = pages.cut(
            records, limit, lambda r: (r.support.starts_at, r.support.support_id)
        )
        return history_message(request.technician_id, totals, page, token)

    @access.anyone_signed_in
    async def GetUtilisation(
        self, request: pb.GetUtilisationRequest, context: Any
    ) -> pb.Utilisation:
        first, last = grpc_messages.utilisation_period(request, self._now().astimezone(UTC).date())
        result = await self.queries.utilisation(
            technician_id=request.technician_id, store_id=request.store_id, first=first, last=last
        )
        return pb.Utilisation(
            technician_id=request.technician_id,
            store_id=request.store_id,
            from_date=first.isoformat(),
            to_date=last.isoformat(),
            productive_hours=result.productive_hours,
            available_hours=result.available_hours,
            utilisation=result.ratio,
        )
