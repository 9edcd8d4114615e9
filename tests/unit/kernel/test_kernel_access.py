"""Every RPC declares who may call it, and the declaration is checked before the method runs."""

from __future__ import annotations

from typing import Any

import pytest
from storemesh.analytics.v1 import analytics_pb2
from storemesh.capacity.v1 import capacity_pb2
from storemesh.collab.v1 import collab_pb2
from storemesh.inventory.v1 import inventory_pb2
from storemesh.workforce.v1 import workforce_pb2

from kernel import access
from kernel.auth import Principal, set_principal
from kernel.errors import PermissionDenied
from services.analytics.grpc_api import AnalyticsServicer
from services.capacity.grpc_api import CapacityServicer
from services.collab.grpc_api import CollabServicer
from services.inventory.grpc_api import InventoryServicer
from services.workforce.grpc_api import WorkforceServicer

SERVICERS = [
    (InventoryServicer, inventory_pb2.DESCRIPTOR.services_by_name["InventoryService"]),
    (CapacityServicer, capacity_pb2.DESCRIPTOR.services_by_name["CapacityService"]),
    (WorkforceServicer, workforce_pb2.DESCRIPTOR.services_by_name["WorkforceService"]),
    (CollabServicer, collab_pb2.DESCRIPTOR.services_by_name["CollabService"]),
    (AnalyticsServicer, analytics_pb2.DESCRIPTOR.services_by_name["AnalyticsService"]),
]


@pytest.mark.parametrize(("servicer", "service"), SERVICERS)
def test_every_rpc_declares_who_may_call_it(servicer: type, service: Any) -> None:
    undeclared = [
        m.name for m in service.methods if access.declared(getattr(servicer, m.name)) is None
    ]
    assert undeclared == []


@pytest.mark.parametrize(("servicer", "service"), SERVICERS)
def test_every_mutation_is_scoped_to_a_store_or_a_role(servicer: type, service: Any) -> None:
    """A request with a request_id changes something: reading rights are not enough."""
    open_to_all = [
        m.name
        for m in service.methods
        if "request_id" in m.input_type.fields_by_name
        and (found := access.declared(getattr(servicer, m.name))) is not None
        and not (found.roles or found.store_field or found.stores_of)
    ]
    assert open_to_all == []


class Shop:
    ran = False

    @access.store_in("store_id", "receive stock")
    async def Receive(self, request: Any, context: Any) -> str:
        self.ran = True
        return "done"


class Request:
    store_id = "SZ01"


async def test_a_caller_of_another_store_is_refused_before_the_method_runs() -> None:
    shop = Shop()
    set_principal(Principal("dms-gz01", "dms", frozenset({"GZ01"})))
    try:
        with pytest.raises(PermissionDenied):
            await shop.Receive(Request(), None)
        assert not shop.ran
        set_principal(Principal("dms-sz01", "dms", frozenset({"SZ01"})))
        assert await shop.Receive(Request(), None) == "done"
    finally:
        set_principal(None)


class Transfers:
    """A source store answers its transfer: the store is found from state, the role too."""

    ran = False

    @access.stores_of(lambda servicer, request: _found(["SZ02"]), "approve", roles=("dms",))
    async def Approve(self, request: Any, context: Any) -> str:
        self.ran = True
        return "approved"

    @access.store_in("store_id", "list", empty_is_network=True)
    async def List(self, request: Any, context: Any) -> str:
        return "listed"


async def _found(stores: list[str]) -> list[str]:
    return stores


class NoStore:
    store_id = ""


async def test_stores_of_with_roles_needs_both_the_role_and_the_store() -> None:
    transfers = Transfers()
    try:
        for refused in (
            Principal("dms-sz01", "dms", frozenset({"SZ01"})),  # the other party
            Principal("partner-1", "partner", frozenset({"SZ02"})),  # its store, not its role
            Principal("svc", "service", frozenset()),  # network-wide, not its role
        ):
            set_principal(refused)
            with pytest.raises(PermissionDenied):
                await transfers.Approve(Request(), None)
        assert not transfers.ran
        set_principal(Principal("dms-sz02", "dms", frozenset({"SZ02"})))
        assert await transfers.Approve(Request(), None) == "approved"
    finally:
        set_principal(None)


async def test_an_empty_store_with_empty_is_network_is_for_hq_and_services_only() -> None:
    transfers = Transfers()
    try:
        set_principal(Principal("dms-sz01", "dms", frozenset({"SZ01"})))
        assert await transfers.List(Request(), None) == "listed"
        with pytest.raises(PermissionDenied):
            await transfers.List(NoStore(), None)
        set_principal(Principal("hq", "hq", frozenset()))
        assert await transfers.List(NoStore(), None) == "listed"
    finally:
        set_principal(None)
