"""Composition root of the inventory service."""

from __future__ import annotations

from collections.abc import Sequence

import grpc
from storemesh.inventory.events.v1 import events_pb2
from storemesh.inventory.v1 import inventory_pb2, inventory_pb2_grpc

from kernel.application import Application
from kernel.auth import TokenVerifier
from kernel.clock import Clock
from kernel.config import Settings
from kernel.events import EventRegistry
from kernel.grpc_server import Registrar
from kernel.service import Service, ServiceDefinition, assemble
from kernel.timers import TimerHandler
from services.inventory import read_model
from services.inventory.application import EXPIRE_RESERVATION, Inventory
from services.inventory.domain.events import EVENT_TYPES
from services.inventory.grpc_api import InventoryServicer

PORT = 50051

DEFINITION = ServiceDefinition(
    name="inventory",
    default_port=PORT,
    registry=EventRegistry("inventory", EVENT_TYPES, events_pb2),
    migrations=read_model.MIGRATIONS,
    projectors=(read_model.project,),
    keeps_store_directory=True,
)


def _register(app: Application) -> Registrar:
    def register(server: grpc.aio.Server) -> Sequence[str]:
        inventory_pb2_grpc.add_InventoryServiceServicer_to_server(
            InventoryServicer(Inventory(app)), server
        )
        return [inventory_pb2.DESCRIPTOR.services_by_name["InventoryService"].full_name]

    return register


def _timers(app: Application) -> dict[str, TimerHandler]:
    return {EXPIRE_RESERVATION: Inventory(app).expire_reservation}


async def build(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    verifier: TokenVerifier | None = None,
    timer_interval: float = 1.0,
) -> Service:
    return await assemble(
        DEFINITION,
        settings,
        register=_register,
        timer_handlers=_timers,
        clock=clock,
        verifier=verifier,
        timer_interval=timer_interval,
    )
