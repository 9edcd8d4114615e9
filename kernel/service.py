"""Assembling a service process from its parts: the one place plumbing is wired."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from kernel import personal_data, store_directory
from kernel.application import Application, Projector
from kernel.auth import TokenVerifier
from kernel.clock import Clock, SystemClock
from kernel.config import Settings
from kernel.db import Database, Migration
from kernel.events import EventRegistry
from kernel.eventstore import KERNEL_MIGRATIONS
from kernel.gauges import GaugeSampler
from kernel.grpc_server import BackgroundLoop, Registrar, ServiceHost
from kernel.messaging import NatsConnection
from kernel.metrics import configure_metrics
from kernel.relay import Relay
from kernel.saga import runtime as saga_runtime
from kernel.saga.runtime import SagaRuntime
from kernel.subscriptions import Subscription, SubscriptionRunner, consumers_of, unconsumed
from kernel.telemetry import configure_logging, configure_tracing
from kernel.timers import TimerHandler, TimerRunner


@dataclass(kw_only=True)
class ServiceDefinition:
    """What makes a service itself; everything else is the kernel's."""

    name: str
    default_port: int
    registry: EventRegistry
    migrations: Sequence[Migration]
    projectors: Sequence[Projector] = ()
    # Its commands' appends go in their closing statement (Application's
    # `appends_at_close`): off where a projector reads a recorded event's position or
    # tx_id, or a handler reads back from the event store what it recorded.
    appends_at_close: bool = True
    # Keep a local copy of capacity's store directory (table + subscription), and from
    # the first store it holds on, refuse unknown store codes.
    keeps_store_directory: bool = False
    # Runs sagas (kernel.saga): migrate the saga call outbox beside the service's tables.
    runs_sagas: bool = False
    # Seals customers' personal data in its events (kernel.personal_data): the key table.
    holds_personal_data: bool = False
    # The service's command side over the kernel's Application, built once per process
    # and shared by its servicer, timers and subscriptions.
    application: Callable[[Application, Settings], Any]
    # The gRPC servicer over that object, how to add it to a server, the API's full name.
    servicer: Callable[[Any], Any]
    add_servicer: Callable[[Any, grpc.aio.Server], None]
    api: str
    timers: Callable[[Any], Mapping[str, TimerHandler]] = lambda service: {}
    subscriptions: Callable[[Any], Sequence[Subscription]] = lambda service: ()
    # Loops of the service's own the host runs and stops with the relay and timers, each
    # woken after every commit (e.g. the saga dispatcher).
    background: Callable[[Any], Sequence[BackgroundLoop]] = lambda service: ()
    # The saga runtimes the service runs, for the operator's command line
    # (kernel/saga/admin.py: list, history, retry, cancel).
    sagas: Callable[[Any], Sequence[SagaRuntime[Any]]] = lambda service: ()

    def command_side(self, db: Database, clock: Clock | None, settings: Settings) -> Application:
        """The kernel's Application over `db` for this service (its registry, projectors
        and way of appending): the service's, its rebuild's and its admin commands' alike."""
        return Application(
            db,
            self.registry,
            clock or SystemClock(settings.business_time_zone),
            self.projectors,
            appends_at_close=self.appends_at_close,
        )

    async def build(
        self,
        settings: Settings | None = None,
        *,
        clock: Clock | None = None,
        verifier: TokenVerifier | None = None,
        timer_interval: float = 1.0,
    ) -> Service:
        return await assemble(
            self, settings, clock=clock, verifier=verifier, timer_interval=timer_interval
        )


@dataclass
class Service:
    settings: Settings
    db: Database
    nats: NatsConnection
    app: Application
    relay: Relay
    timers: TimerRunner
    host: ServiceHost
    # The service's own object (Inventory, Collab, ...) its servicer, timers and
    # subscriptions share: built once, reachable here for tests and tools.
    application: Any = None


async def assemble(
    definition: ServiceDefinition,
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    verifier: TokenVerifier | None = None,
    timer_interval: float = 1.0,
) -> Service:
    settings = settings or Settings.from_env(definition.name, definition.default_port)
    configure_logging(settings.service, settings.log_level)
    configure_tracing(settings.service, settings.otel_exporter)
    configure_metrics(settings.service, settings.otel_exporter)
    db = Database(
        settings.database_url,
        pool_size=settings.db_pool_size,
        pipelined_begin=settings.db_pipelined_begin,
    )
    await db.migrate("kernel", KERNEL_MIGRATIONS)
    if definition.keeps_store_directory:
        await db.migrate(store_directory.COMPONENT, store_directory.MIGRATIONS)
    if definition.runs_sagas:
        await db.migrate(saga_runtime.COMPONENT, saga_runtime.MIGRATIONS)
    if definition.holds_personal_data:
        await db.migrate(personal_data.COMPONENT, personal_data.MIGRATIONS)
    await db.migrate(definition.name, definition.migrations)
    nats = NatsConnection(
        settings.nats_url,
        name=settings.service,
        namespace=settings.nats_namespace,
        nkey_seed_file=settings.nats_nkey_seed_file,
        creds_file=settings.nats_creds_file,
    )
    app = definition.command_side(db, clock, settings)
    relay = Relay(
        db,
        nats,
        definition.registry,
        batch_size=settings.relay_batch_size,
        gather_delay=settings.relay_gather_ms / 1000,
    )
    app.notify_on_commit(relay.wake)
    service = definition.application(app, settings)
    timers = TimerRunner(app, dict(definition.timers(service)), interval=timer_interval)
    runners = [
        SubscriptionRunner(app, nats, sub, service=definition.name)
        for sub in definition.subscriptions(service)
    ]
    if definition.keeps_store_directory:
        runners.append(store_directory.DirectoryRunner(app, nats, service=definition.name))
    background = list(definition.background(service))
    for loop in background:
        app.notify_on_commit(loop.wake)
    app.unconsumed = functools.partial(unconsumed, nats, consumers_of(runners))
    gauges = GaugeSampler(
        db,
        nats,
        app.clock,
        service=definition.name,
        followed=runners,
        interval=settings.gauge_interval_seconds,
    )
    if verifier is None and Path(settings.jwt_public_key_file).exists():  # noqa: ASYNC240
        verifier = TokenVerifier.from_file(settings.jwt_public_key_file)
    host = ServiceHost(
        settings,
        db,
        nats,
        _registrar(definition, definition.servicer(service)),
        relay=relay,
        timers=timers,
        subscriptions=runners,
        background=[*background, gauges],
        verifier=verifier,
    )
    return Service(settings, db, nats, app, relay, timers, host, service)


def _registrar(definition: ServiceDefinition, servicer: Any) -> Registrar:
    def register(server: grpc.aio.Server) -> Sequence[str]:
        definition.add_servicer(servicer, server)
        return [definition.api]

    return register
