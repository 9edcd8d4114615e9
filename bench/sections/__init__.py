"""One module per figure of docs/benchmarks.md; REGISTRY fixes their order.

A section is `async def run(ctx: BenchContext, report: SectionReport) -> None`: it creates
what it needs (a fresh database, a NATS namespace, a service), measures each figure beside
its raw baseline, appends Markdown to `report.body`, its judged targets to `report.targets`
(`report.unjudged` for those the run could not measure, `report.figures` for figures asked
for without a threshold), and cleans up after itself. To add one (say for the workforce
service), write `bench/sections/workforce_commands.py` and add a `Section` line below.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bench.context import BenchContext
from bench.report import SectionReport
from bench.sections import (
    analytics,
    capacity,
    eventstore_appends,
    inventory_commands,
    inventory_lookup,
    relay,
    stale_stock,
    stock_sync,
    transfer_sagas,
    workforce_match,
)


@dataclass(frozen=True)
class Section:
    key: str
    title: str
    run: Callable[[BenchContext, SectionReport], Awaitable[None]]


REGISTRY: tuple[Section, ...] = (
    Section("commands", inventory_commands.TITLE, inventory_commands.run),
    Section("appends", eventstore_appends.TITLE, eventstore_appends.run),
    Section("relay", relay.TITLE, relay.run),
    Section("lookup", inventory_lookup.TITLE, inventory_lookup.run),
    Section("stale", stale_stock.TITLE, stale_stock.run),
    Section("capacity", capacity.TITLE, capacity.run),
    Section("workforce", workforce_match.TITLE, workforce_match.run),
    Section("stocksync", stock_sync.TITLE, stock_sync.run),
    Section("sagas", transfer_sagas.TITLE, transfer_sagas.run),
    Section("analytics", analytics.TITLE, analytics.run),
)
