"""docs/benchmarks.md judges issue 10's targets from measured rows: the rules, the verdicts
and the Summary rows, with synthetic load results (no servers)."""

from __future__ import annotations

import os
import time
from typing import Any

import pytest

from bench.config import QUICK
from bench.load import LoadResult, machine_cores, machine_cpu
from bench.report import (
    Figure,
    SectionReport,
    Target,
    Unjudged,
    cpu_budget,
    num,
    render,
    share_target,
)
from bench.sections import (
    capacity,
    eventstore_appends,
    inventory_commands,
    inventory_lookup,
    relay,
    workforce_match,
)


def _result(label: str, clients: int, rate: float, p99_ms: float, cpu_ms: float) -> LoadResult:
    """`rate` ops/s over one second, every call taking `p99_ms`, `cpu_ms` CPU per call."""
    ok = round(rate)
    return LoadResult(
        label,
        clients,
        ok=ok,
        elapsed=1.0,
        latencies=[p99_ms / 1000] * ok,
        cpu_seconds=cpu_ms * ok / 1000,
    )


def _rules(report: SectionReport) -> dict[str, tuple[str, bool]]:
    return {t.name: (t.rule, t.met) for t in report.targets}


def test_a_share_target_is_the_percentage_of_its_baseline() -> None:
    target = share_target("x", 250.0, 1_000.0, 0.25)
    assert (target.measured, target.threshold, target.unit) == (25.0, 25.0, "%")
    assert target.met and target.rule == "≥ 25.0 %"
    assert not share_target("x", 249.0, 1_000.0, 0.25).met
    assert share_target("x", 1.0, 0.0, 0.25).measured == 0.0


def test_above_the_peer_means_strictly_above() -> None:
    assert not share_target("x", 100.0, 100.0, 1.0, strictly=True).met
    assert share_target("x", 101.0, 100.0, 1.0, strictly=True).met
    assert share_target("x", 101.0, 100.0, 1.0, strictly=True).rule == "> 100 %"
    below = Target("p99", 20.0, 20.0, "ms", higher_is_better=False, strictly=True)
    assert not below.met and below.rule == "< 20.0 ms"


def test_commands_judge_every_issue_10_target_of_section_1() -> None:
    report = SectionReport("commands", "1")
    steps = {
        1: (
            _result("raw", 1, 1_000, 1, 0.3),
            _result("ReceiveStock", 1, 260, 10, 2.5),
            _result("ReserveStock", 1, 240, 12, 3.5),
        ),
        8: (
            _result("raw", 8, 4_000, 4, 0.2),
            _result("ReceiveStock", 8, 900, 30, 3.0),
            _result("ReserveStock", 8, 1_100, 25, 2.0),
        ),
        32: (
            _result("raw", 32, 4_000, 14, 0.2),
            _result("ReceiveStock", 32, 10, 300, 30),
            _result("ReserveStock", 32, 10, 300, 30),
        ),
    }
    workers = {1: _result("w1", 8, 350, 43, 3.4), 2: _result("w2", 8, 410, 65, 3.6)}

    inventory_commands._judge(report, steps, workers)

    assert _rules(report) == {
        "ReceiveStock over gRPC at 1 client, share of raw INSERT+COMMIT": ("≥ 25.0 %", True),
        "ReserveStock over gRPC at 1 client, share of raw INSERT+COMMIT": ("≥ 25.0 %", False),
        "ReceiveStock CPU per call at 1 client (client + in-process service)": ("≤ 3.00 ms", True),
        "ReserveStock CPU per call at 1 client (client + in-process service)": (
            "≤ 3.00 ms",
            False,
        ),
        "ReceiveStock over gRPC at 8 clients, share of raw INSERT+COMMIT": ("≥ 25.0 %", False),
        "ReserveStock over gRPC at 8 clients, share of raw INSERT+COMMIT": ("≥ 25.0 %", True),
        "ReceiveStock CPU per call at 8 clients (client + in-process service)": (
            "≤ 3.00 ms",
            True,
        ),
        "ReserveStock CPU per call at 8 clients (client + in-process service)": (
            "≤ 3.00 ms",
            True,
        ),
        "ReserveStock p99 at 8 clients": ("≤ 25.0 ms", True),
    }
    assert [(f.name, f.measured, f.detail) for f in report.figures] == [
        ("ReserveStock at 8 clients, 1 worker process", 350.0, "p99 43.0 ms, CPU 3.40 ms/op"),
        ("ReserveStock at 8 clients, 2 worker processes", 410.0, "p99 65.0 ms, CPU 3.60 ms/op"),
    ]
    assert not report.unjudged


