"""The read side of SOP 2 and SOP 3 the servicer calls: supports and diversions, the
stores party to each (for access), and their lists in pages."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from kernel.application import Application
from kernel.errors import NotFound
from kernel.paging import PageQuery
from services.collab.queries import Page
from services.collab.read_model_sops import diversions, supports


class SopQueries:
    def __init__(self, app: Application) -> None:
        self.app = app

    async def support(self, support_id: str) -> Any:
        return await self._one(supports, "support", support_id)

    async def diversion(self, diversion_id: str) -> Any:
        return await self._one(diversions, "diversion", diversion_id)

    async def support_parties(self, support_id: str) -> list[str]:
        """The lending store asked now, then the requesting store; none when unknown."""
        return await self._parties(supports, support_id, "lending_store_id", "requesting_store_id")

    async def diversion_parties(self, diversion_id: str) -> list[str]:
        """The origin store, then the receiving store asked now; none when unknown."""
        return await self._parties(
            diversions, diversion_id, "origin_store_id", "receiving_store_id"
        )

    async def supports(self, store_id: str, pages: PageQuery, token: str, size: int) -> Page:
        return await self._page(
            supports, ("requesting_store_id", "lending_store_id"), store_id, pages, token, size
        )

    async def diversions(self, store_id: str, pages: PageQuery, token: str, size: int) -> Page:
        return await self._page(
            diversions, ("origin_store_id", "receiving_store_id"), store_id, pages, token, size
        )

    async def _one(self, table: Table, kind: str, key: str) -> Any:
        column = table.primary_key.columns.values()[0]

        async def fetch(conn: AsyncConnection) -> Any:
            row = (await conn.execute(select(table).where(column == key))).first()
            if row is None:
                raise NotFound(kind, key)
            return row

        return await self.app.query(fetch)

    async def _parties(self, table: Table, key: str, first: str, second: str) -> list[str]:
        column = table.primary_key.columns.values()[0]
        query = select(table.c[first], table.c[second]).where(column == key)

        async def fetch(conn: AsyncConnection) -> list[str]:
            row = (await conn.execute(query)).first()
            return [] if row is None else [row[0], row[1]]

        return await self.app.query(fetch)

    async def _page(
        self,
        table: Table,
        store_columns: tuple[str, str],
        store_id: str,
        pages: PageQuery,
        token: str,
        size: int,
    ) -> Page:
        """Rows a store is party to (all when store_id is empty), by id, in pages."""
        column = table.primary_key.columns.values()[0]
        after = pages.after(token)
        query = select(table).order_by(column).limit(size + 1)
        if store_id:
            query = query.where(or_(*(table.c[c] == store_id for c in store_columns)))
        if after is not None:
            query = query.where(column > after[0])

        async def fetch(conn: AsyncConnection) -> list[Any]:
            return list((await conn.execute(query)).all())

        rows, following = pages.cut(await self.app.query(fetch), size, lambda r: [r[0]])
        return Page(rows, following)
