"""The pieces of docs/benchmarks.md: sections, targets and Markdown tables."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.load import LoadResult

AB_RESULTS = Path(__file__).resolve().parent / "ab_commands.md"


@dataclass(frozen=True)
class Target:
    """One target of the issue, judged from the measured value (never written by hand)."""

    name: str
    measured: float
    threshold: float
    unit: str
    higher_is_better: bool

    @property
    def met(self) -> bool:
        if self.higher_is_better:
            return self.measured >= self.threshold
        return self.measured <= self.threshold

    @property
    def rule(self) -> str:
        return f"{'≥' if self.higher_is_better else '≤'} {num(self.threshold)} {self.unit}".strip()

    @property
    def verdict(self) -> str:
        return "**met**" if self.met else "**not met**"

    def line(self) -> str:
        return (
            f"Target: {self.name} {self.rule}. Measured: {num(self.measured)} {self.unit}"
            f" → {self.verdict}."
        )


@dataclass(frozen=True)
class Figure:
    """A figure the issue asks for without a target: measured and reported, never judged."""

    name: str
    measured: float
    unit: str

    def line(self) -> str:
        return (
            f"Figure: {self.name} (no target in the issue: measured only)."
            f" Measured: {num(self.measured)} {self.unit}."
        )


@dataclass
class SectionReport:
    key: str
    title: str
    body: list[str] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    error: str = ""
    seconds: float = 0.0

    def add(self, *lines: str) -> None:
        self.body.extend(lines)

    def table(self, header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
        self.body.extend(table(header, rows))
        self.body.append("")


def num(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def pct(part: float, whole: float) -> str:
    return f"{100 * part / whole:.0f}%" if whole > 0 else "n/a"


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


LOAD_HEADER = (
    "Clients",
    "What",
    "Ops/s",
    "p50 ms",
    "p99 ms",
    "max ms",
    "OK",
    "Errors",
    "vs raw",
    "CPU ms/op",
)


def load_row(result: LoadResult, what: str, baseline_rate: float | None = None) -> list[str]:
    """A table row; `baseline_rate` None marks the row as the baseline itself."""
    return [
        str(result.clients),
        what,
        num(result.rate),
        num(result.p50_ms),
        num(result.p99_ms),
        num(result.max_ms),
        str(result.ok),
        result.error_text(),
        "baseline" if baseline_rate is None else pct(result.rate, baseline_rate),
        num(result.cpu_ms_per_op),
    ]


def render(
    reports: Sequence[SectionReport],
    machine: Sequence[tuple[str, str]],
    sizes: Sequence[tuple[str, str]],
    mode: str,
    footer: Sequence[tuple[str, str]],
) -> str:
    out = [
        "# Benchmarks",
        "",
        "Written by `make bench` (`python -m bench`); do not edit by hand, run it again.",
        f"Mode: **{mode}**"
        + (
            " (`BENCH_QUICK=1`: small sizes for development; these numbers are not the"
            " published ones — run `make bench` without it on a quiet machine)."
            if mode == "quick"
            else " (the published sizes)."
        ),
        "",
        "Every figure stands beside a raw baseline measured in the same run, on the same"
        " PostgreSQL and NATS servers, right before or after it. Load steps are closed loops:"
        " each client awaits its call before making the next one; throughput is successful"
        " calls divided by the wall time of the step; latency is per successful call as the"
        " client saw it (p50/p99 nearest rank). Every step stops at its call budget or its"
        " time budget, whichever comes first (see *Sizes and durations*).",
        "",
        "*CPU ms/op* is the CPU time (user + system, all threads) of the benchmark process"
        " during the step divided by the successful operations: for raw rows that is the bare"
        " client's cost, for gRPC rows the client's and the in-process service's together"
        " (PostgreSQL's and NATS's own CPU is not in it). It shows whether a step is bound by"
        " Python CPU or by waiting.",
        "",
        "## Summary",
        "",
    ]
    summary_rows = [
        [r.title, t.name, t.rule, f"{num(t.measured)} {t.unit}".strip(), t.verdict]
        for r in reports
        for t in r.targets
    ]
    summary_rows += [
        [r.title, f.name, "none (measure only)", f"{num(f.measured)} {f.unit}".strip(), "reported"]
        for r in reports
        for f in r.figures
    ]
    summary_rows += [
        [r.title, "(section failed)", "", r.error, "**not measured**"] for r in reports if r.error
    ]
    out += table(("Section", "Target", "Rule", "Measured", "Verdict"), summary_rows)
    out += ["", "## Machine", ""]
    out += table(("", ""), [(k, v) for k, v in machine])
    for report in reports:
        out += ["", f"## {report.title}", ""]
        if report.error:
            out += [f"**This section failed:** `{report.error}`", ""]
        out += report.body
        for target in report.targets:
            out += [target.line(), ""]
        for figure in report.figures:
            out += [figure.line(), ""]
        out += [f"_Section wall time: {report.seconds:.0f} s._"]
    if AB_RESULTS.exists():  # measured apart (bench.ab_commands), kept beside the run's
        out += ["", AB_RESULTS.read_text().strip()]
    out += ["", "## Sizes and durations", ""]
    out += table(("Parameter", "Value"), [(f"`{k}`", v) for k, v in sizes])
    out += [""]
    out += table(("", ""), [(k, v) for k, v in footer])
    out += [""]
    return "\n".join(out)
