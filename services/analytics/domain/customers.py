"""New and returning customers, from capacity's pseudonymous customer references.

A vehicle in (a walk-in, or a booked customer checking in) whose customer reference was
seen before, at any store of the network, is a returning customer; one never seen is a
new customer. Analytics keeps, per reference, the first business day it saw the customer
(`analytics_customers_seen`), and asks `classify` at each vehicle in.

Events arrive in each stream's order, not always in business-day order: a visit of an
earlier day seen after a later one is the customer's first (new) and moves the first day
back; the later visit, already counted, stays as it was counted (a counter is never
recounted, and a rebuild replays the same order, so it gives the same numbers).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum


class CustomerKind(StrEnum):
    NEW = "new"
    RETURNING = "returning"


@dataclass(frozen=True, slots=True)
class Classified:
    kind: CustomerKind
    # The customer's first day to keep (the earlier of the known one and this visit's).
    first_seen: date

    @property
    def counters(self) -> dict[str, int]:
        """The store-day counters this vehicle in adds to (domain/kpis.py `Facts`)."""
        if self.kind == CustomerKind.NEW:
            return {"new_customers_in": 1}
        return {"returning_customers_in": 1}


def classify(first_seen: date | None, day: date) -> Classified:
    """A vehicle in on `day` of a customer first seen on `first_seen` (None: never seen):
    returning when seen before or on the same day (an earlier visit of that day), new
    otherwise."""
    if first_seen is not None and first_seen <= day:
        return Classified(CustomerKind.RETURNING, first_seen)
    return Classified(CustomerKind.NEW, day)
