"""Composition root of the workforce service: what the kernel needs to build it."""

from __future__ import annotations

from datetime import timedelta

from storemesh.workforce.events.v1 import events_pb2
from storemesh.workforce.v1 import workforce_pb2, workforce_pb2_grpc

from kernel.application import Application
from kernel.config import Settings
from kernel.events import EventRegistry
from kernel.service import ServiceDefinition
from services.workforce import read_model
from services.workforce.application import EXPIRE_SUPPORT_HOLD, Workforce
from services.workforce.domain import EVENT_TYPES
from services.workforce.domain.lead_time import LeadTimePolicy
from services.workforce.grpc_api import WorkforceServicer

PORT = 50052


def workforce(app: Application, settings: Settings) -> Workforce:
    """The lead time of planned support is the deployment's (STOREMESH_SUPPORT_LEAD_TIME_HOURS)."""
    return Workforce(app, LeadTimePolicy(timedelta(hours=settings.support_lead_time_hours)))


DEFINITION = ServiceDefinition(
    name="workforce",
    default_port=PORT,
    registry=EventRegistry("workforce", EVENT_TYPES, events_pb2),
    migrations=read_model.MIGRATIONS,
    projectors=(read_model.project,),
    keeps_store_directory=True,
    application=workforce,
    servicer=WorkforceServicer,
    add_servicer=workforce_pb2_grpc.add_WorkforceServiceServicer_to_server,
    api=workforce_pb2.DESCRIPTOR.services_by_name["WorkforceService"].full_name,
    timers=lambda workforce: {EXPIRE_SUPPORT_HOLD: workforce.expire_hold},
)

build = DEFINITION.build
