"""Who may call an RPC, declared on its servicer method and checked before the method runs.

Checking before the body means before the command's idempotent replay too: a caller who may
not act never sees the cached answer of someone who may. The rules themselves (roles, a
store's own callers, HQ and services for every store) are kernel.auth's.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from kernel.auth import (
    NETWORK_ROLES,
    authorize_any_store,
    authorize_role,
    authorize_store,
    current_principal,
)

ATTRIBUTE = "__storemesh_access__"

Method = TypeVar("Method", bound=Callable[..., Awaitable[Any]])
# The stores a request is about, found from the service's own state (e.g. a technician's
# home store); empty when the subject does not exist, so that the method answers NOT_FOUND.
StoresOf = Callable[[Any, Any], Awaitable[Sequence[str]]]


@dataclass(frozen=True)
class Access:
    action: str
    roles: tuple[str, ...] = ()
    store_field: str = ""
    stores_of: StoresOf | None = None
    # An empty store field asks about the whole network: HQ and services only.
    empty_store_is_network: bool = False

    async def check(self, servicer: Any, request: Any) -> None:
        current_principal()
        if self.roles:
            authorize_role(*self.roles)
        if self.store_field:
            store = getattr(request, self.store_field)
            if not store and self.empty_store_is_network:
                authorize_role(*NETWORK_ROLES)
            else:
                authorize_store(store, self.action)
        if self.stores_of is not None:
            parties = await self.stores_of(servicer, request)
            if parties:
                authorize_any_store(parties, self.action)


def declared(method: Callable[..., Any]) -> Access | None:
    found = getattr(method, ATTRIBUTE, None)
    return found if isinstance(found, Access) else None


def _declare(access: Access) -> Callable[[Method], Method]:
    def wrap(method: Method) -> Method:
        @functools.wraps(method)
        async def checked(servicer: Any, request: Any, context: Any) -> Any:
            await access.check(servicer, request)
            return await method(servicer, request, context)

        setattr(checked, ATTRIBUTE, access)
        return cast(Method, checked)

    return wrap


def anyone_signed_in(method: Method) -> Method:
    """Network-wide visibility: every authenticated caller may read it."""
    return _declare(Access("read"))(method)


def roles(*allowed: str, action: str) -> Callable[[Method], Method]:
    """Only these roles (e.g. the catalogue and the store directory: HQ and services)."""
    return _declare(Access(action, roles=allowed))


def store_in(
    field_name: str, action: str, *, empty_is_network: bool = False
) -> Callable[[Method], Method]:
    """The store the request names in `field_name`: its own staff, HQ and services; with
    `empty_is_network`, a request naming no store is about every store (HQ and services)."""
    return _declare(Access(action, store_field=field_name, empty_store_is_network=empty_is_network))


def stores_of(
    find: StoresOf, action: str, *, roles: tuple[str, ...] = ()
) -> Callable[[Method], Method]:
    """Any of the stores `find` returns for the request (e.g. either party of a support),
    and, when given, only callers in these roles (e.g. a source store's DMS or manager)."""
    return _declare(Access(action, roles=roles, stores_of=find))
