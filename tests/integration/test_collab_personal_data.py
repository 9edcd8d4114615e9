"""Crypto-shredding of a waiting customer's name and phone: sealed before any event holds
them, read back for the requesting store, "[forgotten]" everywhere once HQ forgets them.
Collab and inventory over gRPC, PostgreSQL and NATS."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
from sqlalchemy import select
from storemesh.collab.v1 import collab_pb2 as pb

from kernel.eventstore import command_log, events
from kernel.personal_data import customer_keys
from tests.integration.collab_fixtures import (
    FS,
    GZ,
    PART,
    CollabRun,
    at_stage,
    collab_db_url,
    start_collab,
    stocked,
)
from tests.integration.inventory_fixtures import InventoryClient, inv, inventory_service
from tests.integration.kernel_fixtures import all_messages, eventually
from tests.integration.rich_errors import failure, violated_fields

__all__ = ["collab_db_url", "inv", "inventory_service", "start_collab"]

Mint = Callable[..., str]
NAME = "李雷"
PHONE = "13800138000"


async def collab_stream_bytes(run: CollabRun) -> list[bytes]:
    """Every message on the COLLAB stream, headers and payload, as raw bytes."""
    nats = run.parts.service.nats
    js = await nats.jetstream()
    return [
        bytes(m.data or b"") + repr(m.headers).encode()
        for m in await all_messages(js, nats.stream("COLLAB"))
    ]


def clear_text_in(blobs: list[bytes]) -> list[bytes]:
    return [b for b in blobs if NAME.encode() in b or PHONE.encode() in b]


async def test_a_forgotten_customer_reads_forgotten_and_no_stream_ever_carried_them(
    start_collab: Any, inv: InventoryClient, mint: Mint
) -> None:
    await stocked(inv, FS01=5)
    async with start_collab() as collab:
        guangzhou = collab.client(mint("dms", GZ))
        hq = collab.client(mint("hq"))
        await guangzhou.RequestTransfer(
            request_id="T-1",
            store_id=GZ,
            part_number=PART,
            quantity=1,
            urgency=pb.URGENCY_URGENT,
            customer_waiting=True,
            customer=pb.Customer(customer_ref="CRM-42", name=NAME, phone=PHONE),
        )
        await at_stage(hq, "T-1", pb.TRANSFER_STAGE_AWAITING_APPROVAL, FS)

        seen = (await guangzhou.GetTransfer(transfer_id="T-1")).customer
        assert (seen.customer_ref, seen.name, seen.phone) == ("CRM-42", NAME, PHONE)
        # The source store learns a customer waits, not who.
        source_view = await collab.client(mint("manager", FS)).GetTransfer(transfer_id="T-1")
        assert (source_view.customer.customer_ref, source_view.customer.name) == ("CRM-42", "")

        # Neither the event store, the command log nor JetStream hold the clear text.
        async with collab.parts.service.db.transaction() as conn:
            payloads = list((await conn.execute(select(events.c.payload))).scalars())
            logged = [repr(tuple(r)).encode() for r in await conn.execute(select(command_log))]
        assert payloads and not clear_text_in([bytes(p) for p in payloads] + logged)
        published = await eventually(lambda: collab_stream_bytes(collab))
        assert any(b"CRM-42" in b for b in published)  # the reference travels
        assert not clear_text_in(published)
        # Not even sealed: the event store keeps the ciphertext, partners get the reference.
        assert any(b"sealed.v1." in bytes(p) for p in payloads)
        assert not any(b"sealed.v1." in b for b in published)

        forgotten = await hq.ForgetCustomer(request_id="f-1", customer_ref="CRM-42")
        again = await hq.ForgetCustomer(request_id="f-2", customer_ref="CRM-42")
        assert again.forgotten_at == forgotten.forgotten_at  # idempotent: first time kept

        after = (await guangzhou.GetTransfer(transfer_id="T-1")).customer
        assert (after.customer_ref, after.name, after.phone) == (
            "CRM-42",
            "[forgotten]",
            "[forgotten]",
        )
        async with collab.parts.service.db.transaction() as conn:
            (key,) = (
                await conn.execute(
                    select(customer_keys.c.key).where(customer_keys.c.customer_ref == "CRM-42")
                )
            ).scalars()
        assert key is None


async def test_only_hq_forgets_and_bad_customer_input_is_named(
    start_collab: Any, inv: InventoryClient, mint: Mint
) -> None:
    await stocked(inv, FS01=5)
    async with start_collab() as collab:
        guangzhou = collab.client(mint("dms", GZ))
        denied = await failure(guangzhou.ForgetCustomer(request_id="f-1", customer_ref="CRM-1"))
        assert denied.code() == grpc.StatusCode.PERMISSION_DENIED

        bad = await failure(
            guangzhou.RequestTransfer(
                request_id="T-2",
                store_id=GZ,
                part_number=PART,
                quantity=1,
                urgency=pb.URGENCY_URGENT,
                customer=pb.Customer(name=NAME, phone="call me maybe"),
            )
        )
        assert bad.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert sorted(violated_fields(bad)) == ["customer.customer_ref", "customer.phone"]
        missing = await failure(
            collab.client(mint("hq")).ForgetCustomer(request_id="f-2", customer_ref="")
        )
        assert violated_fields(missing) == ["customer_ref"]
