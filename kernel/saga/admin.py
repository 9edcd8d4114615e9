"""The operator's command line of a service: its dead letters, and its sagas where it runs
them (the saga commands are offered only then).

    python -m services.<name>.admin list [--saga S] [--state failed] [--store SZ01] [--limit N]
    python -m services.<name>.admin history <saga> <saga_id>
    python -m services.<name>.admin retry <saga> <saga_id> --operator ops@hq
    python -m services.<name>.admin cancel <saga> <saga_id> --operator ops@hq --why "..."
    python -m services.<name>.admin resolve <saga> <saga_id> --operator ops@hq --why "..."
    python -m services.<name>.admin dead-letters [--limit N]
    python -m services.<name>.admin replay (<sequence> | --all)

It works on the service's database (and NATS for dead letters) with the service's own
settings, beside the running replicas: a retry or cancel is one saga transaction like
any other, recorded as the saga's operator event; the running dispatcher performs the
call it puts in the outbox, under the same request id as before, so the participant acts
on it once. A resolve closes a FAILED saga whose stuck call was set right by hand: the
call leaves the outbox, and the saga ends RESOLVED; what the service settles with the end
(collab: the points and costs of a collaboration that happened before the saga got stuck)
is printed with it. Dead letters: kernel/dead_letters.py.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import dataclasses
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, TextIO

from sqlalchemy import and_, exists, or_, select

from kernel import store_directory
from kernel.application import Application
from kernel.clock import Clock
from kernel.config import Settings
from kernel.db import Database
from kernel.dead_letters import DeadLetters
from kernel.errors import DomainError, InvalidArgument, NotFound, RuleViolated
from kernel.eventstore import EventStore, events
from kernel.messaging import NatsConnection
from kernel.saga.runtime import SagaRuntime, saga_calls, saga_index
from kernel.saga.steps import Status
from kernel.telemetry import configure_logging

if TYPE_CHECKING:
    from kernel.service import ServiceDefinition

# Exit codes a script can switch on.
OK = 0
FAILED = 1
USAGE = 2
UNKNOWN = 3
REFUSED = 4


@dataclass(frozen=True)
class SagaOperation:
    """What the command log keeps of an operator's act on a saga."""

    saga: str
    saga_id: str
    action: str
    operator: str
    why: str


@dataclass(frozen=True)
class HistoryLine:
    version: int
    at: datetime
    step: str
    event_type: str
    details: str


class SagaAdmin:
    def __init__(self, app: Application, runtimes: Sequence[SagaRuntime[Any]]) -> None:
        self.app = app
        self.runtimes = {r.name: r for r in runtimes}

    def runtime(self, saga: str) -> SagaRuntime[Any]:
        if saga not in self.runtimes:
            raise NotFound("saga type", saga)
        return self.runtimes[saga]

    async def sagas(
        self,
        *,
        saga: str | None = None,
        state: Status | None = None,
        store: str | None = None,
        limit: int = 50,
        after: str = "",
    ) -> tuple[list[Any], str]:
        """Sagas the longest unchanged first, and the token of the next page ("" at the end)."""
        query = select(saga_index)
        if saga is not None:
            query = query.where(saga_index.c.saga == self.runtime(saga).name)
        if state is not None:
            query = query.where(saga_index.c.status == state.value)
        if store:
            # Any event of the saga's stream addressed to the store: requester or source.
            query = query.where(
                exists().where(
                    and_(
                        events.c.stream_id == saga_index.c.saga + "/" + saga_index.c.saga_id,
                        events.c.store_id == store,
                    )
                )
            )
        if after:
            at, saga_name, saga_id = _cursor(after)
            query = query.where(
                or_(
                    saga_index.c.updated_at > at,
                    and_(
                        saga_index.c.updated_at == at,
                        saga_index.c.saga + "/" + saga_index.c.saga_id > f"{saga_name}/{saga_id}",
                    ),
                )
            )
        query = query.order_by(saga_index.c.updated_at, saga_index.c.saga, saga_index.c.saga_id)
        async with self.app.db.transaction("admin.sagas") as conn:
            rows = list((await conn.execute(query.limit(limit + 1))).all())
        if len(rows) <= limit:
            return rows, ""
        last = rows[limit - 1]
        return rows[:limit], _token(last.updated_at, last.saga, last.saga_id)

    async def history(self, saga: str, saga_id: str) -> list[HistoryLine]:
        runtime = self.runtime(saga)
        async with self.app.db.transaction("admin.history") as conn:
            recorded = await EventStore().read_stream(conn, runtime.stream_id(saga_id))
        if not recorded:
            raise NotFound(saga, saga_id)
        lines = []
        for r in recorded:
            event = self.app.registry.decode(r.event_type, r.payload)
            kind, i = runtime.saga.transitions.get(type(event), ("", -1))
            step = runtime.saga.steps[i].name if i >= 0 else ""
            lines.append(
                HistoryLine(
                    r.stream_version,
                    getattr(event, "occurred_at", r.recorded_at),
                    f"{step}:{kind}" if step else kind,
                    type(event).__name__,
                    _details(event),
                )
            )
        return lines

    async def pending_call(self, saga: str, saga_id: str) -> Any:
        async with self.app.db.transaction("admin.call") as conn:
            return (
                await conn.execute(
                    select(saga_calls).where(
                        saga_calls.c.saga == saga, saga_calls.c.saga_id == saga_id
                    )
                )
            ).first()

    async def retry(self, saga: str, saga_id: str, operator: str) -> Status:
        runtime = self.runtime(saga)
        return await self._operate(
            SagaOperation(saga, saga_id, "retry", operator, ""),
            lambda uow: runtime.retry(uow, saga_id, operator),
        )

    async def cancel(self, saga: str, saga_id: str, operator: str, why: str) -> Status:
        runtime = self.runtime(saga)
        return await self._operate(
            SagaOperation(saga, saga_id, "cancel", operator, why),
            lambda uow: runtime.cancel(uow, saga_id, operator, why),
        )

    async def resolve(
        self, saga: str, saga_id: str, operator: str, why: str
    ) -> tuple[Status, list[str]]:
        """The saga's end, and what its service settled with it (the credit for what the
        saga had achieved before it got stuck), one `Type field=value ...` line each."""
        runtime = self.runtime(saga)
        settled: list[str] = []

        async def act(uow: Any) -> Any:
            already = len(uow.recorded)
            state = await runtime.resolve(uow, saga_id, operator, why)
            events = (self.app.registry.decode(r.event_type, r.payload) for r in uow.recorded)
            # Overwritten on each attempt: a conflict runs the handler again.
            settled[:] = [
                f"{type(e).__name__} {_details(e)}"
                for e in list(events)[already:]
                if type(e) not in runtime.saga.transitions
            ]
            return state

        status = await self._operate(SagaOperation(saga, saga_id, "resolve", operator, why), act)
        return status, settled

    async def _operate(self, operation: SagaOperation, act: Any) -> Status:
        async def handler(uow: Any) -> str:
            return str((await act(uow)).status.value)

        return Status(await self.app.handle(operation, handler, result_type=str))


