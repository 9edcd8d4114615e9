"""Why inventory refuses a command (ErrorInfo.reason): one name each, for clients to switch on."""

from __future__ import annotations

INSUFFICIENT_AVAILABLE_STOCK = "INSUFFICIENT_AVAILABLE_STOCK"
NOTHING_IN_TRANSIT = "NOTHING_IN_TRANSIT"
RECEIVE_EXCEEDS_SHIPPED = "RECEIVE_EXCEEDS_SHIPPED"
SHIP_EXCEEDS_RESERVATION = "SHIP_EXCEEDS_RESERVATION"
# SyncStockCounts, per position (the rest of the batch is still recorded):
UNKNOWN_PART = "UNKNOWN_PART"  # the part is not in the catalogue
INVALID_COUNT = "INVALID_COUNT"  # counted_quantity negative or above the quantity ceiling
MOVED_SINCE_COUNT = "MOVED_SINCE_COUNT"  # the position moved (or was counted) after counted_at
# last_moved_at after counted_at, or more than OLDEST_LAST_MOVED before it
INVALID_LAST_MOVED = "INVALID_LAST_MOVED"
