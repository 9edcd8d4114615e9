"""A vehicle in of a known customer reference counted new or returning (domain/customers.py),
against `analytics_customers_seen`, in the projection's transaction (so once per event).

Race-free with several projection transactions at once: the reference's row is inserted
first (a concurrent insert of the same reference waits for the other's commit, then
conflicts); a row already there is read locked before it is compared and moved back.
On PostgreSQL the insert and the locked read are one statement, straight to the driver
(SQLAlchemy's work per statement cost more CPU than the database's: `kernel.db
driver_execute`); the read is repeated alone only when the row was committed by another
transaction while this statement waited for it (its snapshot does not show the row).
"""

from __future__ import annotations

import functools
from datetime import date
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from kernel.application import UnitOfWork
from kernel.db import driver_execute
from services.analytics import network_model as model
from services.analytics.domain.customers import classify

_SEEN = model.customers_seen.c
_TABLE = model.customers_seen.name
_FIRST_PG = f"SELECT first_seen FROM {_TABLE} WHERE customer_ref = %(ref)s FOR UPDATE"
_SEEN_PG = (
    f"WITH made AS (INSERT INTO {_TABLE} (customer_ref, first_seen) VALUES (%(ref)s, %(day)s)"
    " ON CONFLICT (customer_ref) DO NOTHING RETURNING customer_ref)"
    f" SELECT EXISTS (SELECT 1 FROM made), ({_FIRST_PG})"
)
_MOVE_PG = f"UPDATE {_TABLE} SET first_seen = %(first)s WHERE customer_ref = %(ref)s"


async def customer_counters(uow: UnitOfWork, day: date, customer_ref: str) -> dict[str, int]:
    """The store-day counters a vehicle in of `customer_ref` on `day` adds to: new or
    returning customer, the reference remembered (none without a reference)."""
    if not customer_ref:
        return {}
    params: dict[str, Any] = {"ref": customer_ref, "day": day}
    if uow.conn.dialect.name == "postgresql":
        return await _postgres(uow, params)
    insert, first, move = _statements()
    found = None
    if (await uow.conn.execute(insert, params)).first() is None:
        found = (await uow.conn.execute(first, params)).scalar_one()
    classified = classify(found, day)
    if found is not None and classified.first_seen != found:
        await uow.conn.execute(move, {**params, "first": classified.first_seen})
    return classified.counters


async def _postgres(uow: UnitOfWork, params: dict[str, Any]) -> dict[str, int]:
    made, found = await (await driver_execute(uow.conn, _SEEN_PG, params)).fetchone()
    if not made and found is None:  # inserted by another transaction meanwhile
        found = (await (await driver_execute(uow.conn, _FIRST_PG, params)).fetchone())[0]
    classified = classify(None if made else found, params["day"])
    if found is not None and not made and classified.first_seen != found:
        await driver_execute(uow.conn, _MOVE_PG, {**params, "first": classified.first_seen})
    return classified.counters


@functools.cache
def _statements() -> tuple[Any, Any, Any]:
    """Elsewhere (SQLite): the same steps as SQLAlchemy statements, built once."""
    seen, ref = model.customers_seen, bindparam("ref")
    insert = (
        sqlite_insert(seen)
        .values(customer_ref=ref, first_seen=bindparam("day"))
        .on_conflict_do_nothing(index_elements=["customer_ref"])
        .returning(_SEEN.customer_ref)
    )
    first = select(_SEEN.first_seen).where(_SEEN.customer_ref == ref).with_for_update()
    move = update(seen).where(_SEEN.customer_ref == ref).values(first_seen=bindparam("first"))
    return insert, first, move
