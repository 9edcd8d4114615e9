"""One service asking another over gRPC: the stub, the service token, a deadline, and the
peer's answer turned into the kernel's errors, written once for every client of a peer
(collab's of inventory, workforce and capacity; analytics' of capacity).

A subclass names the stub (`stub_type`) and the peer (`peer`); its methods read like the
question they ask: `reply = await self.call("GetPeerGroup", request, refusals=...)`.
A status the client does not name in `refusals` is the peer being unavailable to us,
whatever code it was: the caller's request is not at fault.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, ClassVar, TypeVar

import grpc

from kernel.errors import NotFound, Unavailable

Metadata = Sequence[tuple[str, str]]
Credentials = Callable[[], Metadata]
Refusal = Callable[[grpc.aio.AioRpcError], Exception]
Reply = TypeVar("Reply")
Item = TypeVar("Item")

DEFAULT_TIMEOUT_SECONDS = 5.0
# A peer's list is read page by page up to this many pages: every loop stays bounded.
MAX_PAGES = 10


def bearer(token: str) -> tuple[tuple[str, str], ...]:
    """The call metadata that carries `token` (a service's or a user's JWT)."""
    return (("authorization", f"Bearer {token}"),)


def service_credentials(token: str) -> Credentials:
    """The metadata of every call a service makes with its own token (Settings.service_token)."""
    metadata = bearer(token)
    return lambda: metadata


def not_found(resource_type: str, name: str) -> Refusal:
    """The peer's NOT_FOUND as ours: the resource the caller named is unknown."""
    return lambda exc: NotFound(resource_type, name)


class PeerClient:
    stub_type: ClassVar[Callable[[grpc.aio.Channel], Any]]
    peer: ClassVar[str]

    def __init__(
        self,
        channel: grpc.aio.Channel,
        metadata: Credentials,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
    ) -> None:
        self.stub = type(self).stub_type(channel)
        self.metadata = metadata
        self.timeout = timeout

    async def call(
        self,
        method: str,
        request: Any,
        *,
        refusals: Mapping[grpc.StatusCode, Refusal] | None = None,
    ) -> Any:
        """The peer's reply to `method`; a refusal named in `refusals` raised as what it
        maps to, any other failure as Unavailable naming the peer, method and status."""
        try:
            return await getattr(self.stub, method)(
                request, timeout=self.timeout, metadata=tuple(self.metadata())
            )
        except grpc.aio.AioRpcError as exc:
            refusal = (refusals or {}).get(exc.code())
            if refusal is not None:
                raise refusal(exc) from exc
            raise Unavailable(f"{self.peer} {method}: {exc.code().name}") from exc


async def every_page(
    fetch: Callable[[str], Awaitable[Reply]],
    items: Callable[[Reply], Iterable[Item]],
    *,
    max_pages: int = MAX_PAGES,
) -> list[Item]:
    """All items of a paged list, asking `fetch(page_token)` until the peer gives no next
    page token, and never more than `max_pages` times."""
    found: list[Item] = []
    token = ""
    for _ in range(max_pages):
        reply = await fetch(token)
        found.extend(items(reply))
        token = reply.next_page_token  # type: ignore[attr-defined]
        if not token:
            break
    return found
