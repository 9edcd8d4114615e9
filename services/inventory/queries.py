"""Inventory's read side: what the servicer asks, over Application.query and the read model."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from kernel.application import Application
from kernel.errors import NotFound
from kernel.paging import PageQuery
from services.inventory import read_model
from services.inventory.domain.stale import StaleRule, usage_window
from services.inventory.read_model import (
    MatrixRowView,
    PartView,
    PositionView,
    StaleItemView,
    StaleQuery,
    StoreStockView,
)


class InventoryQueries:
    def __init__(self, app: Application) -> None:
        self.app = app
        # Parts are never removed from the catalogue, so a part seen once stays known.
        self._known_parts: set[str] = set()

    def today(self) -> date:
        return self.app.clock.business_day(self.app.clock.now())

    def window(self, days: int) -> date:
        """The first day of the last `days` business days, today included."""
        return self.today() - timedelta(days=days - 1)

    async def part(self, part_number: str) -> PartView:
        found = await self.app.query(lambda conn: read_model.get_part(conn, part_number))
        if found is None:
            raise NotFound("part", part_number)
        return found

    async def parts(
        self, category: str, pages: PageQuery, token: str, limit: int
    ) -> tuple[list[PartView], str]:
        async def fetch(after: tuple[Any, ...] | None, n: int) -> list[PartView]:
            key = after[0] if after else None
            return await self.app.query(lambda conn: read_model.list_parts(conn, category, key, n))

        return await pages.page(token, limit, fetch, lambda p: (p.part_number,))

    async def position(self, store_id: str, part_number: str) -> PositionView:
        async def fetch(conn: AsyncConnection) -> PositionView:
            if await read_model.get_part(conn, part_number) is None:
                raise NotFound("part", part_number)
            return await read_model.get_position(conn, store_id, part_number)

        return await self.app.query(fetch)

    async def store_stock(
        self,
        store_id: str,
        category: str,
        only_available: bool,
        pages: PageQuery,
        token: str,
        limit: int,
    ) -> tuple[list[PositionView], str]:
        async def fetch(after: tuple[Any, ...] | None, n: int) -> list[PositionView]:
            key = after[0] if after else None
            return await self.app.query(
                lambda conn: read_model.list_store_stock(
                    conn, store_id, category, only_available, key, n
                )
            )

        return await pages.page(token, limit, fetch, lambda p: (p.part_number,))

    async def find_stock(
        self,
        part_number: str,
        minimum: int,
        exclude_store_id: str,
        pages: PageQuery,
        token: str,
        limit: int,
    ) -> tuple[list[StoreStockView], str]:
        """The network lookup, one statement on the kernel's read path: the part is
        checked only on no answer (parts are never removed, so one seen stays known)."""
        after = pages.after(token)
        async with self.app.db.reader("query find_stock") as reader:
            rows = await read_model.find_stock(
                reader,
                part_number,
                minimum,
                exclude_store_id,
                (after[0], after[1]) if after else None,
                limit + 1,
            )
            unknown = not rows and part_number not in self._known_parts
            if unknown and not await read_model.part_exists(reader, part_number):
                raise NotFound("part", part_number)
        self._known_parts.add(part_number)
        return pages.cut(rows, limit, lambda p: (p.available, p.store_id))

    async def sharing_matrix(
        self, top_n: int, window_days: int, store_ids: list[str]
    ) -> tuple[list[str], list[MatrixRowView]]:
        since = self.window(window_days)
        return await self.app.query(
            lambda conn: read_model.sharing_matrix(conn, top_n, since, store_ids)
        )

    async def stale_stock(
        self,
        store_id: str,
        rule: StaleRule,
        criterion: str,
        pages: PageQuery,
        token: str,
        limit: int,
    ) -> tuple[list[StaleItemView], int, int, str]:
        """Stale stock as it stands now: idle since `min_idle_days` ago, overstock against
        the last `usage_days` business days of use, today included."""
        after = pages.after(token)
        now = self.app.clock.now()
        first, last = usage_window(self.today(), rule)
        q = StaleQuery(rule, now - timedelta(days=rule.min_idle_days), first, last)
        rows, total, overstock = await self.app.query(
            lambda conn: read_model.stale_stock(
                conn,
                store_id,
                now,
                q,
                criterion,
                (after[0], after[1], after[2]) if after else None,
                limit + 1,
            )
        )
        items, next_token = pages.cut(
            rows, limit, lambda i: (i.stale_value_fen, i.store_id, i.part_number)
        )
        return items, total, overstock, next_token

    async def fill_rate(self, store_id: str, first: date, last: date) -> tuple[int, int]:
        """Requests and those filled from stock, over the business days first..last."""
        return await self.app.query(lambda conn: read_model.fill_rate(conn, store_id, first, last))
