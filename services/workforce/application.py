"""Workforce command handlers and queries: load the technician, check the caller, decide, record.

Every command runs on one technician's stream, so two concurrent holds of one technician
race on its version: the loser's transaction is retried by the Application, decides again
on the winner's events and is refused with SUPPORT_OVERLAP. An unconfirmed hold expires by
a durable timer armed with the hold and disarmed when the support is confirmed, cancelled
or expired.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from kernel.application import Aggregate, Application, Executed, UnitOfWork
from kernel.errors import NotFound
from kernel.store_directory import require_open_store
from services.workforce import queries
from services.workforce.domain.availability import TimeWindow
from services.workforce.domain.capability import Level
from services.workforce.domain.commands import (
    CancelSupport,
    CheckInSupport,
    CompleteSupport,
    ConfirmSupport,
    ExpireSupportHold,
    HoldSupport,
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
from services.workforce.domain.matching import (
    FreeCandidate,
    RankedCandidate,
    StoreLocation,
    SupportNeed,
    rank_free,
)
from services.workforce.domain.state import TechnicianState
from services.workforce.domain.subsidy import subsidy_for
from services.workforce.domain.technician import technician_decider
from services.workforce.domain.utilisation import Utilisation
from services.workforce.queries import HistoryTotals, MapFilter, SupportRecordView
from services.workforce.read_model import SupportView, TechnicianView

EXPIRE_SUPPORT_HOLD = "workforce.expire_support_hold"
# "Who has been lent least lately": supports lent that start within this period (or later).
FAIRNESS_PERIOD = timedelta(days=90)

SupportStep = ConfirmSupport | CheckInSupport | CompleteSupport | CancelSupport | RateSupport


@dataclass(frozen=True)
class MatchedCandidate:
    ranked: RankedCandidate
    recent_supports: int


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
        async def handler(uow: UnitOfWork) -> TechnicianView:
            await require_open_store(uow.conn, command.store_id, "store_id")
            done = await self._decide(uow, command)
            return await self._view(uow.conn, done.state)

        return await self.app.handle(
            command, handler, request_id=request_id, result_type=TechnicianView
        )

    async def change(self, command: TechnicianCommand, request_id: str) -> TechnicianView:
        """Profile, leave, hours and availability: the reply is the technician."""

        async def handler(uow: UnitOfWork) -> TechnicianView:
            if isinstance(command, TransferTechnician):
                await require_open_store(uow.conn, command.to_store_id, "to_store_id")
            done = await self._decide(uow, command)
            return await self._view(uow.conn, done.state)

        return await self.app.handle(
            command, handler, request_id=request_id, result_type=TechnicianView
        )

    async def hold(
        self, command: HoldSupport, request_id: str, *, defaulted_expiry: bool = False
    ) -> SupportView:
        """`defaulted_expiry`: the service chose hold_expires_at from the time of the request,
        so a retry with the same request id is the same request whenever it comes."""

        async def handler(uow: UnitOfWork) -> SupportView:
            await require_open_store(uow.conn, command.host_store_id, "host_store_id")
            done = await self._decide(uow, command)
            return await self._support_view(uow.conn, done.state, command.support_id)

        return await self.app.handle(
            command,
            handler,
            request_id=request_id,
            result_type=SupportView,
            context_fields=("hold_expires_at",) if defaulted_expiry else (),
        )

    async def support_step(self, command: SupportStep, request_id: str) -> SupportView:
        """Confirm, check in, complete, cancel or rate a support: the reply is the support."""

        async def handler(uow: UnitOfWork) -> SupportView:
            done = await self._decide(uow, command)
            return await self._support_view(uow.conn, done.state, command.support_id)

        return await self.app.handle(
            command, handler, request_id=request_id, result_type=SupportView
        )

    async def expire_hold(self, uow: UnitOfWork, payload: dict[str, str]) -> None:
        """The durable timer of a hold fired; the domain ignores a hold that moved on."""
        command = ExpireSupportHold(
            technician_id=payload["technician_id"],
            support_id=payload["support_id"],
            at=uow.clock.now(),
        )
        await self._decide(uow, command)

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
        return TechnicianView.of(state, await queries.region_of(conn, state.store_id), self.now())

    async def _support_view(
        self, conn: AsyncConnection, state: TechnicianState, support_id: str
    ) -> SupportView:
        support = state.support(support_id)
        if support is None:
            raise NotFound("support", support_id)
        view = SupportView.of(state.technician_id, support)
        places = await queries.store_locations(conn, (support.home_store_id, support.host_store_id))
        home, host = places.get(support.home_store_id), places.get(support.host_store_id)
        if home is None or host is None:
            return view
        distance = home.km_to(host)
        return replace(view, distance_km=distance, subsidy=subsidy_for(distance))

    # Queries

    async def parties(self, technician_id: str, support_id: str = "") -> list[str]:
        """The technician's home store, then the host store of its support `support_id`;
        empty for a technician nobody registered (the command answers NOT_FOUND)."""
        found = await self.app.query(lambda conn: queries.technician_state(conn, technician_id))
        if found is None:
            return []
        state = found[0]
        support = state.support(support_id) if support_id else None
        return [state.store_id] + ([support.host_store_id] if support else [])

    async def technician(self, technician_id: str) -> TechnicianView:
        found = await self.app.query(lambda conn: queries.technician_state(conn, technician_id))
        if found is None:
            raise NotFound("technician", technician_id)
        state, region = found
        return TechnicianView.of(state, region, self.now())

    async def capability_map(
        self, f: MapFilter, after: str | None, limit: int
    ) -> list[TechnicianView]:
        now = self.now()
        rows = await self.app.query(lambda conn: queries.capability_map(conn, f, now, after, limit))
        return [TechnicianView.of(state, region, now) for state, region in rows]

    async def match(
        self,
        *,
        requesting_store_id: str,
        specialty: str,
        minimum_level: Level,
        window: TimeWindow,
    ) -> list[MatchedCandidate]:
        """Everyone who could be held for the need, best first (SOP 2 step 1)."""
        now = self.now()

        async def fetch(conn: AsyncConnection) -> tuple[StoreLocation | None, list[FreeCandidate]]:
            known, location = await queries.requesting_store(conn, requesting_store_id)
            if not known:
                raise NotFound("store", requesting_store_id)
            candidates = await queries.match_candidates(
                conn,
                specialty=specialty,
                minimum_level=minimum_level,
                window=window,
                requesting_store_id=requesting_store_id,
                now=now,
                lent_since=now - FAIRNESS_PERIOD,
            )
            return location, candidates

        location, candidates = await self.app.query(fetch)
        need = SupportNeed(
            specialty=specialty,
            minimum_level=minimum_level,
            starts_at=window.starts_at,
            ends_at=window.ends_at,
            requesting_store_id=requesting_store_id,
            requesting_store=location,
            at=now,
        )
        lent = {c.technician_id: c.recent_supports for c in candidates}
        return [MatchedCandidate(r, lent[r.technician_id]) for r in rank_free(need, candidates)]

    async def history(
        self, technician_id: str, after: tuple[datetime, str] | None, limit: int
    ) -> tuple[HistoryTotals, list[SupportRecordView]]:
        async def fetch(conn: AsyncConnection) -> tuple[HistoryTotals, list[SupportRecordView]]:
            if await queries.technician_state(conn, technician_id) is None:
                raise NotFound("technician", technician_id)
            totals = await queries.history_totals(conn, technician_id)
            return totals, await queries.support_records(conn, technician_id, after, limit)

        return await self.app.query(fetch)

    async def utilisation(
        self, *, technician_id: str, store_id: str, first: date, last: date
    ) -> Utilisation:
        async def fetch(conn: AsyncConnection) -> tuple[float, float]:
            if technician_id and await queries.technician_state(conn, technician_id) is None:
                raise NotFound("technician", technician_id)
            return await queries.hours_between(
                conn, technician_id=technician_id, store_id=store_id, first=first, last=last
            )

        productive, available = await self.app.query(fetch)
        return Utilisation(productive_hours=productive, available_hours=available)
