"""Capacity's read model: tables and the inline projector (tables.py), the reads over
them (lookups.py)."""

from services.capacity.read_model.lookups import (
    LocatedStore,
    days_booked,
    get_store,
    list_stores,
    locations,
    network_day,
    open_profiles,
    walk_in_history,
)
from services.capacity.read_model.tables import (
    MIGRATIONS,
    days_view,
    deciding_on,
    facts_of,
    hours_column,
    metadata,
    project,
    store_facts,
    store_row,
    stores_view,
    write_day_at_end,
)

__all__ = [
    "MIGRATIONS",
    "LocatedStore",
    "days_booked",
    "days_view",
    "deciding_on",
    "facts_of",
    "get_store",
    "hours_column",
    "list_stores",
    "locations",
    "metadata",
    "network_day",
    "open_profiles",
    "project",
    "store_facts",
    "store_row",
    "stores_view",
    "walk_in_history",
    "write_day_at_end",
]
