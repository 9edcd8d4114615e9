"""Workforce command handlers and queries: load the technician, check the caller, decide, record.

Every command runs on one technician's stream, so two concurrent holds of one technician
race on its version: the loser's transaction is retried by the Application, decides again
on the winner's events and is refused with SUPPORT_OVERLAP. An unconfirmed hold expires by
a durable timer armed with the hold and disarmed when the support is confirmed, cancelled
or expired.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection

from kernel.application import Aggregate, Application, Executed, UnitOfWork
from kernel.errors import NotFound
from kernel.store_directory import require_open_store
from services.workforce.domain.commands import (
    CancelSupport,
    CheckInSupport,
    CompleteSupport,
    ConfirmSupport,
    ExpireSupportHold,
    HoldSupport,
    LogProductiveHours,
    RateSupport,
    RegisterTechnician,
    TechnicianCommand,
    TransferTechnician,
)
from services.workforce.domain.events import (
    SupportCancelled,
    SupportConfirmed,
    SupportEvent,
    SupportHeld,
    SupportHoldExpired,
    TechnicianEvent,
)
from services.workforce.domain.lead_time import LeadTimePolicy
from services.workforce.domain.state import TechnicianState
from services.workforce.domain.subsidy import subsidy_for
from services.workforce.domain.technician import technician_decider
from services.workforce.read_model import SupportView, TechnicianView, lookups

R = TypeVar("R")
EXPIRE_SUPPORT_HOLD = "workforce.expire_support_hold"


SupportStep = ConfirmSupport | CheckInSupport | CompleteSupport | CancelSupport | RateSupport


# The reply a command's handler builds from the technician's new state.
Reply = Callable[[AsyncConnection, TechnicianState], Awaitable[R]]
# Completes a command with facts read in its transaction, before it is decided.
Fill = Callable[[AsyncConnection, Any], Awaitable[Any]]


async def _logged_that_day(conn: AsyncConnection, command: LogProductiveHours) -> Any:
    """The productive hours the technician's logs of the day add up to so far. The inline
    projection keeps them in the same transaction as the events, and two logs of one
    technician race on its stream, so the loser reads the winner's hours on its retry."""
    productive, _ = await lookups.hours_between(
        conn, technician_id=command.technician_id, store_id="", first=command.day, last=command.day
    )
    return replace(command, logged_that_day=productive)


