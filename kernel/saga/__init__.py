"""Sagas: event-sourced processes that act on other services through their gRPC APIs."""

from kernel.saga.definition import Saga, SagaState
from kernel.saga.dispatcher import Participant, SagaDispatcher
from kernel.saga.runtime import MIGRATIONS, SagaRuntime, pending_calls, request_id, sagas_in
from kernel.saga.steps import (
    NOTHING_TO_UNDO,
    Await,
    Call,
    Invoke,
    Outcome,
    Reply,
    Retry,
    Status,
    Wait,
)

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
    "Wait",
    "pending_calls",
    "request_id",
    "sagas_in",
]