def _details(event: Any) -> str:
    if not dataclasses.is_dataclass(event):
        return ""
    skip = {"occurred_at"}
    parts = []
    for f in dataclasses.fields(event):
        value = getattr(event, f.name)
        if f.name in skip or value in ("", None, (), 0, False):
            continue
        if isinstance(value, tuple):
            value = ",".join(str(v) for v in value)
        parts.append(f"{f.name}={value}")
    return " ".join(parts)


def _token(at: datetime, saga: str, saga_id: str) -> str:
    raw = f"{at.isoformat()}|{saga}|{saga_id}".encode()
    return base64.urlsafe_b64encode(raw).decode()


def _cursor(token: str) -> tuple[datetime, str, str]:
    try:
        at, saga, saga_id = base64.urlsafe_b64decode(token.encode()).decode().split("|", 2)
        return datetime.fromisoformat(at), saga, saga_id
    except Exception as exc:
        raise ValueError(f"page token {token!r} is not one this command printed") from exc


# The command line


def parser(service: str, *, sagas: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=f"python -m services.{service}.admin",
        description=f"Operate {service}'s {'sagas and ' if sagas else ''}dead letters.",
    )
    sub = p.add_subparsers(dest="command", required=True)
    if sagas:
        _saga_commands(sub)
    dead = sub.add_parser("dead-letters", help="messages the subscriptions parked")
    dead.add_argument("--limit", type=_positive, default=100)
    replay = sub.add_parser("replay", help="hand parked messages to their subscription again")
    which = replay.add_mutually_exclusive_group(required=True)
    which.add_argument("sequence", nargs="?", type=_positive)
    which.add_argument("--all", action="store_true")
    return p


def _saga_commands(sub: Any) -> None:
    ls = sub.add_parser("list", help="sagas by state, the longest unchanged first")
    ls.add_argument("--saga", help="saga type")
    ls.add_argument("--state", choices=[s.value for s in Status if s is not Status.NEW])
    ls.add_argument("--store", help="sagas with an event addressed to this store")
    ls.add_argument("--limit", type=_positive, default=50)
    ls.add_argument("--page-token", default="")
    history = sub.add_parser("history", help="one saga's events in order")
    retry = sub.add_parser("retry", help="re-issue the call a saga is stuck on (same request id)")
    cancel = sub.add_parser("cancel", help="undo a saga's steps in reverse; it ends compensated")
    resolve = sub.add_parser(
        "resolve",
        help="close a failed saga set right by hand: its stuck call is dropped, it ends resolved",
    )
    for command in (history, retry, cancel, resolve):
        command.add_argument("saga")
        command.add_argument("saga_id")
    for command in (retry, cancel, resolve):
        command.add_argument("--operator", required=True, type=_said, help="who acts (recorded)")
    for command in (cancel, resolve):
        command.add_argument("--why", required=True, type=_said, help="the reason (recorded)")


