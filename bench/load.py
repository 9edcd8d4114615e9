"""Closed-loop load: N clients, each awaiting its own calls one after the other.

Each step is bounded twice: by a call budget (shared out among the clients) and by a
deadline. Latency is measured per successful call; throughput is successful calls over
the wall time from the common start to the last client's finish.
"""

from __future__ import annotations

import asyncio
import math
import os
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import grpc

Call = Callable[[int, int], Awaitable[object]]  # (client index, sequence number)


@dataclass
class LoadResult:
    label: str
    clients: int
    ok: int = 0
    elapsed: float = 0.0
    latencies: list[float] = field(default_factory=list)  # seconds, successful calls
    errors: Counter[str] = field(default_factory=Counter)
    warmup_errors: Counter[str] = field(default_factory=Counter)
    budget_calls: int = 0
    budget_seconds: float = 0.0
    cpu_seconds: float = 0.0  # of this process (clients, and the service when in-process)

    @property
    def rate(self) -> float:
        return self.ok / self.elapsed if self.elapsed > 0 else 0.0

    def percentile_ms(self, p: float) -> float:
        return percentile(self.latencies, p) * 1000

    @property
    def p50_ms(self) -> float:
        return self.percentile_ms(50)

    @property
    def p99_ms(self) -> float:
        return self.percentile_ms(99)

    @property
    def max_ms(self) -> float:
        return max(self.latencies, default=0.0) * 1000

    @property
    def cpu_ms_per_op(self) -> float:
        return 1000 * self.cpu_seconds / self.ok if self.ok else 0.0

    @property
    def stopped_by(self) -> str:
        return "calls" if self.ok + sum(self.errors.values()) >= self.budget_calls else "time"

    def error_text(self) -> str:
        return ", ".join(f"{k} {v}" for k, v in sorted(self.errors.items())) or "0"


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of unsorted values; 0 when empty."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def process_cpu() -> float:
    """User + system CPU seconds of this process, all threads."""
    t = os.times()
    return t.user + t.system


def classify(exc: BaseException) -> str:
    if isinstance(exc, grpc.aio.AioRpcError):
        return exc.code().name
    return type(exc).__name__


def _quotas(total: int, clients: int) -> list[int]:
    base, extra = divmod(total, clients)
    return [base + (1 if i < extra else 0) for i in range(clients)]


async def closed_loop(
    label: str,
    clients: int,
    call: Call,
    *,
    max_calls: int,
    max_seconds: float,
    warmup_calls: int = 0,
) -> LoadResult:
    """Run `call(client, seq)` from `clients` concurrent loops; warm-up calls are not counted."""
    result = LoadResult(label, clients, budget_calls=max_calls, budget_seconds=max_seconds)

    async def warm(client: int) -> None:
        for seq in range(warmup_calls):
            try:
                await call(client, seq)
            except Exception as exc:
                result.warmup_errors[classify(exc)] += 1

    await asyncio.gather(*(warm(i) for i in range(clients)))
    cpu_before = process_cpu()
    started = time.perf_counter()
    deadline = started + max_seconds

    async def worker(client: int, quota: int) -> None:
        for seq in range(warmup_calls, warmup_calls + quota):
            t0 = time.perf_counter()
            if t0 >= deadline:
                return
            try:
                await call(client, seq)
            except Exception as exc:
                result.errors[classify(exc)] += 1
                continue
            result.latencies.append(time.perf_counter() - t0)

    await asyncio.gather(
        *(worker(i, q) for i, q in enumerate(_quotas(max_calls, clients)) if q > 0)
    )
    result.elapsed = time.perf_counter() - started
    result.cpu_seconds = process_cpu() - cpu_before
    result.ok = len(result.latencies)
    return result
