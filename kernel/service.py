"""Assembling a service process from its parts: the one place plumbing is wired."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

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
    extra_streams: Sequence[str] = field(default_factory=tuple)
    # Tables of shared kernel pieces the service keeps too (e.g. the store directory),
    # each migrated under its own component name: (component, migrations).
    shared_migrations: Sequence[tuple[str, Sequence[Migration]]] = ()


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
    settings: Settings,
    *,
    register: Callable[[Application], Registrar],
    timer_handlers: Callable[[Application], dict[str, TimerHandler]] = lambda app: {},
    subscriptions: Callable[[Application], Sequence[Subscription]] = lambda app: (),
    clock: Clock | None = None,
    verifier: TokenVerifier | None = None,
    timer_interval: float = 1.0,
) -> Service:
    configure_logging(settings.service, settings.log_level)
    configure_tracing(settings.service, settings.otel_exporter)
    db = Database(settings.database_url)
    await db.migrate("kernel", KERNEL_MIGRATIONS)
    for component, migrations in definition.shared_migrations:
        await db.migrate(component, migrations)
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
