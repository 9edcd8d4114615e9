"""Capacity's read side: what the servicer asks, over Application.query.

Store facts and a day's book are read from their streams (the book is small and always
current); lists and the network view from the read model's tables.
"""

from __future__ import annotations

import time
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from kernel import paging
from kernel.application import Application
from kernel.errors import NotFound
from services.capacity import read_model
from services.capacity.application import (
    BOOKS,
    WaitEstimate,
    book_stream,
    load_store_facts,
    wait_estimate_of,
)
from services.capacity.domain.opening_hours import local_day
from services.capacity.domain.peer_groups import (
    ALL_FACETS,
    PeerFacet,
    PeerGroup,
    peer_group,
    peers,
)
from services.capacity.domain.proximity import StoreDistance, distance_km, nearest_stores
from services.capacity.domain.stores import StoreFacts, StoreState
from services.capacity.domain.utilisation import (
    DayView,
    NetworkDayTotals,
    StoreDay,
    day_view,
    network_totals,
)

FACTS_TTL_SECONDS = 30.0


@dataclass(frozen=True)
class NetworkDay:
    totals: NetworkDayTotals
    stores: list[StoreDay]


@dataclass(frozen=True)
class NearbyStore:
    name: str
    distance: StoreDistance


class CapacityQueries:
    def __init__(self, app: Application) -> None:
        self.app = app
        self._recent_facts: dict[str, tuple[float, StoreFacts]] = {}

    def now(self) -> datetime:
        return self.app.clock.now()

    async def store_facts(self, store_id: str) -> StoreFacts:
        return await self.app.query(
            lambda conn: load_store_facts(self.app.unit_of_work(conn), store_id)
        )

    async def recent_store_facts(self, store_id: str) -> StoreFacts:
        """Facts at most FACTS_TTL old, to place a request on the store's local day.

        Every book command re-reads the store's facts in its own transaction and decides on
        those; this copy only saves a transaction per request (a time zone rarely moves).
        """
        now = time.monotonic()
        cached = self._recent_facts.get(store_id)
        if cached is not None and now - cached[0] < FACTS_TTL_SECONDS:
            return cached[1]
        facts = await self.store_facts(store_id)
        self._recent_facts[store_id] = (now, facts)
        return facts

    async def stores(
        self,
        region: str,
        city: str,
        open_only: bool,
        pages: paging.PageQuery,
        token: str,
        limit: int,
    ) -> tuple[list[StoreState], str]:
        async def fetch(after: tuple[Any, ...] | None, n: int) -> list[StoreState]:
            key = after[0] if after else None
            return await self.app.query(
                lambda conn: read_model.list_stores(conn, region, city, open_only, key, n)
            )

        return await pages.page(token, limit, fetch, lambda s: (s.store_id,))

    async def store(self, store_id: str) -> StoreState:
        found = await self.app.query(lambda conn: read_model.get_store(conn, store_id))
        if found is None:
            raise NotFound("store", store_id)
        return found

    async def distance(self, from_store_id: str, to_store_id: str) -> float:
        async def fetch(conn: AsyncConnection) -> float:
            found = {
                s.location.store_id: s.location
                for s in await read_model.locations(conn, [from_store_id, to_store_id])
            }
            for store_id in (from_store_id, to_store_id):
                if store_id not in found:
                    raise NotFound("store", store_id)
            return distance_km(found[from_store_id], found[to_store_id])

        return await self.app.query(fetch)

    async def nearest(self, store_id: str, limit: int) -> list[NearbyStore]:
        """The open stores closest to this one, nearest first."""

        async def fetch(conn: AsyncConnection) -> list[NearbyStore]:
            origin = await read_model.locations(conn, [store_id])
            if not origin:
                raise NotFound("store", store_id)
            candidates = await read_model.locations(conn)
            names = {c.location.store_id: c.name for c in candidates}
            ranked = nearest_stores(origin[0].location, [c.location for c in candidates], limit)
            return [NearbyStore(names[d.store_id], d) for d in ranked]

        return await self.app.query(fetch)

    async def peer_group(
        self, store_id: str, as_of: date | None, facets: Collection[PeerFacet] = ALL_FACETS
    ) -> tuple[date, PeerGroup, list[str]]:
        """The store's facets on the day and the open stores matching it on `facets`
        (itself included)."""
        found = await self.store(store_id)
        assert found.profile is not None
        day = as_of or local_day(self.now(), found.profile.time_zone)
        others = await self.app.query(read_model.open_profiles)
        group = peers(store_id, found.profile, others, day, facets)
        return day, peer_group(found.profile, day), group

    async def day_view(self, store_id: str, day: date | None) -> DayView:
        """One store's day, live from its book (the wait estimate as of now)."""

        async def fetch(conn: AsyncConnection) -> DayView:
            uow = self.app.unit_of_work(conn)
            facts = await load_store_facts(uow, store_id)
            now = self.now()
            on = day or local_day(now, facts.time_zone)
            book = await uow.load(BOOKS, book_stream(store_id, on))
            return day_view(facts, on, book.state, now)

        return await self.app.query(fetch)

    async def network_day(self, day: date, region: str) -> NetworkDay:
        views = await self.app.query(lambda conn: read_model.network_day(conn, day, region))
        return NetworkDay(network_totals(day, views), views)

    async def wait_estimate(self, store_id: str) -> WaitEstimate:
        async def fetch(conn: AsyncConnection) -> WaitEstimate:
            uow = self.app.unit_of_work(conn)
            facts = await load_store_facts(uow, store_id)
            now = self.now()
            today = local_day(now, facts.time_zone)
            book = await uow.load(BOOKS, book_stream(store_id, today))
            return wait_estimate_of(facts, today, book.state, now)

        return await self.app.query(fetch)