def test_commands_list_the_targets_a_run_without_the_8_client_step_could_not_judge() -> None:
    report = SectionReport("commands", "1")
    one = (_result("raw", 1, 1_000, 1, 0.3), _result("a", 1, 300, 9, 2), _result("b", 1, 300, 9, 2))

    inventory_commands._judge(report, {1: one}, {})

    assert len(report.targets) == 4
    assert [(u.name, u.rule) for u in report.unjudged] == [
        ("ReceiveStock and ReserveStock at 8 clients, share of raw INSERT+COMMIT", "≥ 25.0 %"),
        ("ReceiveStock and ReserveStock CPU per call at 8 clients", "≤ 3.00 ms"),
        ("ReserveStock p99 at 8 clients", "≤ 25.0 ms"),
    ]


def test_appends_judge_the_share_of_raw_and_the_peer() -> None:
    report = SectionReport("appends", "2")

    eventstore_appends._judge(report, {1: (600.0, 1_000.0), 8: (900.0, 3_000.0)}, {1: 500.0})

    assert _rules(report) == {
        "one-event Application.handle at 1 writer, share of raw INSERT+COMMIT": ("≥ 50.0 %", True),
        "one-event Application.handle at 1 writer, share of the eventsourcing library's save": (
            "> 100 %",
            True,
        ),
        "one-event Application.handle at 8 writers, share of raw INSERT+COMMIT": (
            "≥ 50.0 %",
            False,
        ),
    }
    assert [u.reason for u in report.unjudged] == ["the eventsourcing library is not installed"]


def test_relay_is_judged_at_60_percent_of_raw_pipelined_publishing() -> None:
    report = SectionReport("relay", "3")
    relay._judge(report, 0.59)
    assert _rules(report) == {
        "relay publishes/s, share of raw pipelined JetStream publishing (median of the rounds)": (
            "≥ 60.0 %",
            False,
        )
    }


def test_the_relay_share_is_the_median_of_each_round_against_its_own_raw_drain() -> None:
    def drains(raw_seconds: float, relay_seconds: float) -> tuple[Any, Any, Any]:
        return (
            relay.Drain("raw", 1_000, raw_seconds, 1_000),
            relay.Drain("win", 1_000, 1.0, 1_000),
            relay.Drain("relay", 1_000, relay_seconds, 1_000),
        )

    # Shares 50%, 80%, 90%: one noisy round (a slow raw drain, a slow relay) moves nothing.
    share, relay_rate, raw_rate = relay.medians(
        [drains(1.0, 2.0), drains(2.0, 2.5), drains(0.9, 1.0)]
    )
    assert share == pytest.approx(0.8)
    assert relay_rate == pytest.approx(1_000 / 2.0)
    assert raw_rate == pytest.approx(1_000 / 1.0)


def test_findstock_is_judged_on_its_share_of_the_raw_sql_and_reports_its_p99() -> None:
    report = SectionReport("lookup", "4")
    single = {
        inventory_lookup.RAW_LABEL: _result("raw", 1, 2_000, 1, 0.1),
        inventory_lookup.BARE_LABEL: _result("bare", 1, 500, 3, 1),
        inventory_lookup.GRPC_LABEL: _result("grpc", 1, 600, 5, 2),
    }

    inventory_lookup._judge(report, single)

    assert _rules(report) == {
        "FindStock over gRPC at 1 client, share of the raw SQL": ("≥ 30.0 %", True)
    }
    assert [(f.name, f.measured) for f in report.figures] == [
        ("FindStock p99 over gRPC, 1 client", 5.0),
        ("bare read_model.find_stock p99, 1 client", 3.0),
    ]


