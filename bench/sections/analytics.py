"""9. Analytics: rebuild events/s, projection lag, GetDashboard and GetKpis for 2,000 stores.

The sizes live here (not in bench/config.py): `FULL` and `QUICK` below, picked by the run's
mode. Each part is in its own module (analytics_rebuild, analytics_lag, analytics_dashboard).
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.context import BenchContext
from bench.load import LoadResult
from bench.report import LOAD_HEADER, Figure, SectionReport, load_row, num
from bench.sections import analytics_dashboard, analytics_lag, analytics_rebuild

TITLE = "9. Analytics: rebuild, projection lag, network dashboard"


@dataclass(frozen=True)
class AnalyticsSizes:
    rebuild_events: int
    lag_clients: int
    lag_calls: int
    lag_seconds: float
    dashboard_stores: int
    dashboard_calls: int
    dashboard_seconds: float
    dashboard_warmup: int


FULL = AnalyticsSizes(20_000, 4, 2_000, 15.0, 2_000, 40, 15.0, 2)
QUICK = AnalyticsSizes(2_000, 4, 200, 5.0, 200, 20, 5.0, 1)


def _ms(value: float) -> str:
    return num(value * 1000)


async def run(ctx: BenchContext, report: SectionReport) -> None:
    sizes = QUICK if ctx.sizes.mode == "quick" else FULL
    rebuilt = await analytics_rebuild.measure(ctx, sizes.rebuild_events)
    _report_rebuild(report, rebuilt)
    lag = await analytics_lag.measure(ctx, sizes.lag_clients, sizes.lag_calls, sizes.lag_seconds)
    _report_lag(report, lag, sizes)
    dash = await analytics_dashboard.measure(
        ctx,
        sizes.dashboard_stores,
        sizes.dashboard_calls,
        sizes.dashboard_seconds,
        sizes.dashboard_warmup,
    )
    _report_dashboard(report, dash, sizes)


def _report_rebuild(report: SectionReport, r: analytics_rebuild.RebuildResult) -> None:
    rate = r.events / r.rebuild_seconds if r.rebuild_seconds else 0.0
    rows = [
        ("raw: bare ordered JetStream consumer, every message received", r.raw_stream_seconds),
        ("raw: bare psycopg SELECT of the same events (an `events` twin)", r.raw_select_seconds),
        (
            f"raw: bare psycopg upserts of the same counters, {analytics_rebuild.BATCH} per commit",
            r.raw_upsert_seconds,
        ),
        ("**`services/analytics/rebuild.py` rebuild()**", r.rebuild_seconds),
    ]
    report.add(
        "### 9a. Rebuild: events/s",
        "",
        f"**Sizes:** {r.events:,} inventory events (PartsIssued, "
        f"{analytics_rebuild.SHORTAGE_SHARE:.0%} ShortageRecorded) over"
        f" {analytics_rebuild.STORES} stores and {analytics_rebuild.DAYS} days"
        f" ({r.rows_after:,} store days after the rebuild).",
        "",
        "Rebuild reads the other contexts' history from their JetStream streams (an ordered"
        " consumer from the first message), so the history is seeded there: messages with the"
        " relay's CloudEvents headers and subjects, published straight into the namespace's"
        f" INVENTORY stream ({r.seed_seconds:.1f} s, not measured). `rebuild()` runs as"
        " `python -m services.analytics.rebuild` would (its own database connection, migrations,"
        f" `--batch {analytics_rebuild.BATCH}`): it empties the read models and inboxes, then"
        " replays the stream, each event claiming its inbox row and adding to its store's day in"
        f" transactions of {analytics_rebuild.BATCH}. It projected {r.projected:,} events and"
        " the counters add up to every one (checked). Baselines: the same stream read by a bare"
        " ordered consumer (no decoding, no database); the same events as rows of a twin of"
        " `events` read by one bare psycopg SELECT; and the same counter upserts (kernel"
        " `upsert`'s statement shape) through bare psycopg `executemany`, without the inbox"
        " claims.",
        "",
    )
    report.table(
        ("What", "Seconds", "Events/s", "Time vs rebuild"),
        [
            [what, f"{s:.2f}", num(r.events / s if s else 0.0), f"{s / r.rebuild_seconds:.0%}"]
            for what, s in rows
        ],
    )
    report.figures.append(Figure(f"Analytics rebuild, {r.events:,} events", rate, "events/s"))


def _report_lag(report: SectionReport, r: analytics_lag.LagResult, sizes: AnalyticsSizes) -> None:
    raw_ok = r.raw.ok if r.raw else 0
    lag_rows = [
        [
            "raw: JetStream publish (acked) to delivery, same NATS",
            str(len(r.raw_lags)),
            _ms(analytics_lag.percentile(r.raw_lags, 50)),
            _ms(analytics_lag.percentile(r.raw_lags, 99)),
            _ms(max(r.raw_lags, default=0.0)),
            str(raw_ok - len(r.raw_lags)),
        ],
        [
            "**RequestParts reply to its count in `analytics_store_days`**",
            str(len(r.lags)),
            _ms(analytics_lag.percentile(r.lags, 50)),
            _ms(analytics_lag.percentile(r.lags, 99)),
            _ms(max(r.lags, default=0.0)),
            str(r.missing),
        ],
    ]
    report.add(
        "### 9b. Projection lag: inventory command to analytics' read model",
        "",
        f"**Sizes:** {sizes.lag_clients} clients, RequestParts over gRPC until"
        f" {sizes.lag_calls:,} calls or {sizes.lag_seconds:g} s (every"
        f" {analytics_lag.SHORTAGE_EVERY}th asks for more than stocked: a ShortageRecorded);"
        f" {r.commands.ok:,} commands made.",
        "",
        "Inventory and analytics run in this process, each on its own database, on one NATS"
        " namespace: inventory's relay publishes each event, analytics' durable subscription"
        " projects it (inbox claim and counter in one transaction). Each client works on its"
        " own store; a bare psycopg connection polls the stores' counters every"
        f" {analytics_lag.POLL_SECONDS * 1000:g} ms (it made {r.polls:,} polls). The k-th"
        " request of a store has reached the read model when the store's count reaches k; its"
        " lag is that moment minus the moment its client had the reply (the reply leaves after"
        " the commit: the lag is over-stated by at most one poll, under-stated by the reply's"
        " way back). Baseline: the same number of messages from the same number of clients,"
        " JetStream `publish` (acknowledged) to delivery at an ordered push consumer.",
        "",
    )
    report.table(("What", "Samples", "p50 ms", "p99 ms", "max ms", "Missing"), lag_rows)
    load = load_row(r.commands, "RequestParts (the load behind the lag)", 0.0)
    load[8] = "—"
    report.table(LOAD_HEADER, [load])
    report.figures.append(
        Figure("Projection lag p99, RequestParts to analytics", percentile_ms(r.lags, 99), "ms")
    )


def percentile_ms(values: list[float], p: float) -> float:
    return analytics_lag.percentile(values, p) * 1000


def _report_dashboard(
    report: SectionReport, r: analytics_dashboard.DashboardResult, sizes: AnalyticsSizes
) -> None:
    rows: list[list[str]] = []
    raw: LoadResult | None = None
    for result in r.rows:
        if result.label.startswith("raw"):
            raw = result
            rows.append(load_row(result, result.label))
        else:
            rows.append(load_row(result, f"**{result.label}**", raw.rate if raw else None))
    sql = {
        key: "; ".join(" ".join(s.split())[:160] + ("…" if len(s) > 160 else "") for s, _ in st)
        for key, st in r.statements.items()
    }
    report.add(
        f"### 9c. GetDashboard and GetKpis for a network of {r.stores:,} stores",
        "",
        f"**Sizes:** {r.stores:,} stores, {r.day_rows:,} store days (every open day of"
        f" {r.as_of:%B %Y}, the month up to `as_of` {r.as_of.isoformat()}), {r.target_rows:,}"
        f" month targets (revenue, vehicles in); 1 client, {sizes.dashboard_calls} calls or"
        f" {sizes.dashboard_seconds:g} s per step after {sizes.dashboard_warmup} warm-up calls.",
        "",
        "**Seeding bypasses the event path:** the queries read analytics' read-model tables"
        " only, so `analytics_stores`, `analytics_store_days` and `analytics_targets` (created"
        " by the service's own migrations, with their indexes) are filled with psycopg `COPY`"
        f" ({r.copy_seconds:.1f} s with `VACUUM (ANALYZE)`), with what the projections and"
        " SetTarget would have left: each store's profile (region, bays, capacity, hours) and"
        " per day its vehicles, visits, labour hours, revenue lines, satisfaction, part issues"
        " and shortages around its capacity. No warnings, transfers or shifts are seeded (the"
        " queries read those tables too, empty here). Both calls ask for the network scope"
        " (HQ's token) and the whole month; GetKpis for the month period.",
        "",
        "Baseline: the very SQL statements the call sends, captured from the service's engine"
        " during one call, replayed through bare psycopg in one transaction, all rows fetched"
        f" ({len(r.statements['dashboard'])} statements for the dashboard,"
        f" {len(r.statements['kpis'])} for KPI).",
        "",
    )
    report.table(LOAD_HEADER, rows)
    report.add(f"Dashboard SQL: `{sql['dashboard']}`", "", f"KPI SQL: `{sql['kpis']}`", "")
    for result in r.rows:
        if not result.label.startswith("raw"):
            name = result.label.split(" over")[0]
            report.figures.append(
                Figure(f"{name} p99, {r.stores:,} stores, 1 client", result.p99_ms, "ms")
            )
