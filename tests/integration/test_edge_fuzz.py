"""Every RPC of every service, walked from its descriptor with hostile values per field, on
SQLite and on PostgreSQL: no input a caller sends yields INTERNAL, UNKNOWN or UNAVAILABLE,
every INVALID_ARGUMENT names its fields in a BadRequest, and a refused mutation records
nothing. A new service is covered the day its bootstrap is listed in edge_fixtures."""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf.message import Message
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from kernel.clock import ManualClock
from kernel.testing.servers import Endpoints
from tests.integration.edge_fixtures import BUILDS, Network, NetworkOn, ServiceUnderTest, network_on
from tests.integration.hostile_requests import (
    ENDINGS,
    Case,
    forge,
    is_mutation,
    plausible,
    random_cases,
    single_field_cases,
)
from tests.integration.rich_errors import event_count

__all__ = ["network_on"]

NEVER = {
    grpc.StatusCode.INTERNAL,
    grpc.StatusCode.UNKNOWN,
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED,
}
RANDOM_CASES_PER_RPC = 8
# One case in this many is sent with the SZ01 DMS token instead of HQ's.
DMS_SHARE = 4
CALL_TIMEOUT_SECONDS = 10.0


@pytest.mark.timeout(300)
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_no_hostile_request_breaks_any_rpc_or_changes_anything_when_refused(
    backend: str, network_on: NetworkOn, mint: Callable[..., str]
) -> None:
    tokens = {"hq": mint("hq", subject="fuzz-hq"), "dms": mint("dms", "SZ01", subject="fuzz")}
    started = time.perf_counter()
    async with network_on(backend) as net:
        report = await fuzz(net, tokens)
    elapsed = time.perf_counter() - started

    print(f"\nedge fuzz on {backend}: {report.calls} calls in {elapsed:.1f} s")
    print(f"  status codes: {dict(report.codes.most_common())}")
    print(f"  calls per service: {dict(report.per_service)}; RPCs: {report.rpcs}")
    print(f"  plausible requests refused as malformed: {report.plausible_refused}")
    assert report.calls > 3000
    assert set(report.per_service) == {name for name, *_ in BUILDS}
    # The plausible values reach the business rules: a fuzz refused at the door everywhere
    # would prove nothing about the code behind it.
    assert report.codes["OK"] > report.calls // 20
    assert report.plausible_refused == []
    assert not report.failures, (
        f"{len(report.failures)} of {report.calls} calls broke the edge:\n"
        + "\n".join(report.failures)
    )


@dataclass
class Report:
    calls: int = 0
    rpcs: int = 0
    codes: Counter[str] = field(default_factory=Counter)
    per_service: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    # RPCs whose plausible request is refused as malformed: their cases test the edge only.
    plausible_refused: list[str] = field(default_factory=list)


async def fuzz(net: Network, tokens: dict[str, str]) -> Report:
    report = Report()
    rpcs = every_rpc(net)
    issued = await first_page_tokens(rpcs, tokens["hq"])
    for service, method in rpcs:
        request_class = getattr(service.messages, method.input_type.name)
        rng = random.Random(method.full_name)
        foreign = [
            (f"foreign: {name.rsplit('.', 1)[-1]}'s token", token)
            for name, token in issued.items()
            if name != method.full_name
        ]
        report.rpcs += 1
        for case in await cases(service, method, request_class, rng, tokens["hq"], foreign):
            token = "dms" if rng.randrange(DMS_SHARE) == 0 else "hq"
            report.calls += 1
            report.per_service[service.name] += 1
            outcome = await attempt(service, method, case, tokens[token])
            report.codes[outcome.code] += 1
            if case.label == "plausible" and outcome.fields:
                report.plausible_refused.append(f"{method.name} {list(outcome.fields)}")
            if outcome.problem:
                report.failures.append(
                    f"{net.backend} {method.name} {case.label} [{token}]: {outcome.problem}"
                )
    return report


