"""Who may act on a transfer: the store scoping of collab.proto, found from its state.

Only the SOURCE store being asked (its DMS or manager) or HQ answers a request; either
party reports the courier's progress or reads the transfer. The stores are read from the
read model before the command runs (kernel.access), so a caller who may not act is refused
before an idempotent replay could answer it; the source is checked again inside the
transaction, since a source that stayed silent past its deadline is no longer the one asked.
A support's lending store answers the same way.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any

# The parties of a transfer or support as this request's access check read them (each call
# runs in its own task, so this never outlives the call it was read for).
_parties_read: ContextVar[tuple[str, list[str]] | None] = ContextVar(
    "collab_parties_read", default=None
)


async def source_store(servicer: Any, request: Any) -> list[str]:
    parties: list[str] = await servicer.queries.parties(request.transfer_id)
    _parties_read.set((request.transfer_id, parties))
    return parties[:1]


async def answering_for(resource_id: str, otherwise: Callable[[], Awaitable[str]]) -> str:
    """The store being asked (a transfer's source, a support's lender) as the access check
    of this call found it: the answer is for that store, the one the caller was authorised
    for, and is checked again inside the command's transaction. Never read again in
    between: the saga may have moved on to another store, which the caller may not answer
    for. `otherwise`: read it, where no check of this call found it."""
    read = _parties_read.get()
    if read is None or read[0] != resource_id or not read[1]:
        return await otherwise()
    return read[1][0]


async def transfer_parties(servicer: Any, request: Any) -> list[str]:
    """The source store being asked and the requesting store."""
    parties: list[str] = await servicer.queries.parties(request.transfer_id)
    return parties


# SOP 2: the LENDING store (the technician's home store asked now) answers a support
# request; either store of the support reports its progress or reads it.


async def lending_store(servicer: Any, request: Any) -> list[str]:
    parties: list[str] = await servicer.sop_queries.support_parties(request.support_id)
    _parties_read.set((request.support_id, parties))
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
