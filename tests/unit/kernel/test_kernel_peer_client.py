"""A service's client of a peer: token and deadline on every call, the peer's refusals as
the kernel's errors, paged lists read to the end and never past the page bound."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import grpc
import pytest
from storemesh.inventory.v1 import inventory_pb2 as pb

from kernel.codec import optional_moment, timestamp, utc
from kernel.errors import NotFound, Unavailable
from kernel.peer_client import (
    MAX_PAGES,
    PeerClient,
    bearer,
    every_page,
    not_found,
    service_credentials,
)


def refused(code: grpc.StatusCode) -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), "said no")


class FakeStub:
    """The peer at the unit's boundary: answers or refuses, and remembers each call."""

    answer: Any = None
    refusal: grpc.StatusCode | None = None

    def __init__(self, channel: Any) -> None:
        self.channel = channel
        self.calls: list[tuple[Any, float, Any]] = []

    async def Ask(self, request: Any, *, timeout: float, metadata: Any) -> Any:  # noqa: ASYNC109
        self.calls.append((request, timeout, metadata))
        if self.refusal is not None:
            raise refused(self.refusal)
        return self.answer


class Peer(PeerClient):
    stub_type = FakeStub
    peer = "inventory"


async def test_every_call_carries_the_token_and_the_deadline() -> None:
    client = Peer(object(), service_credentials("t0k"), timeout=2.5)  # type: ignore[arg-type]
    client.stub.answer = "yes"
    assert await client.call("Ask", "q") == "yes"
    assert client.stub.calls == [("q", 2.5, (("authorization", "Bearer t0k"),))]
    assert bearer("x") == (("authorization", "Bearer x"),)


async def test_a_named_refusal_is_raised_as_what_it_maps_to() -> None:
    client = Peer(object(), service_credentials("t"))  # type: ignore[arg-type]
    client.stub.refusal = grpc.StatusCode.NOT_FOUND
    with pytest.raises(NotFound) as raised:
        await client.call(
            "Ask", "q", refusals={grpc.StatusCode.NOT_FOUND: not_found("store", "SZ01")}
        )
    assert (raised.value.resource_type, raised.value.resource_name) == ("store", "SZ01")


@pytest.mark.parametrize(
    "code",
    [grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.INTERNAL, grpc.StatusCode.NOT_FOUND],
)
async def test_any_other_failure_is_the_peer_unavailable(code: grpc.StatusCode) -> None:
    client = Peer(object(), service_credentials("t"))  # type: ignore[arg-type]
    client.stub.refusal = code
    with pytest.raises(Unavailable, match=f"inventory Ask: {code.name}"):
        await client.call("Ask", "q")


async def test_pages_are_read_until_the_peer_gives_no_next_token() -> None:
    asked: list[str] = []

    async def fetch(token: str) -> pb.FindStockResponse:
        asked.append(token)
        following = {"": "p2", "p2": "p3", "p3": ""}[token]
        return pb.FindStockResponse(
            stores=[pb.StoreStock(store_id=f"S{len(asked)}")], next_page_token=following
        )

    found = await every_page(fetch, lambda reply: (s.store_id for s in reply.stores))
    assert found == ["S1", "S2", "S3"]
    assert asked == ["", "p2", "p3"]


async def test_a_peer_that_always_has_a_next_page_is_read_no_more_than_the_bound() -> None:
    asked: list[str] = []

    async def fetch(token: str) -> pb.FindStockResponse:
        asked.append(token)
        return pb.FindStockResponse(next_page_token="again")

    assert await every_page(fetch, lambda reply: reply.stores) == []
    assert len(asked) == MAX_PAGES


def test_a_peer_reply_timestamp_reads_as_an_aware_utc_moment() -> None:
    moment = datetime(2026, 11, 30, 8, 15, tzinfo=UTC)
    assert utc(timestamp(moment)) == moment  # type: ignore[arg-type]
    assert optional_moment(pb.StoreStock(last_movement_at=timestamp(moment)), "last_movement_at")
    assert optional_moment(pb.StoreStock(), "last_movement_at") is None
