"""Why inventory refuses a command (ErrorInfo.reason): one name each, for clients to switch on."""

from __future__ import annotations

INSUFFICIENT_AVAILABLE_STOCK = "INSUFFICIENT_AVAILABLE_STOCK"
NOTHING_IN_TRANSIT = "NOTHING_IN_TRANSIT"
RECEIVE_EXCEEDS_SHIPPED = "RECEIVE_EXCEEDS_SHIPPED"
SHIP_EXCEEDS_RESERVATION = "SHIP_EXCEEDS_RESERVATION"