class Workforce:
    def __init__(self, app: Application, lead_time: LeadTimePolicy | None = None) -> None:
        self.app = app
        self.technicians: Aggregate[Any] = Aggregate(
            "technician",
            technician_decider(lead_time),
            TechnicianState,
            store_of=lambda e: e.store_id,
            snapshot_every=50,
        )

    def now(self) -> datetime:
        return self.app.clock.now()

    # Commands

    async def register(self, command: RegisterTechnician, request_id: str) -> TechnicianView:
        opens = ("store_id", command.store_id)
        return await self._on_technician(command, request_id, self._view, TechnicianView, opens)

    async def change(self, command: TechnicianCommand, request_id: str) -> TechnicianView:
        """Profile, leave, hours and availability: the reply is the technician."""
        opens = None
        if isinstance(command, TransferTechnician):  # the store it moves to must be open
            opens = ("to_store_id", command.to_store_id)
        if isinstance(command, LogProductiveHours):
            return await self._on_technician(
                command,
                request_id,
                self._view,
                TechnicianView,
                context_fields=("logged_that_day",),
                fill=_logged_that_day,
            )
        return await self._on_technician(command, request_id, self._view, TechnicianView, opens)

    async def hold(
        self, command: HoldSupport, request_id: str, *, defaulted_expiry: bool = False
    ) -> SupportView:
        """`defaulted_expiry`: the service chose hold_expires_at from the time of the request,
        so a retry with the same request id is the same request whenever it comes."""
        # A hold without requested_at is fingerprinted as before the field existed, so one
        # logged by that version and retried now (a saga call kept in collab's outbox, a
        # DMS's retry) replays its answer instead of being refused REQUEST_ID_REUSED.
        left_out = ("hold_expires_at",) if defaulted_expiry else ()
        if command.requested_at is None:
            left_out = (*left_out, "requested_at")
        return await self._on_technician(
            command,
            request_id,
            self._support_view(command.support_id),
            SupportView,
            ("host_store_id", command.host_store_id),
            context_fields=left_out,
        )

    async def support_step(self, command: SupportStep, request_id: str) -> SupportView:
        """Confirm, check in, complete, cancel or rate a support: the reply is the support."""
        reply = self._support_view(command.support_id)
        return await self._on_technician(command, request_id, reply, SupportView)

    async def expire_hold(self, uow: UnitOfWork, payload: dict[str, str]) -> None:
        """The durable timer of a hold fired; the domain ignores a hold that moved on."""
        command = ExpireSupportHold(
            technician_id=payload["technician_id"],
            support_id=payload["support_id"],
            at=uow.clock.now(),
        )
        await self._decide(uow, command)

    async def _on_technician(
        self,
        command: TechnicianCommand,
        request_id: str,
        reply: Reply[R],
        result_type: type[R],
        opens: tuple[str, str] | None = None,
        *,
        context_fields: Sequence[str] = (),
        fill: Fill | None = None,
    ) -> R:
        """Load, decide, record once per request id; `opens` names a store (field, code) that
        must be open in the store directory; `fill` completes the command with facts read
        in its own transaction (named in `context_fields`)."""

        async def handler(uow: UnitOfWork) -> R:
            if opens is not None:
                await require_open_store(uow.conn, opens[1], opens[0])
            filled = command if fill is None else await fill(uow.conn, command)
            done = await self._decide(uow, filled)
            return await reply(uow.conn, done.state)

        return await self.app.handle(
            command,
            handler,
            request_id=request_id,
            result_type=result_type,
            context_fields=context_fields,
        )

    async def _decide(
        self, uow: UnitOfWork, command: TechnicianCommand
    ) -> Executed[TechnicianState]:
        loaded = await uow.load(self.technicians, self.technicians.stream_id(command.technician_id))
        events: list[TechnicianEvent] = list(self.technicians.decider.decide(command, loaded.state))
        state = await uow.record(self.technicians, loaded, events)
        await self._follow_holds(uow, events)
        return Executed(events, state)

    async def _follow_holds(self, uow: UnitOfWork, events: Sequence[TechnicianEvent]) -> None:
        """A hold arms its expiry timer; confirming, cancelling or expiring it disarms it."""
        for e in events:
            if not isinstance(e, SupportEvent):
                continue
            timer_id = f"support-hold/{e.technician_id}/{e.support_id}"
            if isinstance(e, SupportHeld):
                payload = {"technician_id": e.technician_id, "support_id": e.support_id}
                await uow.schedule(timer_id, EXPIRE_SUPPORT_HOLD, e.hold_expires_at, payload)
            elif isinstance(e, SupportConfirmed | SupportCancelled | SupportHoldExpired):
                await uow.cancel_timer(timer_id)

    async def _view(self, conn: AsyncConnection, state: TechnicianState) -> TechnicianView:
        return TechnicianView.of(state, await lookups.region_of(conn, state.store_id), self.now())

    def _support_view(self, support_id: str) -> Reply[SupportView]:
        async def view_of(conn: AsyncConnection, state: TechnicianState) -> SupportView:
            support = state.support(support_id)
            if support is None:
                raise NotFound("support", support_id)
            view = SupportView.of(state.technician_id, support)
            parties = (support.home_store_id, support.host_store_id)
            places = await lookups.store_locations(conn, parties)
            home, host = places.get(support.home_store_id), places.get(support.host_store_id)
            if home is None or host is None:
                return view
            distance = home.km_to(host)
            return replace(view, distance_km=distance, subsidy=subsidy_for(distance))

        return view_of