async def first_page_tokens(rpcs: list[tuple[ServiceUnderTest, Any]], hq: str) -> dict[str, str]:
    """A real next_page_token of every paged RPC, to send to the others (foreign tokens)."""
    issued = {}
    for service, method in rpcs:
        if "page_token" not in method.input_type.fields_by_name:
            continue
        base = plausible(method.input_type, getattr(service.messages, method.input_type.name))
        reply = await call_rpc(service, method, base, hq)
        if isinstance(reply, Message) and getattr(reply, "next_page_token", ""):
            issued[method.full_name] = reply.next_page_token
    return issued


def every_rpc(net: Network) -> list[tuple[ServiceUnderTest, Any]]:
    """Each service's RPCs from its file descriptor, those that end things last."""
    found = [
        (service, method)
        for service in net.services
        for service_descriptor in service.messages.DESCRIPTOR.services_by_name.values()
        for method in service_descriptor.methods
    ]
    return sorted(
        found,
        key=lambda pair: ENDINGS.index(pair[1].name) + 1 if pair[1].name in ENDINGS else 0,
    )


async def cases(
    service: ServiceUnderTest,
    method: Any,
    request_class: Any,
    rng: random.Random,
    hq: str,
    foreign: list[tuple[str, str]],
) -> list[Case]:
    base = plausible(method.input_type, request_class)
    forged: list[tuple[str, str]] = []
    if "page_token" in method.input_type.fields_by_name:
        reply = await call_rpc(service, method, base, hq)
        if isinstance(reply, Message):
            forged = [*forge(getattr(reply, "next_page_token", "")), *foreign]
    return [
        *single_field_cases(base, forged),
        *random_cases(base, rng, RANDOM_CASES_PER_RPC, forged),
    ]


@dataclass(frozen=True)
class Outcome:
    code: str
    problem: str = ""  # what went wrong, '' when the edge held
    fields: tuple[str, ...] = ()  # the fields an INVALID_ARGUMENT named


async def attempt(service: ServiceUnderTest, method: Any, case: Case, token: str) -> Outcome:
    """One call: its status code, and whether the edge held."""
    mutation = is_mutation(method.input_type)
    before = await event_count(service.run)
    reply = await call_rpc(service, method, case.request, token)
    if isinstance(reply, Message):
        if not mutation and await event_count(service.run) != before:
            return Outcome("OK", "a read recorded events")
        return Outcome("OK")
    code, message, status = reply
    fields = tuple(_bad_request_fields(status))
    if code in NEVER:
        return Outcome(code.name, f"{code.name} {message[:120]!r}")
    if code == grpc.StatusCode.INVALID_ARGUMENT and not fields:
        return Outcome(code.name, f"INVALID_ARGUMENT without a BadRequest: {message[:120]!r}")
    if await event_count(service.run) != before:
        return Outcome(code.name, f"{code.name} yet events were recorded")
    return Outcome(code.name, "", fields)


async def call_rpc(
    service: ServiceUnderTest, method: Any, request: Message, token: str
) -> Message | tuple[grpc.StatusCode, str, Any]:
    call = getattr(service.stub, method.name)
    try:
        reply: Message = await call(
            request,
            metadata=service.run.metadata(token),
            timeout=CALL_TIMEOUT_SECONDS,
        )
    except grpc.aio.AioRpcError as err:
        return err.code(), err.details() or "", rpc_status.from_call(err)  # type: ignore[arg-type]
    return reply


def _bad_request_fields(status: Any) -> list[str]:
    if status is None:
        return []
    fields = []
    for packed in status.details:
        if packed.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            packed.Unpack(bad)
            fields.extend(v.field for v in bad.field_violations if v.field)
    return fields


def test_the_fuzz_walks_every_service_there_is() -> None:
    """A service added under services/ is fuzzed, or this fails until it is."""
    there = {path.parent.name for path in Path("services").glob("*/bootstrap.py")}
    assert there and {name for name, *_ in BUILDS} == there