def _said(text: str) -> str:
    """Who acted and why are the record an audit reads: blanks say nothing."""
    if not text.strip():
        raise argparse.ArgumentTypeError("must not be blank")
    return text.strip()


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def main(
    definition: ServiceDefinition,
    argv: Sequence[str] | None = None,
    *,
    settings: Settings | None = None,
    clock: Clock | None = None,
    out: TextIO | None = None,
) -> int:
    """Run one admin command; returns the exit code. Tests pass the settings and clock the
    service under test runs with."""
    try:
        args = parser(definition.name, sagas=definition.runs_sagas).parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0) if exc.code in (0, None) else USAGE
    settings = settings or Settings.from_env(definition.name, definition.default_port)
    # The service's log level and JSON lines on stderr, as the service logs (not structlog's
    # default, which prints its debug lines to the operator's terminal).
    configure_logging(f"{definition.name}-admin", settings.log_level)
    stream = out or sys.stdout
    return asyncio.run(_run(definition, args, settings, clock, stream))


async def _run(
    definition: ServiceDefinition,
    args: argparse.Namespace,
    settings: Settings,
    clock: Clock | None,
    out: TextIO,
) -> int:
    db = Database(settings.database_url, pool_size=1)
    nats = NatsConnection(
        settings.nats_url, name=f"{settings.service}-admin", namespace=settings.nats_namespace
    )
    app = definition.command_side(db, clock, settings)
    try:
        service = definition.application(app, settings)
        admin = SagaAdmin(app, definition.sagas(service))
        subscriptions = list(definition.subscriptions(service))
        if definition.keeps_store_directory:
            # Its durable subscription parks as any other: replayed into the table.
            subscriptions.append(store_directory.subscription(definition.name))
        letters = DeadLetters(app, nats, definition.name, subscriptions)
        return await _command(admin, letters, args, out)
    except NotFound as exc:
        print(f"error: {exc}", file=out)
        return UNKNOWN
    except RuleViolated as exc:
        print(f"refused ({exc.reason}): {exc}", file=out)
        return REFUSED
    except (InvalidArgument, ValueError) as exc:
        print(f"error: {exc}", file=out)
        return USAGE
    except DomainError as exc:
        print(f"error: {exc}", file=out)
        return FAILED
    finally:
        await nats.close()
        await db.dispose()


async def _command(
    admin: SagaAdmin, letters: DeadLetters, args: argparse.Namespace, out: TextIO
) -> int:
    match args.command:
        case "list":
            rows, next_token = await admin.sagas(
                saga=args.saga,
                state=Status(args.state) if args.state else None,
                store=args.store,
                limit=args.limit,
                after=args.page_token,
            )
            print(f"{'saga':<12} {'id':<24} {'state':<13} {'step':<16} updated  reason", file=out)
            for r in rows:
                print(
                    f"{r.saga:<12} {r.saga_id:<24} {r.status:<13} {r.step or '-':<16} "
                    f"{r.updated_at.isoformat()}  {r.reason}",
                    file=out,
                )
            if next_token:
                print(f"next page: --page-token {next_token}", file=out)
        case "history":
            for line in await admin.history(args.saga, args.saga_id):
                print(
                    f"{line.version:>3}  {line.at.isoformat()}  {line.step or '-':<18} "
                    f"{line.event_type:<26} {line.details}",
                    file=out,
                )
            call = await admin.pending_call(args.saga, args.saga_id)
            if call is not None:
                print(
                    f"pending call: {call.call_key} {call.participant}/{call.method} "
                    f"request {call.request_id}, {call.attempts} attempts, "
                    f"next {call.due_at.isoformat()}"
                    + (f", last error: {call.last_error}" if call.last_error else ""),
                    file=out,
                )
        case "retry":
            status = await admin.retry(args.saga, args.saga_id, args.operator)
            print(f"{args.saga} {args.saga_id}: call re-issued, now {status.value}", file=out)
        case "cancel":
            status = await admin.cancel(args.saga, args.saga_id, args.operator, args.why)
            print(f"{args.saga} {args.saga_id}: cancelled, now {status.value}", file=out)
        case "resolve":
            status, settled = await admin.resolve(args.saga, args.saga_id, args.operator, args.why)
            print(f"{args.saga} {args.saga_id}: resolved by hand, now {status.value}", file=out)
            for entry in settled:
                print(f"settled with it: {entry}", file=out)
            if not settled:
                print("nothing settled with it", file=out)
        case "dead-letters":
            for letter in await letters.parked(args.limit):
                print(
                    f"{letter.sequence:>6}  {letter.subscription}  {letter.original_subject}  "
                    f"{letter.event_id}  delivered {letter.deliveries or '?'}: {letter.reason}",
                    file=out,
                )
        case "replay":
            results = await letters.replay(None if args.all else args.sequence)
            for letter, result in results:
                print(f"{letter.sequence:>6}  {letter.subscription}: {result}", file=out)
            if any(result != "replayed" for _, result in results):
                return FAILED
    return OK
