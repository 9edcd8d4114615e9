"""Maps domain errors to gRPC statuses with the rich error model (google.rpc details)."""

from __future__ import annotations

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2

from kernel.errors import (
    AlreadyExists,
    ConcurrencyConflict,
    DomainError,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    RuleViolated,
    Unauthenticated,
    Unavailable,
)

DOMAIN = "storemesh.io"


def _packed(message: object) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)  # type: ignore[arg-type]
    return packed


def to_status(error: DomainError) -> tuple[grpc.StatusCode, status_pb2.Status]:
    """The status code and google.rpc.Status (with details) for a domain error."""
    details: list[any_pb2.Any] = []
    code: grpc.StatusCode
    if isinstance(error, InvalidArgument):
        code = grpc.StatusCode.INVALID_ARGUMENT
        details.append(
            _packed(
                error_details_pb2.BadRequest(
                    field_violations=[
                        error_details_pb2.BadRequest.FieldViolation(
                            field=v.field, description=v.description
                        )
                        for v in error.violations
                    ]
                )
            )
        )
    elif isinstance(error, NotFound):
        code = grpc.StatusCode.NOT_FOUND
        details.append(
            _packed(
                error_details_pb2.ResourceInfo(
                    resource_type=error.resource_type,
                    resource_name=error.resource_name,
                    description=error.message,
                )
            )
        )
    elif isinstance(error, AlreadyExists):
        code = grpc.StatusCode.ALREADY_EXISTS
        details.append(
            _packed(
                error_details_pb2.ResourceInfo(
                    resource_type=error.resource_type, resource_name=error.resource_name
                )
            )
        )
    elif isinstance(error, RuleViolated):
        code = grpc.StatusCode.FAILED_PRECONDITION
        details.append(
            _packed(
                error_details_pb2.ErrorInfo(
                    reason=error.reason, domain=DOMAIN, metadata=error.metadata
                )
            )
        )
        details.append(
            _packed(
                error_details_pb2.PreconditionFailure(
                    violations=[
                        error_details_pb2.PreconditionFailure.Violation(
                            type=error.reason, subject=error.subject, description=error.message
                        )
                    ]
                )
            )
        )
    elif isinstance(error, ConcurrencyConflict):
        code = grpc.StatusCode.ABORTED
        details.append(
            _packed(
                error_details_pb2.ErrorInfo(
                    reason="CONCURRENT_MODIFICATION",
                    domain=DOMAIN,
                    metadata={"stream": error.stream_id},
                )
            )
        )
    elif isinstance(error, PermissionDenied):
        code = grpc.StatusCode.PERMISSION_DENIED
        details.append(_packed(error_details_pb2.ErrorInfo(reason="STORE_SCOPE", domain=DOMAIN)))
    elif isinstance(error, Unauthenticated):
        code = grpc.StatusCode.UNAUTHENTICATED
        details.append(_packed(error_details_pb2.ErrorInfo(reason="BAD_TOKEN", domain=DOMAIN)))
    elif isinstance(error, Unavailable):
        code = grpc.StatusCode.UNAVAILABLE
        details.append(_packed(error_details_pb2.RetryInfo()))
    else:
        code = grpc.StatusCode.FAILED_PRECONDITION
    status = status_pb2.Status(
        code=getattr(code_pb2, code.name), message=error.message, details=details
    )
    return code, status


async def abort_with(context: grpc.aio.ServicerContext[object, object], error: DomainError) -> None:
    await abort_status(context, *to_status(error))


async def abort_status(
    context: grpc.aio.ServicerContext[object, object],
    code: grpc.StatusCode,
    status: status_pb2.Status,
) -> None:
    await context.abort(
        code,
        status.message,
        trailing_metadata=(("grpc-status-details-bin", status.SerializeToString()),),
    )
