"""Store comparison (对标): a store within its peer group (asked of capacity), against its own
past months, and against a benchmark. Values are the KPI of the projected facts, with the
month's operating report for a month."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import IntEnum
from fractions import Fraction
from typing import Protocol

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from kernel.application import Application
from kernel.errors import NotFound
from kernel.validation import EARLIEST_DAY
from services.analytics import network_model as model
from services.analytics.domain import indicators
from services.analytics.domain.comparison import (
    Benchmark,
    Horizontal,
    ServiceLine,
    Structure,
    Vertical,
    benchmark,
    horizontal,
    structure,
    vertical,
)
from services.analytics.domain.kpis import indicator_values
from services.analytics.domain.periods import Period, PeriodKind
from services.analytics.queries_kpis import KpiQueries, Window, _report_in_force
from services.analytics.queries_warnings import _target


class PeerFacet(IntEnum):
    """What a peer group matches on (capacity's GetPeerGroup facets; none: all four)."""

    SIZE = 1
    LOCATION_TIER = 2
    AGE = 3
    CUSTOMER_SEGMENT = 4


class PeerGroups(Protocol):
    """Capacity's peer groups (GetPeerGroup): the open stores compared with a store."""

    async def peers(
        self, store_id: str, as_of: str, facets: Sequence[PeerFacet] = ()
    ) -> list[str]: ...


class Source(IntEnum):
    GIVEN = 1
    TARGET = 2
    PEER_BEST = 3


@dataclass(frozen=True)
class HorizontalView:
    peer_store_ids: list[str]
    comparison: Horizontal | None


@dataclass(frozen=True)
class BenchmarkView:
    found: Benchmark
    source: Source
    volume: Fraction


class ComparisonQueries:
    def __init__(self, app: Application, kpis: KpiQueries, peer_groups: PeerGroups | None) -> None:
        self.app = app
        self.kpis = kpis
        self.peer_groups = peer_groups

    async def values(
        self,
        conn: AsyncConnection,
        store_ids: list[str],
        code: str,
        period: Period,
        as_of: date,
        cutoff: datetime | None = None,
    ) -> dict[str, Fraction]:
        """The indicator of each store over the period's days up to `as_of`, with the
        reports in force before `cutoff` (None: now; `KpiQueries.cutoff`)."""
        window = Window.of(period, as_of)
        per_store = await self.kpis.facts_by_store(conn, store_ids, window)
        # The days so far, as GetKpis counts them (technician efficiency is per day).
        days = len(window.days())
        found = {}
        for store_id in store_ids:
            facts = per_store.get(store_id)
            if facts is None:
                continue
            report = (
                await _report_in_force(conn, store_id, period, cutoff)
                if period.kind in (PeriodKind.MONTH, PeriodKind.DAY)
                else None
            )
            value = indicator_values(facts, report, days).get(code)
            if value is not None:
                found[store_id] = value
        return found

    async def horizontal(
        self,
        store_id: str,
        code: str,
        period: Period,
        as_of: date,
        facets: Sequence[PeerFacet] = (),
    ) -> HorizontalView:
        peers = await self._peers(store_id, as_of, facets)
        cutoff = self.kpis.cutoff(as_of)
        values = await self.app.query(
            lambda conn: self.values(conn, peers, code, period, as_of, cutoff)
        )
        return HorizontalView(peers, horizontal(indicators.BY_CODE[code].direction, values))

    async def vertical(
        self, store_id: str, code: str, through: Period, months: int, as_of: date
    ) -> Vertical:
        """The months up to `through`, as they stood on `as_of`: a month not begun by then
        is left out, the month of `as_of` counts its days up to it."""
        series_months = [through]
        for _ in range(months - 1):
            if series_months[0].start <= EARLIEST_DAY:
                break  # the calendar's first month a request may name: none before it
            before = series_months[0].start - timedelta(days=1)
            series_months.insert(0, Period.month(before.year, before.month))
        series_months = [m for m in series_months if m.start <= as_of]
        cutoff = self.kpis.cutoff(as_of)

        async def fetch(conn: AsyncConnection) -> list[tuple[Period, Fraction]]:
            series = []
            for month in series_months:
                found = await self.values(
                    conn, [store_id], code, month, min(month.end, as_of), cutoff
                )
                if store_id in found:
                    series.append((month, found[store_id]))
            return series

        found = vertical(indicators.BY_CODE[code].direction, await self.app.query(fetch))
        if found is None:
            raise NotFound("figures", f"{store_id}/{code}/{through.key}")
        return found

    async def benchmark(
        self,
        store_id: str,
        code: str,
        period: Period,
        given: Fraction | None,
        as_of: date,
        facets: Sequence[PeerFacet] = (),
    ) -> BenchmarkView:
        direction = indicators.BY_CODE[code].direction
        cutoff = self.kpis.cutoff(as_of)

        async def fetch(conn: AsyncConnection) -> tuple[Fraction | None, Fraction | None, Fraction]:
            own = await self.values(conn, [store_id], code, period, as_of, cutoff)
            target = await _target(conn, store_id, code, period, cutoff)
            volume = await self._volume(conn, store_id, code, period, as_of, cutoff)
            return own.get(store_id), target, volume

        value, target, volume = await self.app.query(fetch)
        if value is None:
            raise NotFound("figures", f"{store_id}/{code}/{period.key}")
        if given is not None:
            against, source = given, Source.GIVEN
        elif target is not None:
            against, source = target, Source.TARGET
        else:
            peers = await self.horizontal(store_id, code, period, as_of, facets)
            if peers.comparison is None:
                raise NotFound("benchmark", f"{store_id}/{code}/{period.key}")
            against, source = peers.comparison.best.value, Source.PEER_BEST
        return BenchmarkView(benchmark(direction, value, against, volume), source, volume)

    async def structure(self, store_id: str, period: Period, as_of: date) -> Structure:
        window = Window.of(period, as_of)
        return structure(await self.app.query(lambda conn: service_lines(conn, store_id, window)))

    async def _volume(
        self,
        conn: AsyncConnection,
        store_id: str,
        code: str,
        period: Period,
        as_of: date,
        cutoff: datetime | None,
    ) -> Fraction:
        """What a gap applies to: employees for revenue per employee, vehicles for the
        average ticket; 1 otherwise."""
        if code == "revenue_per_employee":
            report = await _report_in_force(conn, store_id, period, cutoff)
            return Fraction(report.headcount if report else 0)
        if code == "average_ticket":
            facts = await self.kpis.facts(conn, [store_id], Window.of(period, as_of))
            return Fraction(facts.vehicles_in)
        return Fraction(1)

    async def _peers(self, store_id: str, as_of: date, facets: Sequence[PeerFacet]) -> list[str]:
        if self.peer_groups is None:
            return [store_id]
        return await self.peer_groups.peers(store_id, as_of.isoformat(), facets)


async def service_lines(conn: AsyncConnection, store_id: str, window: Window) -> list[ServiceLine]:
    """Completed visits and their revenue per service type over the window."""
    c = model.service_lines.c
    query = (
        select(c.service_type, func.sum(c.vehicles), func.sum(c.revenue_fen))
        .where(c.store_id == store_id, c.day >= window.start, c.day < window.end)
        .group_by(c.service_type)
    )
    return [
        ServiceLine(service_type=t, vehicles=int(n), revenue_fen=int(r))
        for t, n, r in await conn.execute(query)
    ]
