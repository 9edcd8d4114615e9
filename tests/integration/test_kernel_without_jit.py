"""`without_jit`: PostgreSQL's JIT is off for the rest of the transaction that asked, and
only for it (a pooled connection's next transaction compiles as configured); on SQLite,
which has no JIT, it does nothing."""

from __future__ import annotations

from sqlalchemy import text

from kernel.db import Database, without_jit
from tests.integration.kernel_fixtures import any_db, db

__all__ = ["any_db", "db"]


async def test_jit_is_off_for_the_transaction_that_asked_and_only_for_it(db: Database) -> None:
    async with db.transaction() as conn:
        configured = await conn.scalar(text("SHOW jit"))
        await without_jit(conn)
        assert await conn.scalar(text("SHOW jit")) == "off"
    async with db.transaction() as conn:
        assert await conn.scalar(text("SHOW jit")) == configured


async def test_it_does_nothing_where_there_is_no_jit(any_db: Database) -> None:
    async with any_db.transaction() as conn:
        await without_jit(conn)
        assert await conn.scalar(text("SELECT 1")) == 1
