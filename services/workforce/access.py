"""Who may act on a technician: the store scoping of workforce.proto, found from its state.

A store's token acts for its own technicians; HQ and services for all. Support has two
parties: the host store asks (HoldSupport names it), the home store lends
(ConfirmSupport), and either may check in, complete or cancel. The stores are read from
the read model before the command runs (kernel.access), so a caller who may not act is
refused before an idempotent replay could answer it.
"""

from __future__ import annotations

from typing import Any


async def home_store(servicer: Any, request: Any) -> list[str]:
    found = await servicer.queries.parties(request.technician_id)
    return found[:1]


async def support_parties(servicer: Any, request: Any) -> list[str]:
    """The technician's home store and the store the support is for."""
    parties: list[str] = await servicer.queries.parties(request.technician_id, request.support_id)
    return parties
