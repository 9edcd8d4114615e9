"""Composition root of the collab service: the transfer saga, its dispatcher and timers,
inventory as its participant over gRPC, the demand subscription and the servicer."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

import grpc
from storemesh.collab.events.v1 import events_pb2
from storemesh.collab.v1 import collab_pb2, collab_pb2_grpc

from kernel import saga
from kernel.application import Application
from kernel.auth import TokenVerifier
from kernel.clock import Clock
from kernel.config import Settings
from kernel.events import EventRegistry
from kernel.grpc_server import Registrar
from kernel.saga import Participant, SagaDispatcher
from kernel.saga.runtime import COMPONENT as SAGA_COMPONENT
from kernel.service import Service, ServiceDefinition, assemble
from services.collab import read_model
from services.collab.application import Collab, build_runtime, demand_subscription
from services.collab.domain.events import EVENT_TYPES
from services.collab.domain.transfer import Deadlines
from services.collab.grpc_api import CollabServicer
from services.collab.inventory_client import INVENTORY_API, InventoryStock

PORT = 50054
INVENTORY_ADDRESS = "127.0.0.1:50051"

DEFINITION = ServiceDefinition(
    name="collab",
    default_port=PORT,
    registry=EventRegistry("collab", EVENT_TYPES, events_pb2),
    migrations=read_model.MIGRATIONS,
    projectors=(read_model.project,),
    # Store locations for ranking sources by distance.
    keeps_store_directory=True,
)


@dataclass(frozen=True)
class Partners:
    """How collab reaches inventory, and the service token it calls with."""

    inventory_address: str
    service_token: str
    approval_minutes: float

    @classmethod
    def from_env(cls) -> Partners:
        """STOREMESH_INVENTORY_ADDRESS, STOREMESH_SERVICE_TOKEN (a `service` role token),
        STOREMESH_TRANSFER_APPROVAL_MINUTES (10)."""
        return cls(
            os.environ.get("STOREMESH_INVENTORY_ADDRESS", INVENTORY_ADDRESS),
            os.environ.get("STOREMESH_SERVICE_TOKEN", ""),
            float(os.environ.get("STOREMESH_TRANSFER_APPROVAL_MINUTES", "10")),
        )


@dataclass
class Collaboration:
    """The collab process's parts tests and the admin reach for besides the host."""

    service: Service
    collab: Collab
    dispatcher: SagaDispatcher


async def build(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    verifier: TokenVerifier | None = None,
    timer_interval: float = 1.0,
    inventory: grpc.aio.Channel | None = None,
    service_token: str | None = None,
    deadlines: Deadlines | None = None,
    dispatch_interval: float = 0.5,
) -> Service:
    return (
        await build_collaboration(
            settings,
            clock=clock,
            verifier=verifier,
            timer_interval=timer_interval,
            inventory=inventory,
            service_token=service_token,
            deadlines=deadlines,
            dispatch_interval=dispatch_interval,
        )
    ).service


async def build_collaboration(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    verifier: TokenVerifier | None = None,
    timer_interval: float = 1.0,
    inventory: grpc.aio.Channel | None = None,
    service_token: str | None = None,
    deadlines: Deadlines | None = None,
    dispatch_interval: float = 0.5,
    saga_channel: grpc.aio.Channel | None = None,
) -> Collaboration:
    """`saga_channel` carries the saga's calls to inventory when they must go another way
    than the stock lookups (tests cut it to stage a crash between two steps)."""
    partners = Partners.from_env()
    token = partners.service_token if service_token is None else service_token
    channel = inventory or grpc.aio.insecure_channel(partners.inventory_address)
    deadlines = deadlines or Deadlines(approval=timedelta(minutes=partners.approval_minutes))
    runtime = build_runtime(deadlines)

    def credentials() -> Sequence[tuple[str, str]]:
        return (("authorization", f"Bearer {token}"),)

    stock = InventoryStock(channel, credentials)
    made: dict[str, Collab] = {}

    def collab_of(app: Application) -> Collab:
        if "collab" not in made:
            made["collab"] = Collab(app, runtime, stock, deadlines)
        return made["collab"]

    def register(app: Application) -> Registrar:
        def add(server: grpc.aio.Server) -> Sequence[str]:
            collab_pb2_grpc.add_CollabServiceServicer_to_server(
                CollabServicer(collab_of(app)), server
            )
            return [collab_pb2.DESCRIPTOR.services_by_name["CollabService"].full_name]

        return add

    service = await assemble(
        DEFINITION,
        settings,
        register=register,
        timer_handlers=lambda app: runtime.timer_handlers(),
        subscriptions=lambda app: [demand_subscription(collab_of(app))],
        clock=clock,
        verifier=verifier,
        timer_interval=timer_interval,
    )
    await service.db.migrate(SAGA_COMPONENT, saga.MIGRATIONS)
    dispatcher = SagaDispatcher(
        service.app,
        [runtime],
        [Participant("inventory", saga_channel or channel, INVENTORY_API, metadata=credentials)],
        interval=dispatch_interval,
    )
    relay = service.relay

    def committed() -> None:
        relay.wake()
        dispatcher.wake()

    service.app.notify_on_commit(committed)
    # The host runs each of these as a background loop `run(stop)` beside the relay and
    # timers; the kernel's assemble has no slot for other loops yet.
    service.host.subscriptions.append(dispatcher)  # type: ignore[arg-type]
    return Collaboration(service, collab_of(service.app), dispatcher)
