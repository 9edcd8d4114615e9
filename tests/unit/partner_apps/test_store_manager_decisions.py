"""The example app's policies: what a manager typed becomes approve, reject or leave."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from storemesh.analytics.events.v1.events_pb2 import (
    WARNING_LEVEL_RED,
    Period,
    WarningRaised,
)
from storemesh.collab.events.v1.events_pb2 import ApprovalRequested

from examples.store_manager_app.__main__ import main
from examples.store_manager_app.app import describe_warning, feeds
from examples.store_manager_app.decisions import APPROVE, LEAVE, AskOnTerminal, AutoApprove

REQUEST = ApprovalRequested(
    transfer_id="T-1",
    store_id="SZ02",
    source_store_id="SZ02",
    requesting_store_id="GZ01",
    part_number="HL-200",
    quantity=2,
    urgency="urgent",
    customer_waiting=True,
    due_at=Timestamp(seconds=int(datetime(2026, 11, 2, 8, 10, tzinfo=UTC).timestamp())),
)


def answering(*answers: str) -> tuple[AskOnTerminal, list[str]]:
    typed = iter(answers)
    shown: list[str] = []
    return AskOnTerminal(read=lambda prompt: next(typed), write=shown.append), shown


async def test_auto_approve_approves_every_request() -> None:
    assert await AutoApprove().decide(REQUEST) == APPROVE


async def test_ask_shows_the_request_and_approves_on_a() -> None:
    policy, shown = answering("a")
    assert await policy.decide(REQUEST) == APPROVE
    assert shown == [
        "transfer T-1: GZ01 asks 2 x HL-200 (urgent, customer waiting); answer by 08:10 UTC"
    ]


async def test_ask_rejects_with_the_reason_typed_after_r() -> None:
    policy, _ = answering("r  we need both for a car on the lift")
    decision = await policy.decide(REQUEST)
    assert (decision.verdict, decision.reason) == ("reject", "we need both for a car on the lift")


async def test_ask_rejects_without_a_reason_with_a_default_one() -> None:
    policy, _ = answering("reject")
    assert (await policy.decide(REQUEST)).reason == "rejected by the store manager"


async def test_ask_asks_again_after_an_answer_it_does_not_understand() -> None:
    policy, shown = answering("maybe", "s")
    assert await policy.decide(REQUEST) == LEAVE
    assert shown[-1] == "not understood: 'maybe'"


def test_feeds_filter_one_store_on_the_catalogue_subjects() -> None:
    assert [(f.stream, f.consumer, f.subject) for f in feeds("SZ02", "a", "w")] == [
        ("COLLAB", "a", "collab.v1.SZ02.ApprovalRequested"),
        ("ANALYTICS", "w", "analytics.v1.SZ02.WarningRaised"),
    ]


def test_a_warning_reads_as_its_data_deviation_and_period() -> None:
    warning = WarningRaised(
        warning_id="W-1",
        level=WARNING_LEVEL_RED,
        indicator="csi",
        actual=82,
        reference=88,
        deviation=0.068,
        period=Period(start="2026-11-01"),
        drill_down="store/SZ02/indicator/csi/period/2026-11",
    )
    assert describe_warning(warning) == (
        "warning W-1 (red): csi at 82 against 88, 7% adverse, period 2026-11-01; "
        "drill down: store/SZ02/indicator/csi/period/2026-11"
    )


def test_the_command_line_refuses_to_start_without_a_manager_token(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("STOREMESH_TOKEN", raising=False)
    assert main(["--store", "SZ02", "--policy", "auto-approve"]) == 2
    assert "a manager token is needed" in capsys.readouterr().err
