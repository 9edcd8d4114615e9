"""Who may act on a transfer: the store scoping of collab.proto, found from its state.

Only the SOURCE store being asked (its DMS or manager) or HQ answers a request; either
party reports the courier's progress or reads the transfer. The stores are read from the
read model before the command runs (kernel.access), so a caller who may not act is refused
before an idempotent replay could answer it; the source is checked again inside the
transaction, since a source that stayed silent past its deadline is no longer the one asked.
"""

from __future__ import annotations

from typing import Any


async def source_store(servicer: Any, request: Any) -> list[str]:
    parties: list[str] = await servicer.queries.parties(request.transfer_id)
    return parties[:1]


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
