"""Composition root of the collab service: the transfer saga, its dispatcher and timers,
inventory as its participant over gRPC, the demand subscription and the servicer."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import grpc
from storemesh.collab.events.v1 import events_pb2
from storemesh.collab.v1 import collab_pb2, collab_pb2_grpc

from kernel.application import Application
from kernel.config import Settings
from kernel.events import EventRegistry
from kernel.saga import Participant, SagaDispatcher
from kernel.service import ServiceDefinition
from services.collab import read_model
from services.collab.application import (
    Collab,
    build_runtime,
    demand_subscription,
)
from services.collab.domain.events import EVENT_TYPES
from services.collab.domain.transfer import Deadlines
from services.collab.grpc_api import CollabServicer
from services.collab.inventory_client import INVENTORY_API, InventoryStock
from services.collab.revitalisation import shortage_subscription

PORT = 50054
DISPATCH_INTERVAL_SECONDS = 0.5


def collaboration(
    app: Application,
    settings: Settings,
    *,
    inventory: grpc.aio.Channel | None = None,
    saga_channel: grpc.aio.Channel | None = None,
    deadlines: Deadlines | None = None,
) -> Collab:
    """Collab over inventory at settings.inventory_address, calling with the service token.
    Tests pass their own channels: `saga_channel` carries the saga's calls when they must go
    another way than the stock lookups (cut, to stage a crash between two steps)."""
    channel = inventory or grpc.aio.insecure_channel(settings.inventory_address)
    deadlines = deadlines or Deadlines(
        approval=timedelta(minutes=settings.transfer_approval_minutes)
    )
    token = settings.service_token

    def credentials() -> Sequence[tuple[str, str]]:
        return (("authorization", f"Bearer {token}"),)

    runtime = build_runtime(deadlines)
    dispatcher = SagaDispatcher(
        app,
        [runtime],
        [Participant("inventory", saga_channel or channel, INVENTORY_API, metadata=credentials)],
        interval=DISPATCH_INTERVAL_SECONDS,
    )
    return Collab(app, runtime, InventoryStock(channel, credentials), deadlines, dispatcher)


DEFINITION = ServiceDefinition(
    name="collab",
    default_port=PORT,
    registry=EventRegistry("collab", EVENT_TYPES, events_pb2),
    migrations=read_model.MIGRATIONS,
    projectors=(read_model.project,),
    # Store locations for ranking sources by distance.
    keeps_store_directory=True,
    runs_sagas=True,
    # Waiting customers' names and phones, sealed per customer (ForgetCustomer).
    holds_personal_data=True,
    application=collaboration,
    servicer=CollabServicer,
    add_servicer=collab_pb2_grpc.add_CollabServiceServicer_to_server,
    api=collab_pb2.DESCRIPTOR.services_by_name["CollabService"].full_name,
    timers=lambda collab: collab.runtime.timer_handlers(),
    subscriptions=lambda collab: [
        demand_subscription(collab),
        shortage_subscription(collab.revitalisation),
    ],
    background=lambda collab: [collab.dispatcher] if collab.dispatcher else [],
    sagas=lambda collab: [collab.runtime],
)

build = DEFINITION.build
