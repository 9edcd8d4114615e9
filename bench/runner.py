"""`python -m bench [--only KEY ...] [--out PATH]`: run the sections, write the Markdown."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import traceback
from pathlib import Path

from bench import config, machine
from bench.context import BenchContext
from bench.report import SectionReport, render
from bench.sections import REGISTRY
from kernel import event_loop
from kernel.telemetry import configure_logging, configure_tracing
from kernel.testing.servers import resolve

LOG_LEVEL = "warning"
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        choices=[s.key for s in REGISTRY],
        help="run only this section (repeatable)",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="Markdown file to write")
    parser.add_argument("--list", action="store_true", help="list the sections and exit")
    parser.add_argument(
        "--pipelined-begin",
        action="store_true",
        help="services and sections with Settings.db_pipelined_begin on (off is the default)",
    )
    return parser.parse_args(argv)


async def _run(args: argparse.Namespace) -> int:
    sizes = config.from_env()
    # As every service process does at start: JSON logs at the bench's level, and the
    # OpenTelemetry tracer provider (spans are made, no exporter), so code measured outside
    # a service (event store, relay) pays what it pays inside one.
    configure_logging("bench", LOG_LEVEL)
    configure_tracing("bench", "none")
    sections = [s for s in REGISTRY if not args.only or s.key in args.only]
    endpoints = resolve()
    ctx = BenchContext(sizes, endpoints, log_level=LOG_LEVEL)
    ctx.pipelined_begin = args.pipelined_begin
    started = time.perf_counter()
    failed = 0
    try:
        facts = await machine.describe(endpoints.postgres_url, endpoints.nats_url)
        reports: list[SectionReport] = []
        for section in sections:
            report = SectionReport(section.key, section.title)
            print(f"bench: {section.title} ...", file=sys.stderr, flush=True)
            t0 = time.perf_counter()
            try:
                await asyncio.wait_for(section.run(ctx, report), sizes.section_timeout_seconds)
            except Exception as exc:
                failed += 1
                report.error = f"{type(exc).__name__}: {exc}"[:300]
                traceback.print_exc()
            report.seconds = time.perf_counter() - t0
            reports.append(report)
            for target in report.targets:
                print(f"bench:   {target.line()}", file=sys.stderr, flush=True)
            for unjudged in report.unjudged:
                print(f"bench:   {unjudged.line()}", file=sys.stderr, flush=True)
            for figure in report.figures:
                print(f"bench:   {figure.line()}", file=sys.stderr, flush=True)
            print(f"bench:   done in {report.seconds:.0f} s", file=sys.stderr, flush=True)
        footer = [
            ("Load average at end (1/5/15 min)", machine.load_average()),
            ("Total wall time", f"{time.perf_counter() - started:.0f} s"),
            ("Sections run", ", ".join(s.key for s in sections)),
            ("Reproduce", "`make bench` (full) or `BENCH_QUICK=1 make bench` (quick)"),
        ]
        text = render(reports, facts, sizes.as_rows(), sizes.mode, footer)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
        print(f"bench: wrote {args.out}", file=sys.stderr)
    finally:
        ctx.close()
        endpoints.stop()
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    if args.list:
        for s in REGISTRY:
            print(f"{s.key:10} {s.title}")
        return 0
    return event_loop.run(_run(args))
