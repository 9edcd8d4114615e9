"""Composition root of the analytics service: its own facts (reports, targets, alarm lines),
the store directory, capacity's peer groups over gRPC and the servicer."""

from __future__ import annotations

import grpc
from storemesh.analytics.events.v1 import events_pb2
from storemesh.analytics.v1 import analytics_pb2, analytics_pb2_grpc

from kernel.application import Application
from kernel.config import Settings
from kernel.events import EventRegistry
from kernel.peer_client import service_credentials
from kernel.service import ServiceDefinition
from services.analytics import network_model, read_model
from services.analytics.application import Analytics
from services.analytics.capacity_client import CapacityPeerGroups
from services.analytics.domain import EVENT_TYPES
from services.analytics.grpc_api import AnalyticsServicer

PORT = 50055


def analytics(
    app: Application, settings: Settings, *, capacity: grpc.aio.Channel | None = None
) -> Analytics:
    """Analytics asking capacity at settings.capacity_address, with the service token, for
    peer groups and the daily pressure forecasts."""
    channel = capacity or grpc.aio.insecure_channel(settings.capacity_address)
    credentials = service_credentials(settings.service_token)

    capacity_client = CapacityPeerGroups(channel, credentials)
    return Analytics(app, capacity_client, capacity_client)


DEFINITION = ServiceDefinition(
    name="analytics",
    default_port=PORT,
    registry=EventRegistry("analytics", EVENT_TYPES, events_pb2),
    migrations=(*read_model.MIGRATIONS, *network_model.MIGRATIONS),
    projectors=(read_model.project,),
    # The reports' rows keep the position of the event that recorded them.
    appends_at_close=False,
    # Stores and their regions: reports and targets name known stores only.
    keeps_store_directory=True,
    application=analytics,
    servicer=AnalyticsServicer,
    add_servicer=analytics_pb2_grpc.add_AnalyticsServiceServicer_to_server,
    api=analytics_pb2.DESCRIPTOR.services_by_name["AnalyticsService"].full_name,
    subscriptions=lambda analytics: analytics.projections.subscriptions(),
    timers=lambda analytics: analytics.scheduled.handlers(),
    background=lambda analytics: [analytics.arming],
)

build = DEFINITION.build
