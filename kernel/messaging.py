"""NATS JetStream plumbing: a self-healing connection, streams, CloudEvents headers."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import nkeys
import structlog
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import BadRequestError, NotFoundError

from kernel.errors import Unavailable
from kernel.eventstore import RecordedEvent

log = structlog.get_logger("storemesh.kernel.messaging")

DEDUP_WINDOW_SECONDS = 15 * 60
FIRST_CONNECT_TIMEOUT_SECONDS = 3.0


@dataclass(frozen=True)
class StreamSpec:
    name: str
    subjects: list[str]
    max_age_seconds: float = 0.0  # 0: keep forever (the stream is the partners' history)
    duplicate_window_seconds: float = DEDUP_WINDOW_SECONDS
    replicas: int = 1
    description: str = ""


class NatsConnection:
    """One NATS connection per process that keeps trying until the server is there.

    Callers ask for `jetstream()`; while NATS is unreachable they get Unavailable and try
    again later, so commands keep committing and the relay catches up afterwards.
    """

    def __init__(
        self,
        url: str,
        name: str,
        namespace: str = "",
        *,
        nkey_seed_file: str = "",
        creds_file: str = "",
    ) -> None:
        self.url = url
        self.name = name
        # Who we are, when not a user and password in the URL: an NKey seed file (users of
        # the generated accounts.conf), or a .creds file (JWT and seed, operator mode). Both
        # are read again on every connect, so a rotated file needs no restart.
        self.nkey_seed_file = nkey_seed_file
        self.creds_file = creds_file
        self._public_key = ""
        # A namespace prefixes every subject and stream: test runs sharing one server
        # never see each other's messages. Production runs without one.
        self.namespace = namespace
        self._nc: NATS | None = None
        self._closing = False  # our own close: its disconnect is no warning
        self._lock = asyncio.Lock()
        self._streams: list[StreamSpec] = []
        self._ensured: set[str] = set()
        self._js: JetStreamContext | None = None
        self._js_of: NATS | None = None

    def declare(self, *specs: StreamSpec) -> None:
        for spec in specs:
            named = replace(
                spec,
                name=self.stream(spec.name),
                subjects=[self.subject(s) for s in spec.subjects],
            )
            if named not in self._streams:
                self._streams.append(named)

    def subject(self, subject: str) -> str:
        return f"{self.namespace}.{subject}" if self.namespace else subject

    def stream(self, name: str) -> str:
        return f"{self.namespace.upper()}_{name}" if self.namespace else name

    @property
    def connected(self) -> bool:
        return self._nc is not None and self._nc.is_connected

    async def client(self) -> NATS:
        async with self._lock:
            if self._nc is None or self._nc.is_closed:
                # With max_reconnect_attempts=-1 nats-py retries a first connection that
                # fails forever: bound it, so callers get Unavailable instead of hanging.
                nc = NATS()
                options: dict[str, Any] = {
                    "name": self.name,
                    "connect_timeout": 2,
                    "allow_reconnect": True,
                    "max_reconnect_attempts": -1,
                    "reconnect_time_wait": 0.5,
                    "error_cb": self._on_error,
                    "disconnected_cb": self._on_disconnect,
                    "reconnected_cb": self._on_reconnect,
                    **self._credentials(),
                }
                try:
                    await asyncio.wait_for(
                        nc.connect(self.url, **options), FIRST_CONNECT_TIMEOUT_SECONDS
                    )
                except Exception as exc:
                    self._nc = None
                    with contextlib.suppress(Exception):
                        await nc.close()
                    raise Unavailable(f"NATS at {self.url} unreachable: {exc!r}") from exc
                self._nc = nc
            if not self._nc.is_connected:
                raise Unavailable(f"NATS at {self.url} not connected")
            return self._nc

    async def jetstream(self) -> JetStreamContext:
        nc = await self.client()
        # One context per connection: each context's first publish_async subscribes its
        # own reply inbox, which a fresh context per call would leak.
        if self._js is None or self._js_of is not nc:
            self._js, self._js_of = nc.jetstream(timeout=5), nc
        js = self._js
        for spec in self._streams:
            if spec.name not in self._ensured:
                await ensure_stream(js, spec)
                self._ensured.add(spec.name)
        return js

    async def takes_filter_subjects(self) -> bool:
        """Whether the server honours a consumer's `filter_subjects` list (NATS 2.10+).
        Older servers ignore it without an error and deliver the whole stream."""
        version = (await self.client()).connected_server_version
        try:
            return (version.major, version.minor) >= (2, 10)
        except ValueError:  # an unparsable version: assume the old behaviour
            return False

    def _credentials(self) -> dict[str, Any]:
        if self.creds_file:
            return {"user_credentials": self.creds_file}
        if self.nkey_seed_file:
            self._public_key = seed_public_key(self.nkey_seed_file)
            return {"nkeys_seed": self.nkey_seed_file}
        return {}

    def key_rotated(self) -> bool:
        """The seed file now holds another key than the one this connection presented."""
        if not self.nkey_seed_file or not self._public_key:
            return False
        try:
            return seed_public_key(self.nkey_seed_file) != self._public_key
        except (OSError, ValueError, nkeys.NkeysError):
            return False  # mid-write or unreadable: keep the connection we have

    async def _on_error(self, exc: Exception) -> None:
        log.warning("nats.error", error=str(exc))
        # nats-py signs each reconnect with the seed file as it is now but presents the
        # public key it read at connect(): after a rotation the server refuses every
        # reconnect. A fresh client on the next call presents the new key.
        if "authorization" in str(exc).lower() and self.key_rotated():
            log.info("nats.key_rotated", name=self.name)
            stale, self._nc = self._nc, None
            if stale is not None:
                asyncio.get_running_loop().create_task(_close_quietly(stale))

    async def _on_disconnect(self) -> None:
        if self._closing:
            log.debug("nats.disconnected", url=self.url)  # our own close: nothing wrong
            return
        log.warning("nats.disconnected", url=self.url)

    async def _on_reconnect(self) -> None:
        self._ensured.clear()  # a restarted server may have lost in-memory streams
        self._js = None
        log.info("nats.reconnected", url=self.url)

    async def close(self) -> None:
        self._closing = True
        try:
            nc = self._nc
            if nc is not None and not nc.is_closed:
                with contextlib.suppress(Exception):
                    await nc.drain()
                if not nc.is_closed:
                    # drain refuses a client that is reconnecting (the server away): left
                    # so, it would go on reconnecting in the background for ever.
                    await _close_quietly(nc)
        finally:
            self._nc = None
            self._closing = False


def seed_public_key(path: str) -> str:
    """The public key (U...) of the NKey seed in `path`."""
    seed = bytearray(Path(path).read_bytes().strip())
    pair = nkeys.from_seed(seed)
    try:
        return str(pair.public_key.decode())
    finally:
        pair.wipe()


async def _close_quietly(nc: NATS) -> None:
    with contextlib.suppress(Exception):
        await nc.close()


async def ensure_stream(js: JetStreamContext, spec: StreamSpec) -> None:
    """Create the stream, or bring its configuration up to the spec; safe to repeat."""
    config = StreamConfig(
        name=spec.name,
        description=spec.description or None,
        subjects=spec.subjects,
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        discard=DiscardPolicy.OLD,
        max_age=spec.max_age_seconds,
        duplicate_window=spec.duplicate_window_seconds,
        num_replicas=spec.replicas,
    )
    try:
        await js.stream_info(spec.name)
    except NotFoundError:
        try:
            await js.add_stream(config)
        except BadRequestError:
            # Another replica created it between our look and our create: the server
            # refuses the second create ('subjects overlap with an existing stream'). Only
            # when the stream is there now is that the race; else the refusal stands.
            if not await _stream_exists(js, spec.name):
                raise
            await js.update_stream(config)
            return
        log.info("nats.stream_created", stream=spec.name, subjects=spec.subjects)
        return
    await js.update_stream(config)


async def _stream_exists(js: JetStreamContext, name: str) -> bool:
    try:
        await js.stream_info(name)
    except NotFoundError:
        return False
    return True


def subject_matches(pattern: str, subject: str) -> bool:
    """NATS subject matching: `*` stands for one token, a final `>` for one or more."""
    wanted, tokens = pattern.split("."), subject.split(".")
    for i, token in enumerate(wanted):
        if token == ">":
            return len(tokens) > i
        if i >= len(tokens) or (token != "*" and token != tokens[i]):
            return False
    return len(wanted) == len(tokens)


def covering_subject(subjects: Sequence[str]) -> str:
    """The narrowest one subject filter that matches every subject of `subjects`: tokens
    the same in all stay, tokens that differ become `*`; subjects of different lengths
    share their common prefix and then `>`."""
    split = [s.split(".") for s in subjects]
    if len({len(tokens) for tokens in split}) == 1 and not any(">" in t for t in split):
        return ".".join(
            column[0] if len(set(column)) == 1 else "*" for column in zip(*split, strict=True)
        )
    prefix: list[str] = []
    for column in zip(*split, strict=False):
        if len(set(column)) != 1 or column[0] in ("*", ">"):
            break
        prefix.append(column[0])
    shortest = min(len(tokens) for tokens in split)
    return ".".join([*prefix[: shortest - 1], ">"])


def cloudevent_headers(event: RecordedEvent, *, source: str) -> dict[str, str]:
    """CloudEvents NATS binding, binary mode, plus JetStream dedup and W3C trace context."""
    meta = event.metadata
    return event_headers(
        str(event.event_id),
        event.event_type,
        event.recorded_at.isoformat(),
        event.stream_id,
        event.store_id,
        event.stream_version,
        source,
        _text(meta.get("traceparent")),
        _text(meta.get("tracestate")),
        _text(meta.get("request_id")),
        _text(meta.get("actor")),
    )


def event_headers(
    event_id: str,
    event_type: str,
    time: str,
    stream_id: str,
    store_id: str,
    stream_version: int,
    source: str,
    traceparent: str | None,
    tracestate: str | None,
    request_id: str | None,
    actor: str | None,
) -> dict[str, str]:
    """`cloudevent_headers` from the fields themselves (the relay reads them as text, with
    no RecordedEvent in between); `time` is RFC 3339. Empty trace or request values are
    left out."""
    headers = {
        "ce-specversion": "1.0",
        "ce-id": event_id,
        "ce-source": source,
        "ce-type": event_type,
        "ce-time": time,
        "ce-subject": stream_id,
        "ce-storeid": store_id,
        "ce-streamversion": str(stream_version),
        "content-type": "application/protobuf",
        "Nats-Msg-Id": event_id,
    }
    if traceparent:
        headers["traceparent"] = traceparent
    if tracestate:
        headers["tracestate"] = tracestate
    if request_id:
        headers["ce-requestid"] = request_id
    if actor:
        headers["ce-actor"] = actor
    return headers


def _text(value: Any) -> str | None:
    return str(value) if value else None


@dataclass(frozen=True)
class InboundEvent:
    """An event received from JetStream, with its CloudEvents attributes."""

    event_id: str
    event_type: str
    source: str
    subject: str
    store_id: str
    payload: bytes
    headers: Mapping[str, str] = field(default_factory=dict)
    delivered: int = 1

    @classmethod
    def from_message(cls, msg: Any) -> InboundEvent:
        headers: dict[str, str] = dict(msg.headers or {})
        delivered = 1
        with contextlib.suppress(Exception):
            delivered = int(msg.metadata.num_delivered)
        return cls(
            event_id=headers.get("ce-id") or headers.get("Nats-Msg-Id") or "",
            event_type=headers.get("ce-type", ""),
            source=headers.get("ce-source", ""),
            subject=msg.subject,
            store_id=headers.get("ce-storeid", ""),
            payload=msg.data,
            headers=headers,
            delivered=delivered,
        )
