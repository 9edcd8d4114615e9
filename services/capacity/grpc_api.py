"""gRPC adapter of the capacity service: proto in, domain command out, and back."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from storemesh.capacity.v1 import capacity_pb2 as pb
from storemesh.capacity.v1 import capacity_pb2_grpc as pb_grpc

from kernel import access, paging, validation
from kernel.errors import InvalidArgument, Violations
from services.capacity.application import Capacity, ForecastPressure
from services.capacity.domain.appointments import (
    CancelAppointment,
    MarkNoShow,
    RescheduleAppointment,
    SetDayCapacity,
)
from services.capacity.domain.holds import ConfirmSlotHold, ReleaseSlotHold
from services.capacity.domain.opening_hours import local_day
from services.capacity.domain.stores import (
    DEFAULT_TIME_ZONE,
    StoreFacts,
)
from services.capacity.domain.visits import (
    CheckInCustomer,
    CompleteVisit,
    RecordQuoteAbandoned,
    RegisterWalkIn,
    StartService,
)
from services.capacity.domain.waiting import AssessWait
from services.capacity.grpc_messages import (
    appointment_message,
    appointments_sync,
    appointments_synced,
    booking,
    checked,
    checked_booking,
    day_view_message,
    hold_message,
    network_day_message,
    optional_day,
    parse_day,
    reply,
    slot_hold,
    visit_message,
)
from services.capacity.grpc_stores import StoreRpcs
from services.capacity.queries import CapacityQueries

MAX_NETWORK_PAGE = 5000


# The store directory's RPCs live in grpc_stores.py.
class CapacityServicer(StoreRpcs, pb_grpc.CapacityServiceServicer):
    def __init__(self, capacity: Capacity) -> None:
        self.capacity = capacity
        self.queries = CapacityQueries(capacity.app)

    def _now(self) -> datetime:
        return self.capacity.now()

    async def _book(self, request: Any) -> tuple[StoreFacts, datetime]:
        """Checks of a book command; the store's facts to build it with."""
        checked(request)
        return await self.queries.recent_store_facts(request.store_id), self._now()

    def _day(self, request: Any, facts: StoreFacts, now: datetime) -> Any:
        return parse_day("day", request.day, local_day(now, facts.time_zone))

    # The appointment book

    @access.store_in("store_id", "set a day's capacity")
    async def SetDayCapacity(self, request: pb.SetDayCapacityRequest, context: Any) -> pb.DayView:
        facts, now = await self._book(request)
        if not request.day:
            raise InvalidArgument.of("day", "is required")
        command = SetDayCapacity(
            store=facts,
            day=self._day(request, facts, now),
            capacity=request.capacity,
            reason=request.reason,
            at=now,
        )
        return day_view_message(await self.capacity.set_day_capacity(command, request.request_id))

    @access.store_in("store_id", "book an appointment")
    async def BookAppointment(
        self, request: pb.BookAppointmentRequest, context: Any
    ) -> pb.Appointment:
        checked_booking(request)
        facts, now = await self._book(request)
        command = booking(request, facts, now)
        return appointment_message(await self.capacity.appointment(command, request.request_id))

    @access.store_in("store_id", "sync appointments")
    async def SyncAppointments(
        self, request: pb.SyncAppointmentsRequest, context: Any
    ) -> pb.SyncAppointmentsResponse:
        command = appointments_sync(request, self._now())
        batch = await self.capacity.sync_appointments(command, request.request_id)
        return appointments_synced(request.request_id, batch)

    @access.store_in("store_id", "reschedule an appointment")
    async def RescheduleAppointment(
        self, request: pb.RescheduleAppointmentRequest, context: Any
    ) -> pb.Appointment:
        facts, now = await self._book(request)
        validation.require_ids(appointment_id=request.appointment_id)
        v = Violations()
        requested_at = validation.moment(v, request, "requested_at")
        v.raise_if_any()
        assert requested_at is not None
        command = RescheduleAppointment(
            store=facts,
            day=self._day(request, facts, now),
            appointment_id=request.appointment_id,
            requested_at=requested_at,
            at=now,
        )
        return appointment_message(
            await self.capacity.reschedule(
                command, request.request_id, defaulted_day=not request.day
            )
        )

    @access.store_in("store_id", "cancel an appointment")
    async def CancelAppointment(
        self, request: pb.CancelAppointmentRequest, context: Any
    ) -> pb.Appointment:
        facts, now = await self._book(request)
        validation.require_ids(appointment_id=request.appointment_id)
        command = CancelAppointment(
            store=facts,
            day=self._day(request, facts, now),
            appointment_id=request.appointment_id,
            reason=request.reason,
            at=now,
        )
        return appointment_message(
            await self.capacity.appointment(
                command, request.request_id, defaulted_day=not request.day
            )
        )

    @access.store_in("store_id", "mark a no-show")
    async def MarkNoShow(self, request: pb.MarkNoShowRequest, context: Any) -> pb.Appointment:
        facts, now = await self._book(request)
        validation.require_ids(appointment_id=request.appointment_id)
        command = MarkNoShow(
            store=facts,
            day=self._day(request, facts, now),
            appointment_id=request.appointment_id,
            at=now,
        )
        return appointment_message(
            await self.capacity.appointment(
                command, request.request_id, defaulted_day=not request.day
            )
        )

    # Visits

    @access.store_in("store_id", "register a walk-in")
    async def RegisterWalkIn(self, request: pb.RegisterWalkInRequest, context: Any) -> pb.Visit:
        facts, now = await self._book(request)
        command = RegisterWalkIn(
            store=facts,
            day=local_day(now, facts.time_zone),
            visit_id=request.visit_id or request.request_id,
            customer_ref=request.customer_ref,
            vehicle=request.vehicle,
            service_type=request.service_type,
            expected_labour_hours=request.expected_labour_hours,
            at=now,
        )
        return visit_message(
            await self.capacity.visit(command, request.request_id, defaulted_day=True)
        )

    @access.store_in("store_id", "check in a customer")
    async def CheckInCustomer(self, request: pb.CheckInCustomerRequest, context: Any) -> pb.Visit:
        facts, now = await self._book(request)
        validation.require_ids(appointment_id=request.appointment_id)
        command = CheckInCustomer(
            store=facts,
            day=local_day(now, facts.time_zone),
            appointment_id=request.appointment_id,
            visit_id=request.visit_id or request.appointment_id,
            at=now,
        )
        return visit_message(
            await self.capacity.visit(command, request.request_id, defaulted_day=True)
        )

    @access.store_in("store_id", "start a service")
    async def StartService(self, request: pb.StartServiceRequest, context: Any) -> pb.Visit:
        facts, now = await self._book(request)
        validation.require_ids(visit_id=request.visit_id)
        command = StartService(
            store=facts,
            day=self._day(request, facts, now),
            visit_id=request.visit_id,
            bay=request.bay,
            technician_ids=tuple(request.technician_ids),
            at=now,
        )
        return visit_message(
            await self.capacity.visit(command, request.request_id, defaulted_day=not request.day)
        )

    @access.store_in("store_id", "complete a visit")
    async def CompleteVisit(self, request: pb.CompleteVisitRequest, context: Any) -> pb.Visit:
        facts, now = await self._book(request)
        validation.require_ids(visit_id=request.visit_id)
        command = CompleteVisit(
            store=facts,
            day=self._day(request, facts, now),
            visit_id=request.visit_id,
            labour_hours=request.labour_hours,
            labour_revenue_fen=request.labour_revenue_fen,
            parts_revenue_fen=request.parts_revenue_fen,
            other_revenue_fen=request.other_revenue_fen,
            technician_ids=tuple(request.technician_ids),
            satisfaction_score=(
                request.satisfaction_score if request.HasField("satisfaction_score") else None
            ),
            complaint=request.complaint,
            at=now,
        )
        return visit_message(
            await self.capacity.visit(command, request.request_id, defaulted_day=not request.day)
        )

    @access.store_in("store_id", "record a quote abandoned")
    async def RecordQuoteAbandoned(
        self, request: pb.RecordQuoteAbandonedRequest, context: Any
    ) -> pb.Visit:
        facts, now = await self._book(request)
        validation.require_ids(visit_id=request.visit_id)
        command = RecordQuoteAbandoned(
            store=facts,
            day=self._day(request, facts, now),
            visit_id=request.visit_id,
            quote_fen=request.quote_fen,
            at=now,
        )
        return visit_message(
            await self.capacity.visit(command, request.request_id, defaulted_day=not request.day)
        )

    # Slot holds

    @access.store_in("store_id", "hold a slot")
    async def HoldSlot(self, request: pb.HoldSlotRequest, context: Any) -> pb.SlotHold:
        facts, now = await self._book(request)
        command = slot_hold(request, facts, now)
        return hold_message(await self.capacity.hold_slot(command, request.request_id))

    @access.store_in("store_id", "confirm a slot hold")
    async def ConfirmSlotHold(
        self, request: pb.ConfirmSlotHoldRequest, context: Any
    ) -> pb.Appointment:
        facts, now = await self._book(request)
        validation.require_ids(hold_id=request.hold_id)
        command = ConfirmSlotHold(
            store=facts,
            day=self._day(request, facts, now),
            hold_id=request.hold_id,
            appointment_id=request.appointment_id or request.hold_id,
            at=now,
        )
        return appointment_message(
            await self.capacity.confirm_hold(
                command, request.request_id, defaulted_day=not request.day
            )
        )

    @access.store_in("store_id", "release a slot hold")
    async def ReleaseSlotHold(
        self, request: pb.ReleaseSlotHoldRequest, context: Any
    ) -> pb.SlotHold:
        facts, now = await self._book(request)
        validation.require_ids(hold_id=request.hold_id)
        command = ReleaseSlotHold(
            store=facts,
            day=self._day(request, facts, now),
            hold_id=request.hold_id,
            reason=request.reason,
            at=now,
        )
        return hold_message(
            await self.capacity.release_hold(
                command, request.request_id, defaulted_day=not request.day
            )
        )

    # Waiting and overload

    @access.store_in("store_id", "assess the wait")
    async def AssessWait(self, request: pb.AssessWaitRequest, context: Any) -> pb.WaitEstimate:
        facts, now = await self._book(request)
        command = AssessWait(store=facts, day=local_day(now, facts.time_zone), at=now)
        estimate = await self.capacity.assess_wait(command, request.request_id, defaulted_day=True)
        return reply(estimate, pb.WaitEstimate)  # type: ignore[no-any-return]

    @access.anyone_signed_in
    async def GetWaitEstimate(
        self, request: pb.GetWaitEstimateRequest, context: Any
    ) -> pb.WaitEstimate:
        checked(request, mutation=False)
        estimate = await self.queries.wait_estimate(request.store_id)
        return reply(estimate, pb.WaitEstimate)  # type: ignore[no-any-return]

    @access.store_in("store_id", "forecast capacity pressure")
    async def ForecastCapacityPressure(
        self, request: pb.ForecastCapacityPressureRequest, context: Any
    ) -> pb.CapacityForecast:
        checked(request)
        command = ForecastPressure(store_id=request.store_id, at=self._now())
        forecast = await self.capacity.forecast_pressure(command, request.request_id)
        return reply(forecast, pb.CapacityForecast)  # type: ignore[no-any-return]

    # The capacity monitor

    @access.anyone_signed_in
    async def GetDayView(self, request: pb.GetDayViewRequest, context: Any) -> pb.DayView:
        checked(request, mutation=False)
        day = optional_day("day", request.day)
        return day_view_message(await self.queries.day_view(request.store_id, day))

    @access.anyone_signed_in
    async def GetNetworkDayView(
        self, request: pb.GetNetworkDayViewRequest, context: Any
    ) -> pb.NetworkDayView:
        v = Violations()
        validation.text(v, "region", request.region, required=False)
        if not 0 <= request.page_size <= MAX_NETWORK_PAGE:
            v.add("page_size", f"must be from 1 to {MAX_NETWORK_PAGE} (0: every store)")
        v.raise_if_any()
        day = parse_day("day", request.day, local_day(self._now(), DEFAULT_TIME_ZONE))
        query = {"list": "network_day", "day": day.isoformat(), "region": request.region}
        pages = paging.PageQuery.of(query, paging.text)
        after = pages.after(request.page_token)
        network = await self.queries.network_day(day, request.region)
        views = network.stores
        if after:
            views = [view for view in views if view.store_id > after[0]]
        token = ""
        if request.page_size:
            views, token = pages.cut(views, request.page_size, lambda view: (view.store_id,))
        return network_day_message(day, network.totals, views, token)
