"""Performs the calls sagas put in their outbox, once each, and feeds the replies back.

A dispatcher claims due rows (`FOR UPDATE SKIP LOCKED` on PostgreSQL; SQLite serialises
writers) by moving their `due_at` to the end of a lease, and commits before calling: no
transaction stays open across the network, and another replica skips a leased row. The
call carries the row's request id, the same on every attempt, so a call repeated after a
crash of anyone (this process, the callee, NATS) is acted on once by the participant.
The reply goes to the saga in the transaction that deletes the row. Transient failures
are retried with backoff until `max_attempts`, then reported as EXHAUSTED.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import grpc
import structlog
from google.protobuf import json_format, message_factory
from google.protobuf.descriptor import ServiceDescriptor
from google.rpc import error_details_pb2, status_pb2
from opentelemetry import trace
from sqlalchemy import and_, bindparam, select, update

from kernel.application import Application
from kernel.errors import ConcurrencyConflict
from kernel.saga.decisions import Replied
from kernel.saga.runtime import SagaRuntime, saga_calls
from kernel.saga.steps import Outcome, Reply
from kernel.telemetry import context_from, current_trace_metadata

log = structlog.get_logger("storemesh.kernel.saga")
tracer = trace.get_tracer("storemesh.kernel.saga")

# Worth another attempt with the same request id: the callee may not have acted, or acted
# and could not say so.
TRANSIENT = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.CANCELLED,
    }
)


@dataclass(frozen=True)
class Answer:
    """What one attempt of a call came to."""

    outcome: Outcome | None  # None: transient, try again
    response: Mapping[str, Any]
    reason: str = ""


class Participant:
    """Another service's gRPC API, called by method name with a dict of request fields."""

    def __init__(
        self,
        name: str,
        channel: grpc.aio.Channel,
        service: ServiceDescriptor,
        *,
        metadata: Callable[[], Sequence[tuple[str, str]]] = lambda: (),
        timeout: float = 5.0,
    ) -> None:
        self.name = name
        self.channel = channel
        self.service = service
        self.metadata = metadata
        self.timeout = timeout

    async def call(self, method: str, fields: Mapping[str, Any], request_id: str) -> Answer:
        descriptor = self.service.methods_by_name[method]
        request_type = message_factory.GetMessageClass(descriptor.input_type)
        response_type = message_factory.GetMessageClass(descriptor.output_type)
        request = json_format.ParseDict(dict(fields), request_type())
        if "request_id" in descriptor.input_type.fields_by_name:
            request.request_id = request_id  # type: ignore[attr-defined]
        metadata = (*self.metadata(), *current_trace_metadata().items())
        stub: grpc.aio.UnaryUnaryMultiCallable[Any, Any] = self.channel.unary_unary(
            f"/{self.service.full_name}/{method}",
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=response_type.FromString,
        )
        try:
            response = await stub(request, timeout=self.timeout, metadata=metadata)
        except grpc.aio.AioRpcError as exc:
            return classify(exc.code(), exc.details() or "", exc.trailing_metadata())
        return Answer(
            Outcome.OK, json_format.MessageToDict(response, preserving_proto_field_name=True)
        )


def classify(code: grpc.StatusCode, message: str, trailers: Any) -> Answer:
    """A refusal names its reason (ErrorInfo.reason, else the status code's name)."""
    if code in TRANSIENT:
        return Answer(None, {}, f"{code.name}: {message}")
    reason = code.name
    for key, value in trailers or ():
        if key == "grpc-status-details-bin":
            status = status_pb2.Status.FromString(value)
            for detail in status.details:
                info = error_details_pb2.ErrorInfo()
                if detail.Unpack(info) and info.reason:
                    reason = info.reason
    return Answer(Outcome.REFUSED, {"message": message}, reason)


