"""Workforce's read side: what the servicer asks, over Application.query and the read model."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from kernel.application import Application
from kernel.errors import NotFound
from services.workforce.domain.availability import TimeWindow
from services.workforce.domain.capability import Level
from services.workforce.domain.matching import (
    RankedCandidate,
    RankKey,
    SupportNeed,
    rank_page,
)
from services.workforce.domain.utilisation import Utilisation
from services.workforce.read_model import lookups
from services.workforce.read_model.lookups import HistoryTotals, MapFilter, SupportRecordView
from services.workforce.read_model.tables import TechnicianView

# "Who has been lent least lately": supports lent that start within this period (or later).
FAIRNESS_PERIOD = timedelta(days=90)


@dataclass(frozen=True)
class MatchedCandidate:
    ranked: RankedCandidate
    recent_supports: int


class WorkforceQueries:
    def __init__(self, app: Application) -> None:
        self.app = app

    def now(self) -> datetime:
        return self.app.clock.now()

    async def parties(self, technician_id: str, support_id: str = "") -> list[str]:
        """The technician's home store, then the host store of its support `support_id`
        (ended ones too: the current state leaves them out, the supports table keeps them);
        empty for a technician nobody registered (the command answers NOT_FOUND)."""

        async def fetch(conn: AsyncConnection) -> list[str]:
            found = await lookups.technician_state(conn, technician_id)
            if found is None:
                return []
            host = await lookups.host_of(conn, technician_id, support_id) if support_id else None
            return [found[0].store_id] + ([host] if host else [])

        return await self.app.query(fetch)

    async def technician(self, technician_id: str) -> TechnicianView:
        found = await self.app.query(lambda conn: lookups.technician_state(conn, technician_id))
        if found is None:
            raise NotFound("technician", technician_id)
        state, region = found
        return TechnicianView.of(state, region, self.now())

    async def capability_map(
        self, f: MapFilter, after: str | None, limit: int
    ) -> list[TechnicianView]:
        now = self.now()
        rows = await self.app.query(lambda conn: lookups.capability_map(conn, f, now, after, limit))
        return [TechnicianView.of(state, region, now) for state, region in rows]

    async def match(
        self,
        *,
        requesting_store_id: str,
        specialty: str,
        minimum_level: Level,
        window: TimeWindow,
        after: RankKey | None = None,
        limit: int | None = None,
    ) -> list[MatchedCandidate]:
        """Everyone who could be held for the need, best first (SOP 2 step 1); with `after`
        (the rank key of the last one seen) only those ranked after it, with `limit` at most
        that many."""
        now = self.now()
        # One statement on the kernel's read path (no BEGIN/COMMIT, no SQLAlchemy execution):
        # the candidates and the requesting store's location come from one snapshot. The
        # fallback, when nobody was found or the directory has no location, reads only the
        # store directory; under READ COMMITTED the transaction it replaced gave each
        # statement its own snapshot too.
        async with self.app.db.reader("query match_support") as reader:
            found = await lookups.match_candidates(
                reader,
                specialty=specialty,
                minimum_level=minimum_level,
                window=window,
                requesting_store_id=requesting_store_id,
                now=now,
                lent_since=now - FAIRNESS_PERIOD,
            )
        location = found.requesting_store
        if location is None:
            known, location = await self.app.query(
                lambda conn: lookups.requesting_store(conn, requesting_store_id)
            )
            if not known:
                raise NotFound("store", requesting_store_id)
        candidates = found.candidates
        need = SupportNeed(
            specialty=specialty,
            minimum_level=minimum_level,
            starts_at=window.starts_at,
            ends_at=window.ends_at,
            requesting_store_id=requesting_store_id,
            requesting_store=location,
            at=now,
        )
        ranked = rank_page(need, candidates, after=after, limit=limit)
        return [MatchedCandidate(r, r.recent_supports) for r in ranked]

    async def history(
        self, technician_id: str, after: tuple[datetime, str] | None, limit: int
    ) -> tuple[HistoryTotals, list[SupportRecordView]]:
        async def fetch(conn: AsyncConnection) -> tuple[HistoryTotals, list[SupportRecordView]]:
            if await lookups.technician_state(conn, technician_id) is None:
                raise NotFound("technician", technician_id)
            totals = await lookups.history_totals(conn, technician_id)
            return totals, await lookups.support_records(conn, technician_id, after, limit)

        return await self.app.query(fetch)

    async def utilisation(
        self, *, technician_id: str, store_id: str, first: date, last: date
    ) -> Utilisation:
        async def fetch(conn: AsyncConnection) -> tuple[float, float]:
            if technician_id and await lookups.technician_state(conn, technician_id) is None:
                raise NotFound("technician", technician_id)
            return await lookups.hours_between(
                conn, technician_id=technician_id, store_id=store_id, first=first, last=last
            )

        productive, available = await self.app.query(fetch)
        return Utilisation(productive_hours=productive, available_hours=available)
