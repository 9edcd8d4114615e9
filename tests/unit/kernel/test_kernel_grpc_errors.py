"""Every domain error maps to its gRPC code with google.rpc details a client can read."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from google.rpc import code_pb2, error_details_pb2, status_pb2

from kernel.errors import (
    AlreadyExists,
    ConcurrencyConflict,
    DomainError,
    FieldViolation,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    RuleViolated,
    Unauthenticated,
    Unavailable,
)
from kernel.grpc_errors import DOMAIN, abort_with, to_status


def unpacked(status: status_pb2.Status) -> list[Any]:
    found = []
    for packed in status.details:
        for kind in (
            error_details_pb2.BadRequest,
            error_details_pb2.ErrorInfo,
            error_details_pb2.PreconditionFailure,
            error_details_pb2.ResourceInfo,
            error_details_pb2.RetryInfo,
        ):
            if packed.Is(kind.DESCRIPTOR):
                message = kind()
                packed.Unpack(message)
                found.append(message)
    assert len(found) == len(status.details), "every detail is a known google.rpc type"
    return found


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (InvalidArgument.of("quantity", "must be greater than zero"), "INVALID_ARGUMENT"),
        (NotFound("part", "P-404"), "NOT_FOUND"),
        (AlreadyExists("part", "P-1"), "ALREADY_EXISTS"),
        (RuleViolated("INSUFFICIENT_STOCK", "only 2 available"), "FAILED_PRECONDITION"),
        (ConcurrencyConflict("stock/SZ01/P-1", 3), "ABORTED"),
        (PermissionDenied("not your store"), "PERMISSION_DENIED"),
        (Unauthenticated("no token"), "UNAUTHENTICATED"),
        (Unavailable("database away"), "UNAVAILABLE"),
        (DomainError("something else a caller did"), "FAILED_PRECONDITION"),
    ],
)
def test_each_error_has_its_code_and_never_internal(error: DomainError, code: str) -> None:
    grpc_code, status = to_status(error)
    assert grpc_code == getattr(grpc.StatusCode, code)
    assert status.code == getattr(code_pb2, code) == grpc_code.value[0]
    assert status.message == error.message
    unpacked(status)


def test_invalid_argument_lists_every_field_in_a_bad_request() -> None:
    error = InvalidArgument(
        [FieldViolation("store_id", "is required"), FieldViolation("quantity", "too big")]
    )
    (bad_request,) = unpacked(to_status(error)[1])
    assert isinstance(bad_request, error_details_pb2.BadRequest)
    assert [(v.field, v.description) for v in bad_request.field_violations] == [
        ("store_id", "is required"),
        ("quantity", "too big"),
    ]


def test_a_refused_rule_carries_its_reason_subject_and_figures() -> None:
    error = RuleViolated(
        "INSUFFICIENT_STOCK",
        "only 2 available",
        subject="stock/SZ01/P-1",
        metadata={"available": "2", "requested": "5"},
    )
    info, failure = unpacked(to_status(error)[1])
    assert (info.reason, info.domain) == ("INSUFFICIENT_STOCK", DOMAIN)
    assert dict(info.metadata) == {"available": "2", "requested": "5"}
    (violation,) = failure.violations
    assert (violation.type, violation.subject) == ("INSUFFICIENT_STOCK", "stock/SZ01/P-1")
    assert violation.description == "only 2 available"


def test_not_found_names_the_resource() -> None:
    (info,) = unpacked(to_status(NotFound("part", "P-404"))[1])
    assert (info.resource_type, info.resource_name) == ("part", "P-404")


def test_a_conflict_says_which_stream_and_that_a_retry_is_safe() -> None:
    (info,) = unpacked(to_status(ConcurrencyConflict("stock/SZ01/P-1", 3))[1])
    assert info.reason == "CONCURRENT_MODIFICATION"
    assert info.metadata["stream"] == "stock/SZ01/P-1"


def test_auth_errors_carry_their_reason() -> None:
    (denied,) = unpacked(to_status(PermissionDenied("x"))[1])
    (unauthenticated,) = unpacked(to_status(Unauthenticated("x"))[1])
    assert denied.reason == "STORE_SCOPE"
    assert unauthenticated.reason == "BAD_TOKEN"


class _Context:
    def __init__(self) -> None:
        self.aborted: tuple[Any, ...] = ()

    async def abort(self, code: Any, details: str, trailing_metadata: Any = ()) -> None:
        self.aborted = (code, details, dict(trailing_metadata))


async def test_abort_sends_the_status_in_grpc_status_details_bin() -> None:
    context = _Context()
    await abort_with(context, InvalidArgument.of("part_number", "is required"))  # type: ignore[arg-type]
    code, details, trailers = context.aborted
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert details == "part_number: is required"
    status = status_pb2.Status.FromString(trailers["grpc-status-details-bin"])
    assert status.code == code_pb2.INVALID_ARGUMENT
    (bad_request,) = unpacked(status)
    assert bad_request.field_violations[0].field == "part_number"
