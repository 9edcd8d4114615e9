"""SOP 1's settlement rules: the 2 hour response SLA, contribution points, the HQ month."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

# domain.md: an emergency transfer is answered within 2 hours of the request.
RESPONSE_SLA = timedelta(hours=2)
# domain.md: one contribution point to the store that gave the part.
TRANSFER_POINTS = 1
TRANSFER_ACT = "transfer"
FREIGHT = "freight"
# HQ settles monthly on China Standard Time, whatever the server's zone.
SETTLEMENT_ZONE = timezone(timedelta(hours=8))


def response_time(requested_at: datetime, received_at: datetime) -> timedelta:
    return max(received_at - requested_at, timedelta(0))


def within_sla(taken: timedelta) -> bool:
    return taken <= RESPONSE_SLA


def settlement_month(moment: datetime) -> str:
    """YYYY-MM of the month the cost is settled in."""
    return moment.astimezone(SETTLEMENT_ZONE).strftime("%Y-%m")