class SagaDispatcher:
    def __init__(
        self,
        app: Application,
        sagas: Sequence[SagaRuntime[Any]],
        participants: Sequence[Participant],
        *,
        batch: int = 32,
        lease: timedelta = timedelta(seconds=30),
        max_attempts: int = 8,
        max_backoff: timedelta = timedelta(minutes=5),
        interval: float = 0.5,
    ) -> None:
        self.app = app
        self.sagas = {s.name: s for s in sagas}
        self.participants = {p.name: p for p in participants}
        self.batch = batch
        self.lease = lease
        self.max_attempts = max_attempts
        self.max_backoff = max_backoff
        self.interval = interval
        self.performed = 0
        self._wake = asyncio.Event()
        slowest = max((p.timeout for p in participants), default=0.0)
        if lease.total_seconds() <= slowest:
            # A lease shorter than a call would let a second dispatcher repeat it meanwhile.
            raise ValueError(f"lease {lease} must outlast the slowest call ({slowest} s)")

    def wake(self) -> None:
        """New calls are committed: look now instead of at the next poll."""
        self._wake.set()

    async def dispatch_once(self) -> int:
        """Perform every call due by the clock's now; returns how many were attempted."""
        rows = await self._claim()
        await asyncio.gather(*(self._perform(row) for row in rows))
        return len(rows)

    async def _claim(self) -> list[Any]:
        now = self.app.clock.now()
        async with self.app.db.transaction("saga.claim") as conn:
            rows = (
                await conn.execute(
                    select(saga_calls)
                    .where(saga_calls.c.due_at <= now)
                    .order_by(saga_calls.c.due_at)
                    .limit(self.batch)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            for row in rows:
                await conn.execute(
                    _LEASE,
                    {
                        "rid": row.request_id,
                        "due_at": now + self.lease,
                        "attempts": row.attempts + 1,
                    },
                )
        return list(rows)

    async def _perform(self, row: Any) -> None:
        participant = self.participants.get(row.participant)
        with tracer.start_as_current_span(
            f"saga {row.saga} {row.call_key}: {row.participant}/{row.method}",
            context=context_from(row.trace or {}),
            kind=trace.SpanKind.CLIENT,
            attributes={
                "rpc.system": "grpc",
                "rpc.method": row.method,
                "storemesh.saga_id": row.saga_id,
                "storemesh.request_id": row.request_id,
                "storemesh.attempt": row.attempts + 1,
            },
        ):
            if participant is None:
                answer = Answer(None, {}, f"no participant {row.participant!r}")
            else:
                try:
                    answer = await participant.call(row.method, row.fields, row.request_id)
                except Exception as exc:
                    # Not a status (a connection torn down, fields the request cannot
                    # hold): retried like a transient failure, within the same budget.
                    log.warning(
                        "saga.call_error", saga=row.saga, call=row.call_key, error=repr(exc)
                    )
                    answer = Answer(None, {}, repr(exc))
            self.performed += 1
            await self._settle(row, answer)

    async def _settle(self, row: Any, answer: Answer) -> None:
        attempts = row.attempts + 1
        for attempt in range(1, self.app.max_attempts + 1):
            try:
                async with self.app.db.transaction("saga.reply") as conn:
                    # Still ours? A saga that gave up on the call deleted it; a lease that
                    # ran out let another dispatcher take it (and its reply wins).
                    mine = (
                        await conn.execute(
                            _SELECT_MINE, {"rid": row.request_id, "attempts": attempts}
                        )
                    ).first()
                    if mine is None:
                        return
                    now = self.app.clock.now()
                    if answer.outcome is None and attempts < self.max_attempts:
                        backoff = min(timedelta(seconds=2**attempts), self.max_backoff)
                        log.info(
                            "saga.call_retry",
                            saga=row.saga,
                            saga_id=row.saga_id,
                            call=row.call_key,
                            attempts=attempts,
                            error=answer.reason,
                        )
                        await conn.execute(
                            _RETRY,
                            {
                                "rid": row.request_id,
                                "due_at": now + backoff,
                                "error": answer.reason[:1000],
                            },
                        )
                        return
                    await conn.execute(_DELETE, {"rid": row.request_id})
                    outcome = answer.outcome or Outcome.EXHAUSTED
                    reply = Reply(now, outcome, answer.response, answer.reason)
                    uow = self.app.unit_of_work(conn)
                    uow.metadata.update(request_id=row.request_id, command=row.call_key)
                    await self.sagas[row.saga].feed(uow, row.saga_id, Replied(row.call_key, reply))
                if uow.recorded:
                    self.app.notify_committed()
                return
            except ConcurrencyConflict:
                # A signal or deadline wrote the saga's stream meanwhile: decide again.
                if attempt == self.app.max_attempts:
                    raise

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self._wake.clear()
            try:
                if await self.dispatch_once() >= self.batch:
                    continue  # a backlog: keep going
            except Exception:
                log.exception("saga.dispatch_failed")
            if self._wake.is_set():
                continue
            waiter = asyncio.ensure_future(self._wake.wait())
            stopper = asyncio.ensure_future(stop.wait())
            await asyncio.wait(
                {waiter, stopper}, timeout=self.interval, return_when=asyncio.FIRST_COMPLETED
            )
            waiter.cancel()
            stopper.cancel()


_LEASE = (
    update(saga_calls)
    .where(saga_calls.c.request_id == bindparam("rid"))
    .values(due_at=bindparam("due_at"), attempts=bindparam("attempts"))
)
_RETRY = (
    update(saga_calls)
    .where(saga_calls.c.request_id == bindparam("rid"))
    .values(due_at=bindparam("due_at"), last_error=bindparam("error"))
)
_DELETE = saga_calls.delete().where(saga_calls.c.request_id == bindparam("rid"))
_SELECT_MINE = (
    select(saga_calls.c.request_id)
    .where(
        and_(
            saga_calls.c.request_id == bindparam("rid"),
            saga_calls.c.attempts == bindparam("attempts"),
        )
    )
    .with_for_update()
)
