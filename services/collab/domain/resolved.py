"""What a stuck saga had achieved when an operator resolves it by hand, read from its own
events: the collaboration that really happened is credited as its completion would have
credited it (domain.md: every store that helps another gets its points, and HQ's ledger
holds every collaboration cost), and an undo that failed before anything was given credits
nothing.

- SOP 1: the part was given once the courier delivered it to the requester. Nothing after
  the delivery is undone (the receipt stops the transfer for an operator instead), so a
  transfer stuck receiving it was given; one stuck releasing a reservation or writing a
  lost shipment off was not.
- SOP 2: the technician was lent once the host reported the work finished; a support
  called off, missed or never reported settles nothing, also when its loan's end got stuck.
- SOP 3: the receiver took the customer once the customer was booked there and that
  booking was not given back: an origin appointment that could no longer be cancelled has
  the saga cancel the receiver's booking again, and a diversion stuck doing so moved nobody.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from services.collab.domain.diversion_events import (
    DiversionBooked,
    NextReceiverChosen,
    OriginCancelRefused,
)
from services.collab.domain.events import NextSourceChosen, ShipmentDelivered
from services.collab.domain.support_day_events import SupportWorkFinished
from services.collab.domain.support_events import NextTechnicianChosen


def _holds(events: Iterable[Any], made: type[Any], unmade: tuple[type[Any], ...]) -> bool:
    """`made` recorded and not followed by any of `unmade` (a next round, a giving back)."""
    held = False
    for event in events:
        if isinstance(event, made):
            held = True
        elif isinstance(event, unmade):
            held = False
    return held


def part_given(events: Iterable[Any]) -> bool:
    """SOP 1: the source asked last delivered the part to the requester."""
    return _holds(events, ShipmentDelivered, (NextSourceChosen,))


def technician_lent(events: Iterable[Any]) -> bool:
    """SOP 2: the host reported the lent technician's work finished."""
    return _holds(events, SupportWorkFinished, (NextTechnicianChosen,))


def customer_received(events: Iterable[Any]) -> bool:
    """SOP 3: the customer is booked at the receiver, and the booking is not given back."""
    return _holds(events, DiversionBooked, (OriginCancelRefused, NextReceiverChosen))
