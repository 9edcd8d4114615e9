"""Composition root of the workforce service."""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import timedelta

import grpc
from storemesh.workforce.events.v1 import events_pb2
from storemesh.workforce.v1 import workforce_pb2, workforce_pb2_grpc

from kernel.application import Application
from kernel.auth import TokenVerifier
from kernel.clock import Clock
from kernel.config import Settings
from kernel.events import EventRegistry
from kernel.grpc_server import Registrar
from kernel.service import Service, ServiceDefinition, assemble
from kernel.timers import TimerHandler
from services.workforce import read_model
from services.workforce.application import EXPIRE_SUPPORT_HOLD, Workforce
from services.workforce.domain import EVENT_TYPES
from services.workforce.domain.lead_time import PLANNED_LEAD_TIME, LeadTimePolicy
from services.workforce.grpc_api import WorkforceServicer

PORT = 50052

DEFINITION = ServiceDefinition(
    name="workforce",
    default_port=PORT,
    registry=EventRegistry("workforce", EVENT_TYPES, events_pb2),
    migrations=read_model.MIGRATIONS,
    projectors=(read_model.project,),
    keeps_store_directory=True,
)


def lead_time_from_env() -> LeadTimePolicy:
    """STOREMESH_SUPPORT_LEAD_TIME_HOURS: how far ahead planned support is booked (72)."""
    hours = os.environ.get("STOREMESH_SUPPORT_LEAD_TIME_HOURS")
    return LeadTimePolicy(timedelta(hours=float(hours)) if hours else PLANNED_LEAD_TIME)


async def build(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    verifier: TokenVerifier | None = None,
    timer_interval: float = 1.0,
    lead_time: LeadTimePolicy | None = None,
) -> Service:
    policy = lead_time or lead_time_from_env()

    def register(app: Application) -> Registrar:
        def add(server: grpc.aio.Server) -> Sequence[str]:
            workforce_pb2_grpc.add_WorkforceServiceServicer_to_server(
                WorkforceServicer(Workforce(app, policy)), server
            )
            return [workforce_pb2.DESCRIPTOR.services_by_name["WorkforceService"].full_name]

        return add

    def timers(app: Application) -> dict[str, TimerHandler]:
        return {EXPIRE_SUPPORT_HOLD: Workforce(app, policy).expire_hold}

    return await assemble(
        DEFINITION,
        settings,
        register=register,
        timer_handlers=timers,
        clock=clock,
        verifier=verifier,
        timer_interval=timer_interval,
    )
