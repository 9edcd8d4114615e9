"""The contribution ranking and the support champions, from collab's ContributionRecorded
and workforce's SupportCompleted (projected in network_model), as they stand or as
published when the period closed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from fractions import Fraction
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from kernel.application import Application
from kernel.codec import from_json
from services.analytics import network_model as model
from services.analytics.domain import indicators
from services.analytics.domain.contribution import (
    Act,
    Champion,
    Contribution,
    Standing,
    StoreScore,
    Support,
    is_own_result,
    ranking,
    store_score,
    support_champions,
)
from services.analytics.domain.kpis import indicator_values
from services.analytics.domain.periods import Period
from services.analytics.domain.targets import attainment
from services.analytics.queries_as_of import targets_in_force
from services.analytics.queries_kpis import KpiQueries, Window, _report_in_force
from services.analytics.read_model import published

# collab's act names (ContributionRecorded.act, as collab's domain spells them) in the
# domain's words; an act missing here is left out of the ranking, points and all.
ACTS = {
    "transfer": Act.PARTS_TRANSFER,
    "support": Act.TECHNICIAN_SUPPORT,
    "diversion": Act.DIVERSION_RECEIVED,
    "revitalisation": Act.STALE_STOCK_REVITALISED,
}


@dataclass(frozen=True)
class RankingRow:
    standing: Standing
    acts: dict[Act, int]
    score: StoreScore


@dataclass(frozen=True)
class Ranking:
    month: Period
    published: bool
    rows: list[RankingRow]


class ContributionQueries:
    def __init__(self, app: Application, kpis: KpiQueries) -> None:
        self.app = app
        self.kpis = kpis

    def _local(self, moment: datetime) -> datetime:
        zone = getattr(self.app.clock, "zone", None)
        return moment.astimezone(zone) if zone is not None else moment

    async def contributions(
        self, conn: AsyncConnection, month: Period, through: date | None = None
    ) -> list[Contribution]:
        """The month's acts (up to `through`, inclusive, when given)."""
        c = model.contributions.c
        query = select(model.contributions).where(c.day >= month.start, c.day < month.end)
        if through is not None:
            query = query.where(c.day <= through)
        return [
            Contribution(
                act_id=f"{r.saga}/{r.saga_id}/{r.store_id}",
                act=ACTS[r.act],
                store_id=r.store_id,
                # The business zone's calendar decides the month an act counts in.
                occurred_at=self._local(r.occurred_at),
            )
            for r in await conn.execute(query)
            if r.act in ACTS
        ]

    async def standings(self, month: Period) -> tuple[Standing, ...]:
        async def fetch(conn: AsyncConnection) -> tuple[Standing, ...]:
            return ranking(await self.contributions(conn, month), month)

        return await self.app.query(fetch)

    async def ranking(self, month: Period, region: str, as_of: date | None = None) -> Ranking:
        """The month's ranking: as published, else the standings so far; as it stood at
        the end of `as_of` when given (its acts up to it, published by then)."""
        cutoff = None if as_of is None else self.kpis.cutoff(as_of)
        through = month.end if as_of is None else min(month.end, as_of)
        # The month's days so far, as GetKpis counts them (technician efficiency is per day).
        today = self.app.clock.business_day(self.app.clock.now())
        days = len(Window.of(month, min(through, today)).days())

        async def fetch(conn: AsyncConnection) -> Ranking:
            acts = await self.contributions(conn, month, through)
            found = await _published(conn, month, "ranking", cutoff)
            standings = (
                tuple(from_json(found, tuple[Standing, ...]))
                if found is not None
                else ranking(acts, month)
            )
            # The network's best: a store's score is the same whichever region lists it,
            # and a region's rows keep their network positions and rewards.
            best = max((x.points for x in standings), default=0)
            if region:
                s = model.stores.c
                query = select(s.store_id).where(s.region == region)
                members = set((await conn.execute(query)).scalars())
                standings = tuple(x for x in standings if x.store_id in members)
            per_store = await self.kpis.facts_by_store(
                conn, [x.store_id for x in standings], Window.of(month, through)
            )
            rows = []
            for x in standings:
                counts = {act: 0 for act in Act}
                for a in acts:
                    if a.store_id == x.store_id:
                        counts[a.act] += 1
                facts = per_store.get(x.store_id)
                score = await self._score(conn, x, month, facts, best, cutoff, days)
                rows.append(RankingRow(x, counts, score))
            return Ranking(month, found is not None, rows)

        return await self.app.query(fetch)

    async def _score(
        self,
        conn: AsyncConnection,
        x: Standing,
        month: Period,
        facts: Any,
        best: int,
        cutoff: datetime | None = None,
        days: int = 0,
    ) -> StoreScore:
        """50% own results (attainment of the month's targets), 30% collaboration, 20% CSI;
        the report and targets in force before `cutoff` (None: now), `days` the month's
        days so far."""
        report = await _report_in_force(conn, x.store_id, month, cutoff)
        values = indicator_values(facts, report, days) if facts is not None else {}
        t = targets_in_force(cutoff is not None).c
        query = select(t.indicator, t.exact).where(
            t.store_id == x.store_id,
            t.period_kind == int(month.kind),
            t.period_start == month.start,
        )
        params = {} if cutoff is None else {"cutoff": cutoff}
        attainments = [
            attainment(indicators.BY_CODE[code].direction, values[code], Fraction(exact))
            for code, exact in await conn.execute(query, params)
            if code in values
            and code in indicators.BY_CODE
            and is_own_result(code)
            and Fraction(exact)
        ]
        return store_score(attainments, x.points, best, values.get("csi"))

    async def champions(
        self, period: Period, as_of: date | None = None
    ) -> tuple[bool, tuple[Champion, ...]]:
        """The period's champions as named, else so far; as they stood at the end of
        `as_of` when given (supports up to it, named by then)."""
        cutoff = None if as_of is None else self.kpis.cutoff(as_of)

        async def fetch(conn: AsyncConnection) -> tuple[bool, tuple[Champion, ...]]:
            found = await _published(conn, period, "champions", cutoff)
            if found is not None:
                return True, tuple(from_json(found, tuple[Champion, ...]))
            supports = await self.supports(conn, period, as_of)
            return False, support_champions(supports, period)

        return await self.app.query(fetch)

    async def supports(
        self, conn: AsyncConnection, period: Period, through: date | None = None
    ) -> Sequence[Support]:
        s = model.supports.c
        query = select(model.supports).where(s.day >= period.start, s.day < period.end)
        if through is not None:
            query = query.where(s.day <= through)
        return [
            Support(
                support_id=r.support_id,
                technician_id=r.technician_id,
                home_store_id=r.home_store_id,
                # Noon of its business day: the period test reads the date only.
                occurred_at=datetime(r.day.year, r.day.month, r.day.day, 12),
            )
            for r in await conn.execute(query)
        ]

    async def last_published_month(self, as_of: date | None = None) -> Period | None:
        """The last month whose ranking was published (by the end of `as_of`)."""
        p = published.c
        query = (
            select(p.period_kind, p.period_start)
            .where(p.what == "ranking")
            .order_by(p.period_start.desc())
            .limit(1)
        )
        cutoff = None if as_of is None else self.kpis.cutoff(as_of)
        if cutoff is not None:
            query = query.where(p.published_at < cutoff)

        async def fetch(conn: AsyncConnection) -> Period | None:
            row = (await conn.execute(query)).first()
            return (
                None if row is None else Period.month(row.period_start.year, row.period_start.month)
            )

        return await self.app.query(fetch)


async def _published(
    conn: AsyncConnection, period: Period, what: str, cutoff: datetime | None = None
) -> Any:
    """The body published for the period (before `cutoff`, when given), or None."""
    p = published.c
    query = select(p.body).where(
        p.period_kind == int(period.kind), p.period_start == period.start, p.what == what
    )
    if cutoff is not None:
        query = query.where(p.published_at < cutoff)
    return (await conn.execute(query)).scalar()
