"""Follow one store's approval requests and warnings on JetStream; answer approvals over gRPC.

Built only on what StoreMesh publishes to partners: the NATS subjects and streams of the
AsyncAPI catalogue (docs/asyncapi/), the protos (decoded with code generated from proto/),
the collab gRPC API, a partner NKey for NATS and a manager's bearer token for gRPC.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import grpc
import nats
from google.protobuf.message import Message
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError
from storemesh.analytics.events.v1.events_pb2 import WarningLevel, WarningRaised
from storemesh.collab.events.v1.events_pb2 import ApprovalRequested
from storemesh.collab.v1 import collab_pb2, collab_pb2_grpc

from examples.store_manager_app.decisions import Policy, describe

# Everything this app reads, by the CloudEvents type (ce-type) that names its message.
FOLLOWED: dict[str, type[Message]] = {
    cls.DESCRIPTOR.full_name: cls for cls in (ApprovalRequested, WarningRaised)
}
# A human may think longer than ack_wait: the message is kept ours while they do.
ACK_WAIT_SECONDS = 30
IN_PROGRESS_EVERY_SECONDS = 10
RETRY_SECONDS = 5
# An answer collab refuses for good: the transfer moved on, or this token may not answer.
FINAL_REFUSALS = (
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.INVALID_ARGUMENT,
)


@dataclass(frozen=True)
class Feed:
    """One durable consumer: a stream, the consumer name granted to us, one filter."""

    stream: str
    consumer: str
    subject: str


@dataclass(frozen=True)
class Credentials:
    """Where StoreMesh is and who we are: a partner NKey on NATS, a token on gRPC."""

    nats_url: str
    nkey_seed: str
    partner: str
    collab_address: str
    token: str
    # PEM of the CA that signed collab's certificate; empty: a plain channel (development).
    collab_ca: bytes = b""


def feeds(store: str, approvals_consumer: str, warnings_consumer: str) -> list[Feed]:
    return [
        Feed("COLLAB", approvals_consumer, f"collab.v1.{store}.ApprovalRequested"),
        Feed("ANALYTICS", warnings_consumer, f"analytics.v1.{store}.WarningRaised"),
    ]


def describe_warning(warning: WarningRaised) -> str:
    level = WarningLevel.Name(warning.level).removeprefix("WARNING_LEVEL_").lower()
    return (
        f"warning {warning.warning_id} ({level}): {warning.indicator} at {warning.actual:g} "
        f"against {warning.reference:g}, {warning.deviation:.0%} adverse, "
        f"period {warning.period.start}; drill down: {warning.drill_down}"
    )


@dataclass
class StoreManagerApp:
    """One store's manager: approval requests go to the policy and its answer to collab;
    warnings are reported. Every message is acked once its effect is done (an answer
    collab took or refused for good), so a restart resumes where this one stopped."""

    credentials: Credentials
    store: str
    policy: Policy
    approvals_consumer: str = ""
    warnings_consumer: str = ""
    report: Callable[[str], None] = print
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    # What was handled, by event id: the app's own record, and what tests look at.
    handled: list[tuple[str, Message]] = field(default_factory=list)

    def __post_init__(self) -> None:
        partner = self.credentials.partner
        self.approvals_consumer = self.approvals_consumer or f"{partner}-approvals"
        self.warnings_consumer = self.warnings_consumer or f"{partner}-warnings"
        self._collab: Any = None

    async def run(self, stop: asyncio.Event) -> None:
        creds = self.credentials
        nc = await nats.connect(
            creds.nats_url,
            nkeys_seed_str=creds.nkey_seed,
            inbox_prefix=f"_INBOX.{creds.partner}",
            name=f"{creds.partner}-{self.store}",
            max_reconnect_attempts=-1,
        )
        channel = (
            grpc.aio.secure_channel(
                creds.collab_address, grpc.ssl_channel_credentials(creds.collab_ca)
            )
            if creds.collab_ca
            else grpc.aio.insecure_channel(creds.collab_address)
        )
        self._collab = collab_pb2_grpc.CollabServiceStub(channel)
        try:
            js = nc.jetstream(timeout=5)
            followed = feeds(self.store, self.approvals_consumer, self.warnings_consumer)
            await asyncio.gather(*(self._follow(js, feed, stop) for feed in followed))
        finally:
            await channel.close()
            await nc.close()

    async def _follow(self, js: JetStreamContext, feed: Feed, stop: asyncio.Event) -> None:
        pull: Any = None
        told_missing = False
        while not stop.is_set():
            if pull is None:
                try:
                    pull = await self._bind(js, feed)
                except NotFoundError:
                    # The stream's service has not started yet: wait for it, said once.
                    if not told_missing:
                        self.report(f"waiting for stream {feed.stream}")
                        told_missing = True
                    await _sleep_or_stop(stop, RETRY_SECONDS)
                    continue
            try:
                messages = await pull.fetch(20, timeout=1)
            except (TimeoutError, NatsTimeoutError):
                continue
            for msg in messages:
                await self._handle(msg)

    async def _bind(self, js: JetStreamContext, feed: Feed) -> Any:
        # Creates the consumer, or finds it as it was: safe on every start.
        await js.add_consumer(
            feed.stream,
            ConsumerConfig(
                name=feed.consumer,
                durable_name=feed.consumer,
                filter_subject=feed.subject,
                deliver_policy=DeliverPolicy.ALL,
                ack_policy=AckPolicy.EXPLICIT,
                ack_wait=ACK_WAIT_SECONDS,
                max_deliver=20,
            ),
        )
        return await js.pull_subscribe_bind(durable=feed.consumer, stream=feed.stream)

    async def _handle(self, msg: Any) -> None:
        headers = msg.headers or {}
        message_class = FOLLOWED.get(headers.get("ce-type", ""))
        if message_class is None:
            await msg.ack()  # a type this app does not follow (v1 grows by adding types)
            return
        event_id = headers.get("ce-id", "")
        event = message_class.FromString(msg.data)
        if isinstance(event, ApprovalRequested):
            done = await _kept_in_progress(msg, self._answer(event_id, event))
        else:
            assert isinstance(event, WarningRaised)
            self.report(describe_warning(event))
            done = True
        if done:
            self.handled.append((event_id, event))
            await msg.ack()
        else:
            await msg.nak(delay=RETRY_SECONDS)

    async def _answer(self, event_id: str, request: ApprovalRequested) -> bool:
        """True once the request needs nothing more from us (answered, refused for good,
        expired or left to its deadline); False to be asked again a little later."""
        if request.due_at.ToDatetime(tzinfo=UTC) <= self.now():
            self.report(f"transfer {request.transfer_id}: past its deadline, not answered")
            return True
        decision = await self.policy.decide(request)
        if decision.verdict == "leave":
            self.report(f"transfer {request.transfer_id}: left to its deadline")
            return True
        # The same request id on every delivery of this event: collab answers once.
        request_id = f"{self.credentials.partner}:{event_id}"
        metadata = (("authorization", f"Bearer {self.credentials.token}"),)
        try:
            if decision.verdict == "approve":
                await self._collab.ApproveTransfer(
                    collab_pb2.ApproveTransferRequest(
                        request_id=request_id, transfer_id=request.transfer_id
                    ),
                    metadata=metadata,
                    timeout=10,
                )
            else:
                await self._collab.RejectTransfer(
                    collab_pb2.RejectTransferRequest(
                        request_id=request_id,
                        transfer_id=request.transfer_id,
                        reason=decision.reason,
                    ),
                    metadata=metadata,
                    timeout=10,
                )
        except grpc.aio.AioRpcError as err:
            if err.code() in FINAL_REFUSALS:
                self.report(f"transfer {request.transfer_id}: collab refused: {err.details()}")
                return True
            self.report(f"transfer {request.transfer_id}: collab unreachable, will retry")
            return False
        self.report(f"{decision.verdict}d {describe(request)}")
        return True


async def _kept_in_progress(msg: Any, work: Any) -> bool:
    """Run `work`, telling JetStream now and then that the message is still being handled."""
    task = asyncio.ensure_future(work)
    while True:
        done, _ = await asyncio.wait({task}, timeout=IN_PROGRESS_EVERY_SECONDS)
        if done:
            return bool(task.result())
        with contextlib.suppress(Exception):
            await msg.in_progress()


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
