"""Composition root of the collab service: the transfer, support and diversion sagas, one
dispatcher and their timers, inventory, workforce and capacity as participants over gRPC,
the demand, shortage, pilot and diversion-trigger subscriptions and the servicer."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import grpc
from storemesh.collab.events.v1 import events_pb2
from storemesh.collab.v1 import collab_pb2, collab_pb2_grpc

from kernel.application import Application
from kernel.config import Settings
from kernel.events import EventRegistry
from kernel.peer_client import service_credentials
from kernel.saga import Participant, SagaDispatcher
from kernel.service import ServiceDefinition
from services.collab import read_model, read_model_sops
from services.collab.application import Collab, build_runtime, demand_subscription
from services.collab.application_diversion import (
    Diversions,
    build_diversion_runtime,
    capacity_subscription,
)
from services.collab.application_support import Supports, build_support_runtime
from services.collab.capacity_client import CAPACITY_API, CapacityNearby
from services.collab.customers import PERSONAL_FIELDS
from services.collab.domain import diversion as sop3
from services.collab.domain import support as sop2
from services.collab.domain.diversion_events import DIVERSION_EVENT_TYPES
from services.collab.domain.events import EVENT_TYPES, TransferRequested
from services.collab.domain.support_events import SUPPORT_EVENT_TYPES
from services.collab.domain.transfer import Deadlines
from services.collab.grpc_api import CollabServicer
from services.collab.inventory_client import INVENTORY_API, InventoryStock
from services.collab.pilot import MIGRATIONS as PILOT_MIGRATIONS
from services.collab.pilot import pilot_subscription
from services.collab.revitalisation import shortage_subscription
from services.collab.workforce_client import WORKFORCE_API, WorkforceMatching

PORT = 50054
DISPATCH_INTERVAL_SECONDS = 0.5


def collaboration(
    app: Application,
    settings: Settings,
    *,
    inventory: grpc.aio.Channel | None = None,
    saga_channel: grpc.aio.Channel | None = None,
    deadlines: Deadlines | None = None,
    workforce: grpc.aio.Channel | None = None,
    capacity: grpc.aio.Channel | None = None,
    support_deadlines: sop2.Deadlines | None = None,
    diversion_deadlines: sop3.Deadlines | None = None,
) -> Collab:
    """Collab over inventory, workforce and capacity at their settings' addresses, calling
    with the service token. Tests pass their own channels: `saga_channel` carries every
    saga's calls when they must go another way than the lookups (cut, to stage a crash
    between two steps, or nowhere, so a fuzzed request's saga never acts)."""
    channel = inventory or grpc.aio.insecure_channel(settings.inventory_address)
    deadlines = deadlines or Deadlines(
        approval=timedelta(minutes=settings.transfer_approval_minutes)
    )
    credentials = service_credentials(settings.service_token)

    workforce = workforce or grpc.aio.insecure_channel(settings.workforce_address)
    capacity = capacity or grpc.aio.insecure_channel(settings.capacity_address)
    support_deadlines = support_deadlines or sop2.Deadlines(
        approval=timedelta(minutes=settings.support_approval_minutes)
    )
    diversion_deadlines = diversion_deadlines or sop3.Deadlines(
        offer=timedelta(minutes=settings.diversion_offer_minutes)
    )
    terms = sop3.Terms(
        settings.diversion_compensation_fen, settings.diversion_transport_voucher_fen
    )

    runtime = build_runtime(deadlines)
    support_runtime = build_support_runtime(support_deadlines)
    diversion_runtime = build_diversion_runtime(diversion_deadlines)
    dispatcher = SagaDispatcher(
        app,
        [runtime, support_runtime, diversion_runtime],
        [
            Participant("inventory", saga_channel or channel, INVENTORY_API, metadata=credentials),
            Participant(
                sop2.WORKFORCE, saga_channel or workforce, WORKFORCE_API, metadata=credentials
            ),
            Participant(
                sop3.CAPACITY, saga_channel or capacity, CAPACITY_API, metadata=credentials
            ),
        ],
        interval=DISPATCH_INTERVAL_SECONDS,
    )
    supports = Supports(
        app,
        support_runtime,
        WorkforceMatching(workforce, credentials),
        support_deadlines,
        timedelta(hours=settings.support_lead_time_hours),
    )
    diversions = Diversions(
        app, diversion_runtime, CapacityNearby(capacity, credentials), diversion_deadlines, terms
    )
    return Collab(
        app,
        runtime,
        InventoryStock(channel, credentials),
        deadlines,
        dispatcher,
        supports=supports,
        diversions=diversions,
    )


def _timers(collab: Collab) -> dict[str, Any]:
    handlers = dict(collab.runtime.timer_handlers())
    for sop in (collab.supports, collab.diversions):
        if sop is not None:
            handlers.update(sop.runtime.timer_handlers())
    return handlers


def _subscriptions(collab: Collab) -> list[Any]:
    found = [
        demand_subscription(collab),
        shortage_subscription(collab.revitalisation),
        pilot_subscription(),
    ]
    if collab.diversions is not None:
        found.append(capacity_subscription(collab.diversions))
    return found


DEFINITION = ServiceDefinition(
    name="collab",
    default_port=PORT,
    registry=EventRegistry(
        "collab",
        EVENT_TYPES + SUPPORT_EVENT_TYPES + DIVERSION_EVENT_TYPES,
        events_pb2,
        # Kept sealed in the event store, never published: partners get customer_ref only.
        private_fields={TransferRequested: PERSONAL_FIELDS},
    ),
    migrations=read_model.MIGRATIONS + read_model_sops.MIGRATIONS + PILOT_MIGRATIONS,
    projectors=(read_model.project, read_model_sops.project),
    # Store locations for ranking sources by distance.
    keeps_store_directory=True,
    runs_sagas=True,
    # Waiting customers' names and phones, sealed per customer (ForgetCustomer).
    holds_personal_data=True,
    application=collaboration,
    servicer=CollabServicer,
    add_servicer=collab_pb2_grpc.add_CollabServiceServicer_to_server,
    api=collab_pb2.DESCRIPTOR.services_by_name["CollabService"].full_name,
    timers=_timers,
    subscriptions=_subscriptions,
    background=lambda collab: [collab.dispatcher] if collab.dispatcher else [],
    sagas=lambda collab: [
        collab.runtime,
        *(sop.runtime for sop in (collab.supports, collab.diversions) if sop is not None),
    ],
)

build = DEFINITION.build
