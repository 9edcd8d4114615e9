"""Assembling a service process from its parts: the one place plumbing is wired."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from kernel import store_directory
from kernel.application import Application, Projector
from kernel.auth import TokenVerifier
from kernel.clock import Clock, SystemClock
from kernel.config import Settings
from kernel.db import Database, Migration
from kernel.events import EventRegistry
from kernel.eventstore import KERNEL_MIGRATIONS
from kernel.grpc_server import Registrar, ServiceHost
from kernel.messaging import NatsConnection
from kernel.relay import Relay
from kernel.subscriptions import Subscription, SubscriptionRunner
from kernel.telemetry import configure_logging, configure_tracing
from kernel.timers import TimerHandler, TimerRunner


@dataclass
class ServiceDefinition:
    """What makes a service itself; everything else is the kernel's."""

    name: str
    default_port: int
    registry: EventRegistry
    migrations: Sequence[Migration]
    projectors: Sequence[Projector] = ()
    # Keep a local copy of capacity's store directory (table + subscription), and from
    # the first store it holds on, refuse unknown store codes.
    keeps_store_directory: bool = False


@dataclass
class Service:
    settings: Settings
    db: Database
    nats: NatsConnection
    app: Application
    relay: Relay
    timers: TimerRunner
    host: ServiceHost


async def assemble(
    definition: ServiceDefinition,
    settings: Settings | None = None,
    *,
    register: Callable[[Application], Registrar],
    timer_handlers: Callable[[Application], dict[str, TimerHandler]] = lambda app: {},
    subscriptions: Callable[[Application], Sequence[Subscription]] = lambda app: (),
    clock: Clock | None = None,
    verifier: TokenVerifier | None = None,
    timer_interval: float = 1.0,
) -> Service:
    settings = settings or Settings.from_env(definition.name, definition.default_port)
    configure_logging(settings.service, settings.log_level)
    configure_tracing(settings.service, settings.otel_exporter)
    db = Database(settings.database_url, pool_size=settings.db_pool_size)
    await db.migrate("kernel", KERNEL_MIGRATIONS)
    if definition.keeps_store_directory:
        await db.migrate(store_directory.COMPONENT, store_directory.MIGRATIONS)
    await db.migrate(definition.name, definition.migrations)
    nats = NatsConnection(
        settings.nats_url, name=settings.service, namespace=settings.nats_namespace
    )
    app = Application(db, definition.registry, clock or SystemClock(), definition.projectors)
    relay = Relay(db, nats, definition.registry, batch_size=settings.relay_batch_size)
    app.notify_on_commit(relay.wake)
    timers = TimerRunner(app, timer_handlers(app), interval=timer_interval)
    runners = [
        SubscriptionRunner(app, nats, sub, service=definition.name) for sub in subscriptions(app)
    ]
    if definition.keeps_store_directory:
        runners.append(store_directory.DirectoryRunner(app, nats, service=definition.name))
    if verifier is None and Path(settings.jwt_public_key_file).exists():  # noqa: ASYNC240
        verifier = TokenVerifier.from_file(settings.jwt_public_key_file)
    host = ServiceHost(
        settings,
        db,
        nats,
        register(app),
        relay=relay,
        timers=timers,
        subscriptions=runners,
        verifier=verifier,
    )
    return Service(settings, db, nats, app, relay, timers, host)
