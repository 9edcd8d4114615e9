"""Composition root of the inventory service: what the kernel needs to build it."""

from __future__ import annotations

from storemesh.inventory.events.v1 import events_pb2
from storemesh.inventory.v1 import inventory_pb2, inventory_pb2_grpc

from kernel.events import EventRegistry
from kernel.service import ServiceDefinition
from services.inventory import read_model
from services.inventory.application import EXPIRE_RESERVATION, Inventory
from services.inventory.domain.events import EVENT_TYPES
from services.inventory.grpc_api import InventoryServicer
from services.inventory.stale_close import STALE_STOCK_CLOSE

PORT = 50051

DEFINITION = ServiceDefinition(
    name="inventory",
    default_port=PORT,
    registry=EventRegistry("inventory", EVENT_TYPES, events_pb2),
    migrations=read_model.MIGRATIONS,
    projectors=(read_model.project,),
    keeps_store_directory=True,
    application=lambda app, settings: Inventory(app),
    servicer=InventoryServicer,
    add_servicer=inventory_pb2_grpc.add_InventoryServiceServicer_to_server,
    api=inventory_pb2.DESCRIPTOR.services_by_name["InventoryService"].full_name,
    timers=lambda inventory: {
        EXPIRE_RESERVATION: inventory.expire_reservation,
        STALE_STOCK_CLOSE: inventory.stale_close.close,
    },
    # Arms the daily stale-stock close at start when absent.
    background=lambda inventory: [inventory.stale_close.arming],
)

build = DEFINITION.build
