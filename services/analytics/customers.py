"""A vehicle in of a known customer reference counted new or returning (domain/customers.py),
against `analytics_customers_seen`, in the projection's transaction (so once per event).

Race-free with several projection transactions at once: the reference's row is inserted
first (a concurrent insert of the same reference waits for the other's commit, then
conflicts); a row already there is read locked before it is compared and moved back.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from kernel.application import UnitOfWork
from services.analytics import network_model as model
from services.analytics.domain.customers import classify


async def count_vehicle_in(uow: UnitOfWork, store_id: str, day: date, customer_ref: str) -> None:
    """Count the store-day's vehicle in as a new or returning customer (no reference: as
    neither, only the vehicle in counts)."""
    if not customer_ref:
        return
    seen = model.customers_seen
    insert = pg_insert if uow.conn.dialect.name == "postgresql" else sqlite_insert
    made = await uow.conn.execute(
        insert(seen)
        .values(customer_ref=customer_ref, first_seen=day)
        .on_conflict_do_nothing(index_elements=["customer_ref"])
        .returning(seen.c.customer_ref)
    )
    if made.first() is not None:
        found = None
    else:
        query = select(seen.c.first_seen).where(seen.c.customer_ref == customer_ref)
        found = (await uow.conn.execute(query.with_for_update())).scalar_one()
    classified = classify(found, day)
    if found is not None and classified.first_seen != found:
        await uow.conn.execute(
            update(seen)
            .where(seen.c.customer_ref == customer_ref)
            .values(first_seen=classified.first_seen)
        )
    await model.add_facts(uow, store_id, day, **classified.counters)
