"""Inventory's read model: tables and the inline projector (tables.py), the reads over
them (lookups.py)."""

from services.inventory.read_model.lookups import (
    MatrixRowView,
    StaleItemView,
    StaleQuery,
    StoreStockView,
    fill_rate,
    find_stock,
    get_part,
    get_position,
    known_parts,
    list_parts,
    list_store_stock,
    part_exists,
    sharing_matrix,
    stale_by_store,
    stale_stock,
)
from services.inventory.read_model.tables import (
    MIGRATIONS,
    PartView,
    PositionView,
    positions_written_at_end,
    project,
    write_positions,
)

__all__ = [
    "MIGRATIONS",
    "MatrixRowView",
    "PartView",
    "PositionView",
    "StaleItemView",
    "StaleQuery",
    "StoreStockView",
    "fill_rate",
    "find_stock",
    "get_part",
    "get_position",
    "known_parts",
    "list_parts",
    "list_store_stock",
    "part_exists",
    "positions_written_at_end",
    "project",
    "sharing_matrix",
    "stale_by_store",
    "stale_stock",
    "write_positions",
]