def test_capacity_judges_the_day_view_p99_and_the_booking_share() -> None:
    report = SectionReport("capacity", "5")
    seeded = {"day_rows": 10.0, "copy": 0.1, "vacuum_analyze": 0.1}
    seen = {"stores": {100}, "bytes": [4096], "red": [3], "yellow": [5], "sql": "SELECT 1"}
    single = {capacity.DAYVIEW_GRPC_LABEL: _result("view", 1, 50, 51, 5)}
    bookings = {8: (_result("raw", 8, 1_000, 4, 0.2), _result("book", 8, 260, 40, 3))}

    capacity._report_view(report, QUICK, seeded, [], single, seen)
    capacity._report_bookings(report, QUICK, [], bookings, 30, 0, 100)

    assert _rules(report) == {
        "GetNetworkDayView p99, 100 stores, 1 client": ("≤ 50.0 ms", False),
        "BookAppointment over gRPC at 8 clients, share of raw INSERT+COMMIT": ("≥ 25.0 %", True),
    }
    assert [f.name for f in report.figures] == ["BookAppointment p99 at 8 clients"]
    assert not any("none in the issue" in line for line in report.body)


def test_capacity_reports_each_sync_batch_on_its_median_store_beside_its_raw_copy() -> None:
    report = SectionReport("capacity", "5")
    nightly = capacity.SyncRun(
        420,
        tuple(capacity.SyncCall(420, s, 0.042) for s in (0.3, 0.06, 0.07)),
        (0.02, 0.01, 0.5),
    )
    largest = capacity.SyncRun(
        2_000, tuple(capacity.SyncCall(2_000, s, 0.3) for s in (0.25, 0.5, 0.2)), (0.05,)
    )
    again = [("sent again", capacity.SyncCall(2_000, 0.1, 0.1))]
    one_by_one = _result("book", 1, 600, 3, 1.3)

    capacity._report_sync(report, [nightly, largest], again, one_by_one)

    assert not report.targets and not report.unjudged
    # The median call: 70 ms, not the slow 300 ms or the fast 60 ms.
    assert [f.measured for f in report.figures] == pytest.approx([6_000.0, 8_000.0])
    assert [(f.name, f.unit, f.detail) for f in report.figures] == [
        (
            "SyncAppointments of 420 new appointments in one call (median of 3 stores joining)",
            "appointments/s",
            "29% of raw COPY of the same rows at 21,000/s (median copy 20.0 ms); the call"
            " 70.0 ms, CPU 0.10 ms per appointment; 10.0× BookAppointment one call each",
        ),
        (
            "SyncAppointments of 2,000 new appointments in one call (median of 3 stores joining)",
            "appointments/s",
            "20% of raw COPY of the same rows at 40,000/s (median copy 50.0 ms); the call"
            " 250 ms, CPU 0.15 ms per appointment; 13.3× BookAppointment one call each",
        ),
    ]
    rows = [line for line in report.body if line.startswith("| ")]
    assert "| BookAppointment over gRPC, one call per appointment" in rows[-1]
    assert rows[-1].endswith("| 2,000 | 3,333 | 600 | 2% | 1.30 |")
    assert rows[-2] == "| sent again | 2,000 | 100 | 20,000 | 50% | 0.05 |"


def test_capacity_reports_sync_batches_without_a_booking_step_to_compare() -> None:
    report = SectionReport("capacity", "5")
    run = capacity.SyncRun(420, (capacity.SyncCall(420, 0.07, 0.04),), (0.02,))
    capacity._report_sync(report, [run], [], None)

    assert [f.detail.endswith("ms per appointment") for f in report.figures] == [True]
    assert not any("BookAppointment over gRPC" in line for line in report.body)


def test_matchsupport_is_judged_on_its_p99_at_one_client() -> None:
    report = SectionReport("workforce", "6")
    seeded = workforce_match.Seeded(technicians=1_000)
    single = {workforce_match.GRPC_LABEL: _result("match", 1, 80, 19, 4)}

    workforce_match._report(report, QUICK, seeded, [], single, [3], [3], [(9, 4, 3)], "SELECT 1")

    assert _rules(report) == {
        "MatchSupport p99, 1,000 technicians in 100 stores, 1 client": ("≤ 20.0 ms", True)
    }
    assert not any("none in the issue" in line for line in report.body)


