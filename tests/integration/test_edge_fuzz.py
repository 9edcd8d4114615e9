"""Every RPC of every service, walked from its descriptor with hostile values per field, on
SQLite and on PostgreSQL: no input a caller sends yields INTERNAL, UNKNOWN or UNAVAILABLE,
every INVALID_ARGUMENT names its fields in a BadRequest, and a refused mutation records
nothing. A new service is covered the day its bootstrap is listed in edge_fixtures."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf.message import Message
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from kernel.clock import ManualClock
from kernel.testing.servers import Endpoints
from tests.integration.edge_fixtures import Network, ServiceUnderTest, network
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
    backend: str,
    tmp_path: Path,
    endpoints: Endpoints,
    namespace: str,
    clock: ManualClock,
    verifier: Any,
    mint: Callable[..., str],
) -> None:
    tokens = {"hq": mint("hq", subject="fuzz-hq"), "dms": mint("dms", "SZ01", subject="fuzz")}
    started = time.perf_counter()
    async with network(backend, tmp_path, endpoints, namespace, clock, verifier, mint) as net:
        calls, failures = await fuzz(net, tokens)
    elapsed = time.perf_counter() - started

    print(f"\nedge fuzz on {backend}: {calls} calls in {elapsed:.1f} s")
    assert calls > 3000
    assert not failures, f"{len(failures)} of {calls} calls broke the edge:\n" + "\n".join(failures)


async def fuzz(net: Network, tokens: dict[str, str]) -> tuple[int, list[str]]:
    calls = 0
    failures: list[str] = []
    for service, method in every_rpc(net):
        request_class = getattr(service.messages, method.input_type.name)
        rng = random.Random(method.full_name)
        for case in await cases(service, method, request_class, rng, tokens["hq"]):
            token = "dms" if rng.randrange(DMS_SHARE) == 0 else "hq"
            calls += 1
            problem = await attempt(service, method, case, tokens[token])
            if problem:
                failures.append(f"{net.backend} {method.name} {case.label} [{token}]: {problem}")
    return calls, failures


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
    service: ServiceUnderTest, method: Any, request_class: Any, rng: random.Random, hq: str
) -> list[Case]:
    base = plausible(method.input_type, request_class)
    forged: list[tuple[str, str]] = []
    if "page_token" in method.input_type.fields_by_name:
        reply = await _call(service, method, base, hq)
        if isinstance(reply, Message):
            forged = forge(getattr(reply, "next_page_token", ""))
    return [
        *single_field_cases(base, forged),
        *random_cases(base, rng, RANDOM_CASES_PER_RPC, forged),
    ]


async def attempt(service: ServiceUnderTest, method: Any, case: Case, token: str) -> str:
    """What went wrong with one call, or '' when the edge held."""
    mutation = is_mutation(method.input_type)
    before = await event_count(service.run) if mutation else 0
    reply = await _call(service, method, case.request, token)
    if isinstance(reply, Message):
        return ""
    code, message, status = reply
    if code in NEVER:
        return f"{code.name} {message[:120]!r}"
    if code == grpc.StatusCode.INVALID_ARGUMENT and not _bad_request_fields(status):
        return f"INVALID_ARGUMENT without a BadRequest naming a field: {message[:120]!r}"
    if mutation and await event_count(service.run) != before:
        return f"{code.name} yet events were recorded"
    return ""


async def _call(
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
