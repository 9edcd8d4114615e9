"""Every RPC declares who may call it, and the declaration is checked before the method runs."""

from __future__ import annotations

from typing import Any

import pytest
from storemesh.capacity.v1 import capacity_pb2
from storemesh.collab.v1 import collab_pb2
from storemesh.inventory.v1 import inventory_pb2
from storemesh.workforce.v1 import workforce_pb2

from kernel import access
from kernel.auth import Principal, set_principal
from kernel.errors import PermissionDenied
from services.capacity.grpc_api import CapacityServicer
from services.collab.grpc_api import CollabServicer
from services.inventory.grpc_api import InventoryServicer
from services.workforce.grpc_api import WorkforceServicer

SERVICERS = [
    (InventoryServicer, inventory_pb2.DESCRIPTOR.services_by_name["InventoryService"]),
    (CapacityServicer, capacity_pb2.DESCRIPTOR.services_by_name["CapacityService"]),
    (WorkforceServicer, workforce_pb2.DESCRIPTOR.services_by_name["WorkforceService"]),
    (CollabServicer, collab_pb2.DESCRIPTOR.services_by_name["CollabService"]),
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
