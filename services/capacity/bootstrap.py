"""Composition root of the capacity service: what the kernel needs to build it."""

from __future__ import annotations

from storemesh.capacity.events.v1 import events_pb2
from storemesh.capacity.v1 import capacity_pb2, capacity_pb2_grpc

from kernel.events import EventRegistry
from kernel.service import ServiceDefinition
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
    application=lambda app, settings: Capacity(app),
    servicer=CapacityServicer,
    add_servicer=capacity_pb2_grpc.add_CapacityServiceServicer_to_server,
    api=capacity_pb2.DESCRIPTOR.services_by_name["CapacityService"].full_name,
    timers=lambda capacity: {
        EXPIRE_SLOT_HOLD: capacity.expire_slot_hold,
        REASSESS_WAIT: capacity.reassess_wait,
    },
)

build = DEFINITION.build
