"""Who may act on a transfer: the store scoping of collab.proto, found from its state.

Only the SOURCE store being asked (its DMS or manager) or HQ answers a request; either
party reports the courier's progress or reads the transfer. The stores are read from the
read model before the command runs (kernel.access), so a caller who may not act is refused
before an idempotent replay could answer it; the source is checked again inside the
transaction, since a source that stayed silent past its deadline is no longer the one asked.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

# The transfer's parties as this request's access check read them (each call runs in its
# own task, so this never outlives the call it was read for).
_parties_read: ContextVar[tuple[str, list[str]] | None] = ContextVar(
    "collab_transfer_parties_read", default=None
)


async def source_store(servicer: Any, request: Any) -> list[str]:
    parties: list[str] = await servicer.queries.parties(request.transfer_id)
    _parties_read.set((request.transfer_id, parties))
    return parties[:1]


def source_read(transfer_id: str) -> str | None:
    """The source store the access check of this call found, when it found the transfer:
    the answer is for that source (checked again inside the command's transaction)."""
    read = _parties_read.get()
    if read is None or read[0] != transfer_id or not read[1]:
        return None
    return read[1][0]


async def transfer_parties(servicer: Any, request: Any) -> list[str]:
    """The source store being asked and the requesting store."""
    parties: list[str] = await servicer.queries.parties(request.transfer_id)
    return parties


# SOP 2: the LENDING store (the technician's home store asked now) answers a support
# request; either store of the support reports its progress or reads it.


async def lending_store(servicer: Any, request: Any) -> list[str]:
    parties: list[str] = await servicer.sop_queries.support_parties(request.support_id)
    return parties[:1]


async def support_parties(servicer: Any, request: Any) -> list[str]:
    parties: list[str] = await servicer.sop_queries.support_parties(request.support_id)
    return parties


# SOP 3: only the ORIGIN store (whose customer chooses) answers; either store reads it.


async def origin_store(servicer: Any, request: Any) -> list[str]:
    parties: list[str] = await servicer.sop_queries.diversion_parties(request.diversion_id)
    return parties[:1]


async def diversion_parties(servicer: Any, request: Any) -> list[str]:
    parties: list[str] = await servicer.sop_queries.diversion_parties(request.diversion_id)
    return parties
