"""Customer waiting: the estimated wait for a new arrival and the threshold that triggers SOP 3."""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from services.capacity.domain.book_state import BookState, VisitStatus
from services.capacity.domain.stores import StoreFacts


def estimate_wait(
    *, bays: int, in_service_remaining: Sequence[timedelta], queue_ahead: Sequence[timedelta]
) -> timedelta:
    """How long a customer arriving now waits for a bay.

    Every bay is free now or when the vehicle in it is expected to be done; the vehicles
    already waiting take, in order of arrival, the bay that frees first, each for its
    expected hours of work. The newcomer gets the first bay free after them. Booked
    customers who have not arrived yet are not in the queue: they join it at check-in.
    """
    if bays < 1:
        raise ValueError("a store has at least one bay")
    free_at = sorted(in_service_remaining)[:bays]
    free_at += [timedelta(0)] * (bays - len(free_at))
    heapq.heapify(free_at)
    for work in queue_ahead:
        heapq.heappush(free_at, heapq.heappop(free_at) + work)
    return free_at[0]


def estimated_wait_of(book: BookState, store: StoreFacts, at: datetime) -> timedelta:
    return estimate_wait(
        bays=store.bays,
        in_service_remaining=[v.remaining_work(at) for v in book.visits_in(VisitStatus.IN_SERVICE)],
        queue_ahead=[timedelta(hours=v.expected_labour_hours) for v in book.waiting_queue()],
    )


def whole_minutes(span: timedelta) -> int:
    return math.ceil(span.total_seconds() / 60)


@dataclass(frozen=True, slots=True, kw_only=True)
class AssessWait:
    """Re-estimate the wait as time passes (vehicles in service get closer to done)."""

    store: StoreFacts
    day: date
    at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class WaitThresholdExceeded:
    store_id: str
    day: date
    estimated_wait_minutes: int
    threshold_minutes: int
    waiting_vehicles: int
    bays_in_use: int
    occurred_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class WaitThresholdRecovered:
    store_id: str
    day: date
    estimated_wait_minutes: int
    threshold_minutes: int
    occurred_at: datetime


def watch_wait(
    book: BookState, store: StoreFacts, day: date, at: datetime
) -> list[WaitThresholdExceeded | WaitThresholdRecovered]:
    """A warning once per crossing of the store's threshold, and one when it falls back."""
    wait = estimated_wait_of(book, store, at)
    threshold = timedelta(minutes=store.wait_threshold_minutes)
    if wait > threshold and not book.wait_exceeded:
        return [
            WaitThresholdExceeded(
                store_id=store.store_id,
                day=day,
                estimated_wait_minutes=whole_minutes(wait),
                threshold_minutes=store.wait_threshold_minutes,
                waiting_vehicles=len(book.waiting_queue()),
                bays_in_use=len(book.visits_in(VisitStatus.IN_SERVICE)),
                occurred_at=at,
            )
        ]
    if wait <= threshold and book.wait_exceeded:
        return [
            WaitThresholdRecovered(
                store_id=store.store_id,
                day=day,
                estimated_wait_minutes=whole_minutes(wait),
                threshold_minutes=store.wait_threshold_minutes,
                occurred_at=at,
            )
        ]
    return []
