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
from datetime import datetime, timedelta
from typing import Any

import grpc
import structlog
from google.protobuf import json_format, message_factory
from google.protobuf.descriptor import ServiceDescriptor
from google.rpc import error_details_pb2, status_pb2
from opentelemetry import trace
from sqlalchemy import and_, bindparam, select, update

from kernel.application import Application, UnitOfWork
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
        # The saga's state comes from the application's cache when it holds it (the
        # command or reply before this one left it there): an append checks the version it
        # was read at, and a decision that appends nothing has that version checked below.
        # Anything that failed on a cached state is decided again on the store's.
        fresh = False
        for attempt in range(1, self.app.max_attempts + 1):
            uow: UnitOfWork | None = None
            try:
                async with self.app.db.transaction("saga.reply") as conn:
                    now = self.app.clock.now()
                    if answer.outcome is None and attempts < self.max_attempts:
                        # Still ours? A saga that gave up on the call deleted it; a lease
                        # that ran out let another dispatcher take it (its reply wins).
                        await self._retry_later(conn, row, attempts, answer, now)
                        return
                    mine = (
                        await conn.execute(_DELETE_MINE, {"rid": row.request_id, "tries": attempts})
                    ).first()
                    if mine is None:
                        return
                    outcome = answer.outcome or Outcome.EXHAUSTED
                    reply = Reply(now, outcome, answer.response, answer.reason)
                    uow = self.app.unit_of_work(conn, read_cached=not fresh)
                    uow.metadata.update(request_id=row.request_id, command=row.call_key)
                    await self.sagas[row.saga].feed(uow, row.saga_id, Replied(row.call_key, reply))
                    await self._check_unguarded(conn, uow)
                self.app.cache.keep(uow.seen)
                if uow.recorded:
                    self.app.notify_committed()
                return
            except _StaleCache:
                fresh = True
            except ConcurrencyConflict:
                # A signal or deadline wrote the saga's stream meanwhile: decide again.
                self._forget(uow)
                fresh = True
                if attempt == self.app.max_attempts:
                    raise
            except Exception:
                self._forget(uow)
                if uow is None or not uow.from_cache:
                    raise
                fresh = True

    async def _retry_later(
        self, conn: Any, row: Any, attempts: int, answer: Answer, now: datetime
    ) -> None:
        backoff = min(timedelta(seconds=2**attempts), self.max_backoff)
        kept = (
            await conn.execute(
                _RETRY_MINE,
                {
                    "rid": row.request_id,
                    "tries": attempts,
                    "due_at": now + backoff,
                    "error": answer.reason[:1000],
                },
            )
        ).first()
        if kept is not None:
            log.info(
                "saga.call_retry",
                saga=row.saga,
                saga_id=row.saga_id,
                call=row.call_key,
                attempts=attempts,
                error=answer.reason,
            )

    async def _check_unguarded(self, conn: Any, uow: UnitOfWork) -> None:
        """A stream read from the cache and not appended to must still be at that version
        (as a load from the store at this point would have found it)."""
        unguarded = uow.unguarded
        if not unguarded:
            return
        current = await self.app.store.stream_versions(conn, unguarded)
        stale = [s for s in unguarded if current.get(s, 0) != uow.seen[s].version]
        if stale:
            self.app.cache.drop(stale)
            raise _StaleCache

    def _forget(self, uow: UnitOfWork | None) -> None:
        if uow is not None:
            self.app.cache.drop(uow.seen)

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
# Still ours (not deleted by the saga, not re-leased by another dispatcher after our lease
# ran out): the row is changed, and locked until the commit, only then.
_RETRY_MINE = (
    update(saga_calls)
    .where(
        and_(
            saga_calls.c.request_id == bindparam("rid"),
            saga_calls.c.attempts == bindparam("tries"),
        )
    )
    .values(due_at=bindparam("due_at"), last_error=bindparam("error"))
    .returning(saga_calls.c.request_id)
)
_DELETE_MINE = (
    saga_calls.delete()
    .where(
        and_(
            saga_calls.c.request_id == bindparam("rid"),
            saga_calls.c.attempts == bindparam("tries"),
        )
    )
    .returning(saga_calls.c.request_id)
)


class _StaleCache(Exception):
    """A cached saga state the reply was decided on without an append had moved on."""
