"""Collab's part of the demo network: SOP 1's headlight case, waiting for its approval.

Shenzhen Futian (SZ01, overloaded) has a customer waiting for a left LED headlamp; the
transfer is requested from the best source, which `make run`'s user can then approve as
that store (or let the 10 minute deadline pass and watch the next source be asked). The
request id is fixed, so loading twice changes nothing.
"""

from __future__ import annotations

from typing import Any

import grpc
from storemesh.collab.v1 import collab_pb2 as pb
from storemesh.collab.v1 import collab_pb2_grpc as pb_grpc

from services.demo_network import request_id

REQUESTER = "SZ01"
HEADLAMP = "LMP-HEAD-L"


async def load(channel: grpc.aio.Channel, metadata: Any) -> str:
    """The demo transfer's id and first source, or why there is none."""
    stub = pb_grpc.CollabServiceStub(channel)
    try:
        transfer = await stub.RequestTransfer(
            pb.RequestTransferRequest(
                request_id=request_id("transfer", REQUESTER, HEADLAMP),
                store_id=REQUESTER,
                part_number=HEADLAMP,
                quantity=1,
                urgency=pb.URGENCY_URGENT,
                customer_waiting=True,
                repair_order="DEMO-RO-SZ01-0001",
            ),
            metadata=metadata,
        )
    except grpc.aio.AioRpcError as err:
        if err.code() != grpc.StatusCode.FAILED_PRECONDITION:
            raise
        return f"no headlamp transfer: {err.details()}"
    return f"headlamp transfer {transfer.transfer_id} asks {transfer.source_store_id}"
