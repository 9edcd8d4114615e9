"""Who may act on a technician: the store scoping of workforce.proto, checked on its state.

A store's token acts for its own technicians; HQ and services for all. Support has two
parties: the host store asks (HoldSupport is authorised on the request), the home store
lends (ConfirmSupport), and either may check in, complete or cancel.
"""

from __future__ import annotations

from kernel.auth import authorize_any_store, authorize_store
from services.workforce.application import Guard
from services.workforce.domain.state import TechnicianState


def home_store(action: str) -> Guard:
    def may(state: TechnicianState) -> None:
        authorize_store(state.store_id, action)

    return may


def either_store(support_id: str, action: str) -> Guard:
    """The technician's home store or the store the support is for."""

    def may(state: TechnicianState) -> None:
        support = state.support(support_id)
        parties = [state.store_id] if support is None else [state.store_id, support.host_store_id]
        authorize_any_store(parties, action)

    return may
