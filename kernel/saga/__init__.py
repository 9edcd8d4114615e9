"""Sagas: event-sourced processes that act on other services through their gRPC APIs."""

from kernel.saga.definition import (
    NOTHING_TO_UNDO,
    Await,
    Call,
    Invoke,
    Outcome,
    Reply,
    Retry,
    Saga,
    SagaState,
    Status,
)
from kernel.saga.dispatcher import Participant, SagaDispatcher
from kernel.saga.runtime import MIGRATIONS, SagaRuntime, pending_calls, request_id

__all__ = [
    "MIGRATIONS",
    "NOTHING_TO_UNDO",
    "Await",
    "Call",
    "Invoke",
    "Outcome",
    "Participant",
    "Reply",
    "Retry",
    "Saga",
    "SagaDispatcher",
    "SagaRuntime",
    "SagaState",
    "Status",
    "pending_calls",
    "request_id",
]
