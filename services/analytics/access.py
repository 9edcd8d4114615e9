"""Who may read a scope: a store's own staff (its DMS, its manager), HQ and services read
a store; a region or the network is HQ's view (and services'). Declared on the servicer
with kernel.access, so it is checked before the method runs."""

from __future__ import annotations

from typing import Any

from storemesh.analytics.v1 import analytics_pb2 as pb

from kernel.auth import NETWORK_ROLES, authorize_role


async def scope_store(servicer: Any, request: Any) -> list[str]:
    """The store a store scope names (its callers are checked against it); for any other
    scope, only HQ and services pass."""
    scope = request.scope
    if scope.level == pb.SCOPE_LEVEL_STORE:
        return [scope.id] if scope.id else []
    authorize_role(*NETWORK_ROLES)
    return []
