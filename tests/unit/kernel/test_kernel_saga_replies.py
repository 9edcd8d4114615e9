"""How a participant's gRPC status becomes a saga reply: retry, or refusal with its reason."""

from __future__ import annotations

import grpc
import pytest

from kernel.errors import ConcurrencyConflict, DomainError, NotFound, RuleViolated, Unavailable
from kernel.grpc_errors import to_status
from kernel.saga import NOTHING_TO_UNDO, Outcome
from kernel.saga.dispatcher import classify


def trailers_of(error: DomainError) -> tuple[grpc.StatusCode, tuple[tuple[str, bytes], ...]]:
    code, status = to_status(error)
    return code, (("grpc-status-details-bin", status.SerializeToString()),)


def test_a_business_refusal_carries_the_participants_reason() -> None:
    code, trailers = trailers_of(
        RuleViolated("INSUFFICIENT_AVAILABLE_STOCK", "only 1 available", "stock/SZ01/P-1")
    )
    answer = classify(code, "only 1 available", trailers)
    assert (answer.outcome, answer.reason) == (Outcome.REFUSED, "INSUFFICIENT_AVAILABLE_STOCK")
    assert answer.response == {"message": "only 1 available"}


def test_nothing_found_to_undo_is_named_so_compensation_counts_it_done() -> None:
    code, trailers = trailers_of(NotFound("reservation", "SZ01/P-1/T-1"))
    answer = classify(code, "not found", trailers)
    assert (answer.outcome, answer.reason) == (Outcome.REFUSED, NOTHING_TO_UNDO)


@pytest.mark.parametrize(
    "error", [Unavailable("database unavailable"), ConcurrencyConflict("stock/SZ01/P-1", 3)]
)
def test_unavailable_and_aborted_are_retried(error: DomainError) -> None:
    code, trailers = trailers_of(error)
    assert classify(code, str(error), trailers).outcome is None


def test_a_deadline_exceeded_is_retried_without_details() -> None:
    assert classify(grpc.StatusCode.DEADLINE_EXCEEDED, "slow", None).outcome is None


def test_a_refusal_without_details_is_named_by_its_code() -> None:
    answer = classify(grpc.StatusCode.PERMISSION_DENIED, "not your store", ())
    assert (answer.outcome, answer.reason) == (Outcome.REFUSED, "PERMISSION_DENIED")