def test_the_summary_lists_targets_then_unmeasured_targets_then_figures() -> None:
    report = SectionReport("s", "Section")
    report.targets.append(Target("p99", 12.0, 20.0, "ms", higher_is_better=False))
    report.unjudged.append(Unjudged("peer share", "> 100 %", "peer not installed"))
    report.figures.append(Figure("workers", 400.0, "ops/s", rule="asked for", detail="p99 9 ms"))
    failed = SectionReport("f", "Failed", error="RuntimeError: boom")

    text = render([report, failed], [], [], "quick", [])

    summary = text.split("## Summary")[1].split("## Machine")[0]
    assert [line for line in summary.splitlines() if line.startswith("| ")][2:] == [
        "| Section | p99 | ≤ 20.0 ms | 12.0 ms | **met** |",
        "| Section | peer share | > 100 % | peer not installed | **not measured** |",
        "| Section | workers | asked for | 400 ops/s (p99 9 ms) | reported |",
        "| Failed | (section failed) |  | RuntimeError: boom | **not measured** |",
    ]
    assert "Figure: workers (asked for). Measured: 400 ops/s (p99 9 ms)." in text
    assert "Target: peer share > 100 %. Not measured in this run: peer not installed." in text


def test_the_report_points_to_the_per_command_cpu_breakdown() -> None:
    text = render([], [], [], "quick", [])
    section = text.split("## Where a command's CPU goes (before and after)")[1]
    assert "[profiles.md](profiles.md)" in section
    assert "- Where a stock command's CPU goes" in section


def test_a_cpu_budget_sets_the_machines_cpu_per_call_beside_what_the_share_leaves() -> None:
    step = _result("ReserveStock", 8, 1_000, 10, 0.9)
    assert cpu_budget("x", step, 4_000.0, 0.25) == []  # no /proc/stat figure
    step.machine_cpu_seconds = 1.5  # of 1 s: 1.5 ms of the machine per call

    [figure] = cpu_budget("x", step, 4_000.0, 0.25)

    cores = machine_cores()
    assert figure.measured == pytest.approx(1.5)
    # 25% of 4,000/s is 1,000 calls a second: each may cost the machine cores/1000 s.
    assert figure.detail == (
        f"the machine {150 / cores:.0f}% busy; 25% of raw on {cores} cores leaves at most"
        f" {num(1000 * cores / 1_000)} ms of the machine's CPU per call"
    )


def test_commands_report_the_cpu_budget_of_each_multi_client_step() -> None:
    report = SectionReport("commands", "1")
    steps = {}
    for clients, raw_rate in ((1, 1_000), (8, 4_000)):
        raw = _result("raw", clients, raw_rate, 1, 0.2)
        received = _result("ReceiveStock", clients, 500, 9, 1)
        reserved = _result("ReserveStock", clients, 400, 9, 1)
        for step, machine in ((raw, 0.5), (received, 0.6), (reserved, 0.8)):
            step.machine_cpu_seconds = machine
        steps[clients] = (raw, received, reserved)

    inventory_commands._judge(report, steps, {})

    assert [(f.name, f.measured) for f in report.figures] == [
        ("ReceiveStock at 8 clients, the whole machine's CPU per call", pytest.approx(1.2)),
        ("ReserveStock at 8 clients, the whole machine's CPU per call", pytest.approx(2.0)),
    ]


def test_findstock_reports_the_ceiling_its_floor_and_the_raw_sql_put_on_it() -> None:
    report = SectionReport("lookup", "4")
    single = {
        inventory_lookup.RAW_LABEL: _result("raw", 1, 3_000, 1, 0.1),
        inventory_lookup.FLOOR_LABEL: _result("floor", 1, 1_000, 1, 0.4),
        inventory_lookup.GRPC_LABEL: _result("grpc", 1, 600, 5, 2),
    }

    inventory_lookup._judge(report, single)

    shown = {f.name: f.measured for f in report.figures}
    assert shown["the gRPC floor at 1 client alone, share of the raw SQL"] == pytest.approx(100 / 3)
    # 1 ms + 1/3 ms in series: 750 calls/s at most, a quarter of the raw 3,000/s.
    in_series = "the gRPC floor and the raw SQL in series at 1 client, share of the raw SQL"
    assert shown[in_series] == pytest.approx(25.0)


def test_machine_cpu_counts_busy_time_of_every_core() -> None:
    before = machine_cpu()
    if before is None:  # not Linux: the columns show a dash
        assert not os.path.exists("/proc/stat")
        return
    deadline = time.process_time() + 0.2
    while time.process_time() < deadline:  # 200 ms of this process's CPU, bounded
        pass
    after = machine_cpu()
    # The kernel counts in ticks (10 ms) and samples which task a tick finds running.
    assert after is not None and after - before >= 0.1
