"""9. Analytics: rebuild events/s, projection lag, GetDashboard and GetKpis for 2,000 stores.

The sizes live here (not in bench/config.py): `FULL` and `QUICK` below, picked by the run's
mode. Each part is in its own module (analytics_rebuild, analytics_lag, analytics_dashboard).
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.context import BenchContext
from bench.load import LoadResult, percentile
from bench.report import LOAD_HEADER, Figure, SectionReport, load_row, num
from bench.sections import analytics_dashboard, analytics_lag, analytics_rebuild

TITLE = "9. Analytics: rebuild, projection lag, network dashboard"


@dataclass(frozen=True)
class AnalyticsSizes:
    rebuild_events: int
    lag_paced_clients: int
    lag_paced_calls: int
    lag_pause: float
    lag_clients: int
    lag_calls: int
    lag_seconds: float
    dashboard_stores: int
    dashboard_calls: int
    dashboard_seconds: float
    dashboard_warmup: int


FULL = AnalyticsSizes(20_000, 1, 100, 0.1, 4, 2_000, 10.0, 2_000, 20, 30.0, 2)
QUICK = AnalyticsSizes(2_000, 1, 30, 0.1, 4, 200, 5.0, 200, 20, 5.0, 1)


def _ms(value: float) -> str:
    return num(value * 1000)


async def run(ctx: BenchContext, report: SectionReport) -> None:
    sizes = QUICK if ctx.sizes.mode == "quick" else FULL
    rebuilt = await analytics_rebuild.measure(ctx, sizes.rebuild_events)
    _report_rebuild(report, rebuilt)
    steps = [
        analytics_lag.Step(
            "paced",
            sizes.lag_paced_clients,
            sizes.lag_paced_calls,
            sizes.lag_seconds,
            sizes.lag_pause,
        ),
        analytics_lag.Step(
            "full speed", sizes.lag_clients, sizes.lag_calls, sizes.lag_seconds, 0.0
        ),
    ]
    results, raw, raw_lags = await analytics_lag.measure(
        ctx, steps, sizes.lag_clients, sizes.lag_calls, sizes.lag_seconds
    )
    _report_lag(report, results, raw, raw_lags, sizes)
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


def _lag_row(what: str, lags: list[float], missing: int) -> list[str]:
    return [
        what,
        str(len(lags)),
        _ms(percentile(lags, 50)),
        _ms(percentile(lags, 99)),
        _ms(max(lags, default=0.0)),
        str(missing),
    ]


def _report_lag(
    report: SectionReport,
    results: list[analytics_lag.LagResult],
    raw: LoadResult,
    raw_lags: list[float],
    sizes: AnalyticsSizes,
) -> None:
    rows = [_lag_row("raw: JetStream publish (acked) to delivery, same NATS", raw_lags, 0)]
    rows[0][-1] = str(raw.ok - len(raw_lags))
    loads = []
    for r in results:
        rows.append(
            _lag_row(f"**{r.step.label}: reply to its count in analytics**", r.lags, r.missing)
        )
        drained = len(r.lags) / r.drain_seconds if r.drain_seconds else 0.0
        load = load_row(r.commands, r.step.label, 0.0)
        load[8] = f"projected {num(drained)}/s"
        loads.append(load)
    report.add(
        "### 9b. Projection lag: inventory command to analytics' read model",
        "",
        f"**Sizes:** two steps of RequestParts over gRPC: *paced*, {sizes.lag_paced_clients}"
        f" client waiting {sizes.lag_pause * 1000:g} ms after each reply (until"
        f" {sizes.lag_paced_calls} calls or {sizes.lag_seconds:g} s), then *full speed*,"
        f" {sizes.lag_clients} clients in a closed loop (until {sizes.lag_calls:,} calls or"
        f" {sizes.lag_seconds:g} s); every {analytics_lag.SHORTAGE_EVERY}th request asks for"
        " more than stocked (a ShortageRecorded).",
        "",
        "Inventory and analytics run in this process, each on its own database, on one NATS"
        " namespace: inventory's relay publishes each event, analytics' durable subscription"
        " projects it (inbox claim and counter in one transaction). Each client works on its"
        " own store; a bare psycopg connection polls the stores' counters every"
        f" {analytics_lag.POLL_SECONDS * 1000:g} ms. The k-th request of a store has reached"
        " the read model when the store's count reaches k; its lag is that moment minus the"
        " moment its client had the reply (the reply leaves after the commit: the lag is"
        " over-stated by at most one poll, under-stated by the reply's way back). Baseline:"
        f" {raw.ok:,} messages from {raw.clients} clients, JetStream `publish` (acknowledged)"
        " to delivery at an ordered push consumer, on the same NATS server.",
        "",
    )
    report.table(("What", "Samples", "p50 ms", "p99 ms", "max ms", "Missing"), rows)
    report.add(
        "The load behind each step (*projected/s*: events counted in the read model per"
        " second, from the step's first reply to its last effect seen; when it is below the"
        " command rate the subscription falls behind and the lag is a queue; the paced step's"
        " latencies include its pause):",
        "",
    )
    header = list(LOAD_HEADER)
    header[8] = "Projection"
    report.table(header, loads)
    for r in results:
        report.figures.append(
            Figure(
                f"Projection lag p99, RequestParts to analytics, {r.step.label}",
                percentile_ms(r.lags, 99),
                "ms",
            )
        )


def percentile_ms(values: list[float], p: float) -> float:
    return percentile(values, p) * 1000


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
        " (HQ's token) and the whole month; GetKpis for the month period."
        " `analytics_store_months` (the month rows the projection keeps beside the days) is"
        " filled from the seeded days by the service's own SQL (`months_from_days`).",
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
