"""The read side collab's servicer and ranking call: transfers, the HQ ledger, demand."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from kernel.application import Application
from kernel.errors import NotFound
from kernel.paging import PageQuery
from kernel.store_directory import store_directory
from services.collab.domain.sourcing import Location
from services.collab.read_model import cost_ledger, part_demand, part_shortage, transfers


@dataclass(frozen=True)
class CostLine:
    kind: str
    store_id: str
    amount_fen: int
    entries: int


@dataclass(frozen=True)
class Page:
    rows: list[Any]
    next_page_token: str


class CollabQueries:
    def __init__(self, app: Application) -> None:
        self.app = app

    async def transfer(self, transfer_id: str) -> Any:
        async def fetch(conn: AsyncConnection) -> Any:
            query = select(transfers).where(transfers.c.transfer_id == transfer_id)
            row = (await conn.execute(query)).first()
            if row is None:
                raise NotFound("transfer", transfer_id)
            return row

        return await self.app.query(fetch)

    async def parties(self, transfer_id: str) -> list[str]:
        """The transfer's source store, then its requesting store; none when unknown."""
        query = select(transfers.c.source_store_id, transfers.c.requesting_store_id).where(
            transfers.c.transfer_id == transfer_id
        )

        async def fetch(conn: AsyncConnection) -> list[str]:
            row = (await conn.execute(query)).first()
            return [] if row is None else [row.source_store_id, row.requesting_store_id]

        return await self.app.query(fetch)

    async def transfers(self, store_id: str, pages: PageQuery, token: str, size: int) -> Page:
        """Transfers a store requested or is the source of (all when store_id is empty),
        newest id last, in pages."""
        after = pages.after(token)
        query = select(transfers).order_by(transfers.c.transfer_id).limit(size + 1)
        if store_id:
            query = query.where(
                or_(
                    transfers.c.requesting_store_id == store_id,
                    transfers.c.source_store_id == store_id,
                )
            )
        if after is not None:
            query = query.where(transfers.c.transfer_id > after[0])

        async def fetch(conn: AsyncConnection) -> list[Any]:
            return list((await conn.execute(query)).all())

        rows, following = pages.cut(await self.app.query(fetch), size, lambda r: [r.transfer_id])
        return Page(rows, following)

    async def settlement(self, month: str) -> list[CostLine]:
        query = (
            select(
                cost_ledger.c.kind,
                cost_ledger.c.store_id,
                func.sum(cost_ledger.c.amount_fen),
                func.count(),
            )
            .where(cost_ledger.c.month == month)
            .group_by(cost_ledger.c.kind, cost_ledger.c.store_id)
            .order_by(cost_ledger.c.kind, cost_ledger.c.store_id)
        )

        async def fetch(conn: AsyncConnection) -> list[CostLine]:
            return [CostLine(k, s, int(a), int(n)) for k, s, a, n in await conn.execute(query)]

        return await self.app.query(fetch)

    async def locations(self, store_ids: Sequence[str]) -> dict[str, Location]:
        return await self.app.query(lambda conn: _locations(conn, store_ids))

    async def demand(self, part_number: str, since: date) -> dict[str, int]:
        """Parts issued per store since a day (inclusive)."""
        return await self.app.query(lambda conn: _demand(conn, part_number, since))

    async def sourcing(
        self, part_number: str, since: date, store_ids: Sequence[str]
    ) -> tuple[dict[str, int], dict[str, Location]]:
        """`demand` and `locations` read in one transaction (ranking a transfer's sources)."""

        async def fetch(conn: AsyncConnection) -> tuple[dict[str, int], dict[str, Location]]:
            return await _demand(conn, part_number, since), await _locations(conn, store_ids)

        return await self.app.query(fetch)

    async def shortages(self, part_number: str, since: date) -> dict[str, int]:
        """Units each store ran short of since a day: repair orders inventory could not
        fill, and transfers that found no source."""
        short = (
            select(part_shortage.c.store_id, func.sum(part_shortage.c.short))
            .where(part_shortage.c.part_number == part_number, part_shortage.c.day >= since)
            .group_by(part_shortage.c.store_id)
        )
        unsourced = (
            select(transfers.c.requesting_store_id, func.sum(transfers.c.quantity))
            .where(
                transfers.c.part_number == part_number,
                transfers.c.stage == "NO_SOURCE",
                transfers.c.requested_at >= datetime.combine(since, time(), UTC),
            )
            .group_by(transfers.c.requesting_store_id)
        )

        async def fetch(conn: AsyncConnection) -> dict[str, int]:
            found: dict[str, int] = {}
            for query in (short, unsourced):
                for store, n in await conn.execute(query):
                    found[store] = found.get(store, 0) + int(n)
            return found

        return await self.app.query(fetch)


async def _locations(conn: AsyncConnection, store_ids: Sequence[str]) -> dict[str, Location]:
    query = select(
        store_directory.c.store_id, store_directory.c.latitude, store_directory.c.longitude
    ).where(store_directory.c.store_id.in_(list(store_ids)))
    return {
        s: Location(lat, lon)
        for s, lat, lon in await conn.execute(query)
        if lat is not None and lon is not None
    }


async def _demand(conn: AsyncConnection, part_number: str, since: date) -> dict[str, int]:
    query = (
        select(part_demand.c.store_id, func.sum(part_demand.c.issued))
        .where(part_demand.c.part_number == part_number, part_demand.c.day >= since)
        .group_by(part_demand.c.store_id)
    )
    return {s: int(n) for s, n in await conn.execute(query)}
