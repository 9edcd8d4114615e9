"""Sizes and durations of a benchmark run: full (the published numbers) or quick."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass

from kernel.config import RELAY_BATCH_SIZE


@dataclass(frozen=True)
class Sizes:
    """Every load step stops at its call budget or its time budget, whichever comes first."""

    mode: str
    # 1. Inventory commands over gRPC
    command_clients: tuple[int, ...]
    command_step_seconds: float  # per command, per concurrency
    command_step_max_calls: int  # all clients together
    command_warmup_calls: int  # per client, not measured
    command_parts: int  # parts each client cycles through (its own store)
    contended_clients: int
    contended_seconds: float
    contended_max_calls: int
    raw_step_seconds: float  # each raw INSERT+COMMIT baseline step
    raw_step_max_rows: int
    # 2. Event store appends
    append_writers: tuple[int, ...]
    append_step_seconds: float
    append_step_max_commands: int
    append_streams_per_writer: int
    # 3. Relay
    relay_events: int
    relay_batch_size: int
    relay_max_seconds: float
    # Rounds of the three drains (raw, windowed, relay), each on fresh streams, the order
    # rotated per round; the target is judged on the median of the rounds' shares.
    relay_rounds: int
    # 4. Network lookup
    lookup_stores: int
    lookup_parts: int
    lookup_calls: int
    lookup_warmup_calls: int
    lookup_concurrency: tuple[int, ...]
    lookup_max_seconds: float
    lookup_max_available: int  # available per position is uniform in 0..this
    # 4b. Stale stock (ListStaleStock), network-wide and one store
    stale_stores: int
    stale_parts: int
    stale_used_share: float  # of a store's parts it issues (its usage_daily rows)
    stale_calls: int  # per step (first page, later page, one store, raw)
    stale_live_calls: int  # per step judged by live probes (seconds a call at full size)
    stale_max_seconds: float  # per step
    # 5. Capacity: network day view, BookAppointment
    dayview_stores: int
    dayview_past_days: int  # day rows per store: this many days back, today, and ahead
    dayview_ahead_days: int
    dayview_calls: int
    dayview_warmup_calls: int
    dayview_concurrency: tuple[int, ...]
    dayview_max_seconds: float
    booking_clients: tuple[int, ...]
    booking_book_size: int  # appointments a client books into one store's day, then next day
    booking_step_seconds: float
    booking_step_max_calls: int
    # 6. Workforce: MatchSupport
    match_stores: int
    match_technicians: int
    match_calls: int
    match_warmup_calls: int
    match_concurrency: tuple[int, ...]
    match_max_seconds: float
    # Safety net: a section that takes longer is cancelled and reported as failed.
    section_timeout_seconds: float

    def as_rows(self) -> list[tuple[str, str]]:
        return [(k, _fmt(v)) for k, v in asdict(self).items()]


def _fmt(value: object) -> str:
    if isinstance(value, tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


FULL = Sizes(
    mode="full",
    command_clients=(1, 8, 32),
    command_step_seconds=15.0,
    command_step_max_calls=20_000,
    command_warmup_calls=3,
    command_parts=200,
    contended_clients=8,
    contended_seconds=6.0,
    contended_max_calls=3_000,
    raw_step_seconds=8.0,
    raw_step_max_rows=60_000,
    append_writers=(1, 8),
    append_step_seconds=10.0,
    append_step_max_commands=40_000,
    append_streams_per_writer=16,
    relay_events=20_000,
    relay_batch_size=RELAY_BATCH_SIZE,  # as the services run (kernel.config)
    relay_max_seconds=60.0,
    relay_rounds=3,
    lookup_stores=200,
    lookup_parts=5_000,
    lookup_calls=2_000,
    lookup_warmup_calls=200,
    lookup_concurrency=(1, 8),
    lookup_max_seconds=45.0,
    lookup_max_available=40,
    stale_stores=200,
    stale_parts=5_000,
    stale_used_share=0.2,
    stale_calls=20,
    stale_live_calls=3,
    stale_max_seconds=10.0,
    dayview_stores=2_000,
    dayview_past_days=28,
    dayview_ahead_days=13,
    dayview_calls=300,
    dayview_warmup_calls=20,
    dayview_concurrency=(1, 4),
    dayview_max_seconds=20.0,
    booking_clients=(1, 8),
    booking_book_size=30,
    booking_step_seconds=15.0,
    booking_step_max_calls=20_000,
    match_stores=2_000,
    match_technicians=20_000,
    match_calls=1_000,
    match_warmup_calls=50,
    match_concurrency=(1, 8),
    match_max_seconds=20.0,
    section_timeout_seconds=360.0,  # analytics (9): a 20,000-event rebuild at ~200 events/s
)

QUICK = Sizes(
    mode="quick",
    command_clients=(1, 8, 32),
    command_step_seconds=2.0,
    command_step_max_calls=600,
    command_warmup_calls=2,
    command_parts=40,
    contended_clients=8,
    contended_seconds=1.5,
    contended_max_calls=200,
    raw_step_seconds=1.5,
    raw_step_max_rows=3_000,
    append_writers=(1, 8),
    append_step_seconds=2.0,
    append_step_max_commands=2_000,
    append_streams_per_writer=4,
    relay_events=2_000,
    relay_batch_size=500,
    relay_max_seconds=30.0,
    relay_rounds=1,
    lookup_stores=20,
    lookup_parts=500,
    lookup_calls=200,
    lookup_warmup_calls=30,
    lookup_concurrency=(1, 8),
    lookup_max_seconds=20.0,
    lookup_max_available=40,
    stale_stores=100,
    stale_parts=1_000,
    stale_used_share=0.2,
    stale_calls=10,
    stale_live_calls=3,
    stale_max_seconds=3.0,
    dayview_stores=100,
    dayview_past_days=7,
    dayview_ahead_days=6,
    dayview_calls=100,
    dayview_warmup_calls=10,
    dayview_concurrency=(1, 4),
    dayview_max_seconds=10.0,
    booking_clients=(1, 8),
    booking_book_size=30,
    booking_step_seconds=2.0,
    booking_step_max_calls=600,
    match_stores=100,
    match_technicians=1_000,
    match_calls=100,
    match_warmup_calls=10,
    match_concurrency=(1, 8),
    match_max_seconds=10.0,
    section_timeout_seconds=120.0,
)


def from_env() -> Sizes:
    quick = os.environ.get("BENCH_QUICK", "").strip().lower() not in ("", "0", "false", "no")
    return QUICK if quick else FULL
