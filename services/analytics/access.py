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


async def drill_down_store(servicer: Any, request: Any) -> list[str]:
    """The store a drill-down key names (store/<id>/...); none when malformed (then the
    method answers INVALID_ARGUMENT)."""
    parts = request.drill_down.split("/")
    return [parts[1]] if len(parts) > 1 and parts[0] == "store" and parts[1] else []
