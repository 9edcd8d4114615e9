"""Composition root of the capacity service."""

from __future__ import annotations

from collections.abc import Sequence

import grpc
from storemesh.capacity.events.v1 import events_pb2
from storemesh.capacity.v1 import capacity_pb2, capacity_pb2_grpc

from kernel.application import Application
from kernel.auth import TokenVerifier
from kernel.clock import Clock
from kernel.config import Settings
from kernel.events import EventRegistry
from kernel.grpc_server import Registrar
from kernel.service import Service, ServiceDefinition, assemble
from kernel.timers import TimerHandler
from services.capacity import read_model
from services.capacity.application import EXPIRE_SLOT_HOLD, REASSESS_WAIT, Capacity
from services.capacity.domain import EVENT_TYPES
from services.capacity.grpc_api import CapacityServicer

PORT = 50053

DEFINITION = ServiceDefinition(
    name="capacity",
    default_port=PORT,
    registry=EventRegistry("capacity", EVENT_TYPES, events_pb2),
    migrations=read_model.MIGRATIONS,
    projectors=(read_model.project,),
)


def _register(app: Application) -> Registrar:
    def register(server: grpc.aio.Server) -> Sequence[str]:
        capacity_pb2_grpc.add_CapacityServiceServicer_to_server(
            CapacityServicer(Capacity(app)), server
        )
        return [capacity_pb2.DESCRIPTOR.services_by_name["CapacityService"].full_name]

    return register


def _timers(app: Application) -> dict[str, TimerHandler]:
    capacity = Capacity(app)
    return {
        EXPIRE_SLOT_HOLD: capacity.expire_slot_hold,
        REASSESS_WAIT: capacity.reassess_wait,
    }


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
