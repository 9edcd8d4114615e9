"""The pilot comparison (试点): HQ's recorded participation (analytics_pilot) against the KPI
analytics computes for comparisons, split and compared by domain/pilot.py."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from fractions import Fraction

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from kernel.application import Application
from kernel.store_directory import store_directory
from services.analytics import read_model
from services.analytics.domain.periods import Period
from services.analytics.domain.pilot import (
    BeforeAfter,
    Participation,
    PilotSplit,
    before_after,
    compare_groups,
    split,
    window_start,
)
from services.analytics.queries_comparison import ComparisonQueries

DEFAULT_WINDOW_DAYS = 30


@dataclass(frozen=True)
class PilotView:
    on: date  # the day the stores were split on
    split: PilotSplit
    participants_mean: Fraction | None
    not_yet_mean: Fraction | None
    stores: list[tuple[str, BeforeAfter]]


class PilotQueries:
    def __init__(self, app: Application, comparison: ComparisonQueries) -> None:
        self.app = app
        self.comparison = comparison

    async def participation(self, store_id: str) -> Participation | None:
        async def fetch(conn: AsyncConnection) -> Participation | None:
            found = await _participations(conn)
            return found.get(store_id)

        return await self.app.query(fetch)

    async def pilot(
        self, code: str, period: Period, region: str, window_days: int, today: date
    ) -> PilotView:
        """Participants against the others on the period's last day (`today`, the as-of
        day, if the period is not over by then); each participant's daily values either
        side of its joining day, up to `today`, with the reports in force at its end."""
        on = min(period.end - timedelta(days=1), today)
        cutoff = self.comparison.kpis.cutoff(today)

        async def fetch(conn: AsyncConnection) -> PilotView:
            # The directory's open stores (what participation is checked against); over the
            # network, also a participant the directory does not hold (yet).
            s = store_directory.c
            listed = select(s.store_id, s.region, s.closed)
            directory = {r.store_id: r for r in await conn.execute(listed)}
            participations = await _participations(conn)
            stores = [
                store_id
                for store_id, r in directory.items()
                if not r.closed and (not region or r.region == region)
            ]
            if not region:
                stores += [p for p in participations if p not in directory]
            split_on = split(stores, participations, on)
            values = await self.comparison.values(conn, stores, code, period, on, cutoff)
            inside, outside = compare_groups(values, split_on)
            daily = await self._daily(conn, code, split_on, participations, window_days, today)
            per_store = [
                (
                    store_id,
                    before_after(
                        participations[store_id].joined_on, daily.get(store_id, {}), window_days
                    ),
                )
                for store_id in split_on.participants
            ]
            return PilotView(on, split_on, inside, outside, per_store)

        return await self.app.query(fetch)

    async def _daily(
        self,
        conn: AsyncConnection,
        code: str,
        split_on: PilotSplit,
        participations: dict[str, Participation],
        window_days: int,
        today: date,
    ) -> dict[str, dict[date, Fraction]]:
        """Each participant's daily value over its window either side of joining, up to
        today: one query round per day for all participants whose window holds it."""
        cutoff = self.comparison.kpis.cutoff(today)
        window = timedelta(days=window_days)
        wanted: dict[date, list[str]] = {}
        for store_id in split_on.participants:
            joined = participations[store_id].joined_on
            day = window_start(joined, window_days)
            while day < joined + window and day <= today:
                wanted.setdefault(day, []).append(store_id)
                day += timedelta(days=1)
        daily: dict[str, dict[date, Fraction]] = {}
        for day in sorted(wanted):
            found = await self.comparison.values(
                conn, wanted[day], code, Period.day(day), day, cutoff
            )
            for store_id, value in found.items():
                daily.setdefault(store_id, {})[day] = value
        return daily


async def _participations(conn: AsyncConnection) -> dict[str, Participation]:
    p = read_model.pilot.c
    rows = await conn.execute(select(p.store_id, p.joined_on, p.left_on))
    return {
        r.store_id: Participation(store_id=r.store_id, joined_on=r.joined_on, left_on=r.left_on)
        for r in rows
    }
