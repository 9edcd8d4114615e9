"""Dead letters: the messages a service's subscriptions parked, listed and replayed.

A parked message waits on `deadletter.v1.<service>.<subscription>` (kernel/subscriptions.py)
with the reason. Replaying hands it to its subscription's own handler through the inbox
(exactly once, and only to that subscription: republishing it on its original subject
would reach every other consumer of that subject again); once handled it leaves the
dead-letter stream, and one that fails again stays, with the new error reported.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from nats.js.errors import NotFoundError

from kernel.application import Application
from kernel.errors import NotFound
from kernel.messaging import InboundEvent, NatsConnection
from kernel.subscriptions import DEAD_LETTER_STREAM, Subscription, SubscriptionRunner


@dataclass(frozen=True)
class DeadLetter:
    sequence: int
    subscription: str
    original_subject: str
    event_type: str
    event_id: str
    deliveries: str
    reason: str


class DeadLetters:
    """The messages this service's subscriptions parked, and their replay."""

    def __init__(
        self,
        app: Application,
        nats: NatsConnection,
        service: str,
        subscriptions: Sequence[Subscription],
    ) -> None:
        self.app = app
        self.nats = nats
        self.service = service
        self.subscriptions = {s.name: s for s in subscriptions}

    @property
    def stream(self) -> str:
        return self.nats.stream(DEAD_LETTER_STREAM.name)

    async def _messages(self, limit: int | None = None) -> list[Any]:
        js = await self.nats.jetstream()
        subject = self.nats.subject(f"deadletter.v1.{self.service}.>")
        found: list[Any] = []
        seq = 1
        while limit is None or len(found) < limit:
            try:
                msg = await js.get_msg(self.stream, seq, subject=subject, next=True)
            except NotFoundError:
                break  # no stream yet, or nothing at or after seq
            found.append(msg)
            seq = int(msg.seq or 0) + 1
        return found

    async def parked(self, limit: int = 100) -> list[DeadLetter]:
        return [_dead_letter(m) for m in await self._messages(limit)]

    async def replay(self, sequence: int | None) -> list[tuple[DeadLetter, str]]:
        """Replay one parked message (by its sequence) or all; each result is "replayed"
        or why not. A replayed message leaves the dead-letter stream."""
        messages = await self._messages()
        if sequence is not None:
            messages = [m for m in messages if m.seq == sequence]
            if not messages:
                raise NotFound("dead letter", str(sequence))
        js = await self.nats.jetstream()
        results = []
        for msg in messages:
            letter = _dead_letter(msg)
            subscription = self.subscriptions.get(letter.subscription)
            if subscription is None:
                results.append((letter, f"no subscription {letter.subscription!r} here"))
                continue
            runner = SubscriptionRunner(self.app, self.nats, subscription, service=self.service)
            headers = dict(msg.headers or {})
            event = dataclasses.replace(
                InboundEvent.from_message(_Restored(letter.original_subject, msg.data, headers)),
                delivered=1,
            )
            try:
                await runner.handle_once(event)
            except Exception as exc:
                results.append((letter, f"failed again: {exc!r}"))
                continue
            await js.delete_msg(self.stream, msg.seq)
            results.append((letter, "replayed"))
        return results


@dataclass(frozen=True)
class _Restored:
    """A parked message as it first arrived: its original subject, its payload."""

    subject: str
    data: bytes
    headers: dict[str, str]


def _dead_letter(msg: Any) -> DeadLetter:
    h = dict(msg.headers or {})
    return DeadLetter(
        msg.seq,
        h.get("x-subscription", ""),
        h.get("x-original-subject", ""),
        h.get("ce-type", ""),
        h.get("ce-id", ""),
        h.get("x-deliveries", ""),
        h.get("x-dead-letter-reason", ""),
    )
