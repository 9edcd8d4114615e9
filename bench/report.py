"""The pieces of docs/benchmarks.md: sections, targets and Markdown tables."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.load import LoadResult, machine_cores

AB_RESULTS = Path(__file__).resolve().parent / "ab_commands.md"
PROFILES = Path(__file__).resolve().parent.parent / "docs" / "profiles.md"
MEASURE_ONLY = "none (measure only)"


@dataclass(frozen=True)
class Target:
    """One target of the issue, judged from the measured value (never written by hand)."""

    name: str
    measured: float
    threshold: float
    unit: str
    higher_is_better: bool
    strictly: bool = False  # "above the peer": equal is not enough

    @property
    def met(self) -> bool:
        if self.higher_is_better:
            if self.strictly:
                return self.measured > self.threshold
            return self.measured >= self.threshold
        if self.strictly:
            return self.measured < self.threshold
        return self.measured <= self.threshold

    @property
    def rule(self) -> str:
        sign = (
            (">" if self.strictly else "≥")
            if self.higher_is_better
            else ("<" if self.strictly else "≤")
        )
        return f"{sign} {num(self.threshold)} {self.unit}".strip()

    @property
    def verdict(self) -> str:
        return "**met**" if self.met else "**not met**"

    def line(self) -> str:
        return (
            f"Target: {self.name} {self.rule}. Measured: {num(self.measured)} {self.unit}"
            f" → {self.verdict}."
        )


def share_target(
    name: str, rate: float, baseline_rate: float, share: float, *, strictly: bool = False
) -> Target:
    """`rate` as a percentage of `baseline_rate` (same run), judged against `share` (0..1)."""
    return Target(
        name,
        100 * rate / baseline_rate if baseline_rate > 0 else 0.0,
        100 * share,
        "%",
        higher_is_better=True,
        strictly=strictly,
    )


def cpu_budget(name: str, result: LoadResult, baseline_rate: float, share: float) -> list[Figure]:
    """The CPU side of a share target: the whole machine's CPU per operation in the step,
    beside the most it may cost for the machine's cores to carry `share` of the baseline's
    rate. A bound only where the step kept the cores busy (shown beside it). None where
    the machine's busy time is not known."""
    spent, busy = result.machine_cpu_ms_per_op, result.machine_busy
    if spent is None or busy is None or baseline_rate <= 0:
        return []
    cores = machine_cores()
    budget = 1000 * cores / (share * baseline_rate)
    figure = Figure(
        name,
        spent,
        "ms",
        rule="what the share target asks of the CPU: measured only",
        detail=(
            f"the machine {100 * busy:.0f}% busy; {100 * share:.0f}% of raw on {cores}"
            f" cores leaves at most {num(budget)} ms of the machine's CPU per call"
        ),
    )
    return [figure]


@dataclass(frozen=True)
class Unjudged:
    """A target of the issue this run could not measure: listed, never silently dropped."""

    name: str
    rule: str
    reason: str

    def line(self) -> str:
        return f"Target: {self.name} {self.rule}. Not measured in this run: {self.reason}."


@dataclass(frozen=True)
class Figure:
    """A figure asked for without a threshold: measured and reported, never judged."""

    name: str
    measured: float
    unit: str
    rule: str = MEASURE_ONLY  # the Summary's Rule column: why there is no threshold
    detail: str = ""  # shown after the measured value, e.g. the step's p99

    @property
    def shown(self) -> str:
        value = f"{num(self.measured)} {self.unit}".strip()
        return f"{value} ({self.detail})" if self.detail else value

    def line(self) -> str:
        why = "no target in the issue: measured only" if self.rule == MEASURE_ONLY else self.rule
        return f"Figure: {self.name} ({why}). Measured: {self.shown}."


@dataclass
class SectionReport:
    key: str
    title: str
    body: list[str] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    unjudged: list[Unjudged] = field(default_factory=list)
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
    "Machine busy",
    "Machine CPU ms/op",
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
        "—" if result.machine_busy is None else f"{100 * result.machine_busy:.0f}%",
        "—" if result.machine_cpu_ms_per_op is None else num(result.machine_cpu_ms_per_op),
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
        "*Machine busy* is the share of all the machine's cores busy during the step (from"
        " /proc/stat: user, nice, system, irq, softirq, steal; every process, PostgreSQL and"
        " NATS included), and *Machine CPU ms/op* that busy time divided by the successful"
        " operations. A step near 100% busy is bound by CPU: its rate rises only as the CPU"
        " each operation costs the whole machine falls, or with more cores. Anything else"
        " running on the machine counts too, so these are upper bounds.",
        "",
        "## Summary",
        "",
        "Each target is judged from this run's rows, a ratio where the issue sets one against"
        " the raw baseline of the same section and step; *reported* rows are figures asked for"
        " without a threshold; **not measured** marks a target this run could not measure.",
        "",
    ]
    summary_rows = [
        [r.title, t.name, t.rule, f"{num(t.measured)} {t.unit}".strip(), t.verdict]
        for r in reports
        for t in r.targets
    ]
    summary_rows += [
        [r.title, u.name, u.rule, u.reason, "**not measured**"] for r in reports for u in r.unjudged
    ]
    summary_rows += [
        [r.title, f.name, f.rule, f.shown, "reported"] for r in reports for f in r.figures
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
        for unjudged in report.unjudged:
            out += [unjudged.line(), ""]
        for figure in report.figures:
            out += [figure.line(), ""]
        out += [f"_Section wall time: {report.seconds:.0f} s._"]
    out += ["", *profiles_pointer()]
    if AB_RESULTS.exists():  # measured apart (bench.ab_commands), kept beside the run's
        out += ["", AB_RESULTS.read_text().strip()]
    out += ["", "## Sizes and durations", ""]
    out += table(("Parameter", "Value"), [(f"`{k}`", v) for k, v in sizes])
    out += [""]
    out += table(("", ""), [(k, v) for k, v in footer])
    out += [""]
    return "\n".join(out)


def profiles_pointer() -> list[str]:
    """Where the per-command CPU breakdown, before and after each change, is kept."""
    out = [
        "## Where a command's CPU goes (before and after)",
        "",
        "The per-command CPU breakdown that issue 10 asks for, before and after each change"
        " to the command path, is in [profiles.md](profiles.md), written from"
        " `make profile` (`python -m bench.profile_commands`: the inventory service of"
        " section 1 under ReceiveStock and ReserveStock load, sampled on process CPU time;"
        " shares of busy samples per component: token check, store-directory lookup,"
        " event-store load and append, projection, command log, begin and commit, spans,"
        " relay). The rates above are from this run; the shares there are from the runs"
        " each heading names.",
    ]
    if PROFILES.exists():
        outline = [
            f"{'  ' if line.startswith('## ') else ''}- {line.lstrip('#').strip()}"
            for line in PROFILES.read_text().splitlines()
            if line.startswith(("# ", "## "))
        ]
        if outline:
            out += [
                "",
                "What it holds:",
                "",
            ]
            out += outline
    return out
