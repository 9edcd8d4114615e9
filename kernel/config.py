"""Process configuration from environment variables, with defaults for a local run."""

from __future__ import annotations

import os
from dataclasses import dataclass

RELAY_BATCH_SIZE = 1000
# The event loop a service process runs on (kernel.event_loop): uvloop (libuv) where it is
# installed, else asyncio's own.
EVENT_LOOPS = ("uvloop", "asyncio")
DEFAULT_EVENT_LOOP = "uvloop"


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default)


def event_loop_from_env() -> str:
    """STOREMESH_EVENT_LOOP, checked: a typo fails at start-up, not silently on asyncio."""
    return check_event_loop(_env("STOREMESH_EVENT_LOOP", DEFAULT_EVENT_LOOP).strip().lower())


def check_event_loop(name: str) -> str:
    if name not in EVENT_LOOPS:
        raise ValueError(f"STOREMESH_EVENT_LOOP={name!r}: must be one of {', '.join(EVENT_LOOPS)}")
    return name


@dataclass(frozen=True)
class Settings:
    service: str
    database_url: str
    nats_url: str = "nats://127.0.0.1:4222"
    nats_namespace: str = ""
    # NATS identity when the URL carries no user and password (kernel.messaging).
    nats_nkey_seed_file: str = ""
    nats_creds_file: str = ""
    grpc_address: str = "127.0.0.1:50051"
    # Processes serving grpc_address together (kernel.workers); each is a full replica.
    grpc_workers: int = 1
    # The process's event loop (kernel.event_loop): "uvloop" or "asyncio".
    event_loop: str = DEFAULT_EVENT_LOOP
    # Allocations between young-generation collections (kernel.gc_tuning); 0: Python's 700.
    gc_young_threshold: int = 50_000
    jwt_public_key_file: str = "var/keys/jwt-public.pem"
    tls_cert_file: str = ""
    tls_key_file: str = ""
    tls_client_ca_file: str = ""
    otel_exporter: str = "none"
    # Seconds between samples of the backlog gauges (kernel.gauges): the metrics' export
    # interval (OTEL_METRIC_EXPORT_INTERVAL, ms, the SDK's own setting), at most 15 s.
    gauge_interval_seconds: float = 15.0
    log_level: str = "info"
    shutdown_grace_seconds: float = 10.0
    # Events per relay pass when there is a backlog: a pass awaits its batch's acks and
    # then deletes it from the outbox, so fewer, larger passes wait less (nats-py keeps up
    # to 4,000 publishes unacknowledged).
    relay_batch_size: int = RELAY_BATCH_SIZE
    # After a commit wakes the relay, how long it lets further commits gather into the
    # batch (kernel.relay): longer means fewer, larger relay transactions, later events.
    relay_gather_ms: float = 5.0
    db_pool_size: int = 5
    # PostgreSQL: psycopg in autocommit mode, the kernel sending BEGIN with a transaction's
    # first statement and a command's COMMIT with its last (kernel.db); off: psycopg's own
    # BEGIN and COMMIT, each a round trip. Off by default: measured interleaved
    # (bench/ab_commands.md; again on psycopg-owned transactions, docs/profiles.md), the
    # fewer round trips saved no CPU.
    db_pipelined_begin: bool = False
    # The zone whose calendar days count for network-wide daily figures.
    business_time_zone: str = "Asia/Shanghai"
    # How far ahead planned support is booked (workforce; SOP 2).
    support_lead_time_hours: float = 72.0
    # Where collab reaches inventory, and the `service` role token it calls it with.
    inventory_address: str = "127.0.0.1:50051"
    service_token: str = ""
    # How long a source store has to answer a transfer request (collab; SOP 1).
    transfer_approval_minutes: float = 10.0
    # Where collab reaches workforce (SOP 2) and capacity (SOP 3), and analytics asks
    # capacity for a store's peer group (with service_token).
    workforce_address: str = "127.0.0.1:50052"
    capacity_address: str = "127.0.0.1:50053"
    # How long a lending store has to answer a support request (collab; SOP 2).
    support_approval_minutes: float = 60.0
    # How long a customer has to choose, and what HQ pays a diverted one (collab; SOP 3).
    diversion_offer_minutes: float = 15.0
    diversion_compensation_fen: int = 20_000
    diversion_transport_voucher_fen: int = 5_000

    def __post_init__(self) -> None:
        check_event_loop(self.event_loop)

    @classmethod
    def from_env(cls, service: str, default_port: int) -> Settings:
        return cls(
            service=service,
            database_url=_env("STOREMESH_DATABASE_URL", f"sqlite+aiosqlite:///var/{service}.db"),
            nats_url=_env("STOREMESH_NATS_URL", "nats://127.0.0.1:4222"),
            nats_namespace=_env("STOREMESH_NATS_NAMESPACE", ""),
            nats_nkey_seed_file=_env("STOREMESH_NATS_NKEY_SEED_FILE", ""),
            nats_creds_file=_env("STOREMESH_NATS_CREDS_FILE", ""),
            grpc_address=_env("STOREMESH_GRPC_ADDRESS", f"127.0.0.1:{default_port}"),
            grpc_workers=int(_env("STOREMESH_GRPC_WORKERS", "1")),
            event_loop=event_loop_from_env(),
            gc_young_threshold=int(_env("STOREMESH_GC_YOUNG_THRESHOLD", "50000")),
            jwt_public_key_file=_env("STOREMESH_JWT_PUBLIC_KEY_FILE", "var/keys/jwt-public.pem"),
            tls_cert_file=_env("STOREMESH_TLS_CERT_FILE", ""),
            tls_key_file=_env("STOREMESH_TLS_KEY_FILE", ""),
            tls_client_ca_file=_env("STOREMESH_TLS_CLIENT_CA_FILE", ""),
            otel_exporter=_env("STOREMESH_OTEL_EXPORTER", "none"),
            gauge_interval_seconds=sampling_interval(_env("OTEL_METRIC_EXPORT_INTERVAL", "")),
            log_level=_env("STOREMESH_LOG_LEVEL", "info"),
            shutdown_grace_seconds=float(_env("STOREMESH_SHUTDOWN_GRACE_SECONDS", "10")),
            relay_batch_size=int(_env("STOREMESH_RELAY_BATCH_SIZE", str(RELAY_BATCH_SIZE))),
            relay_gather_ms=float(_env("STOREMESH_RELAY_GATHER_MS", "5")),
            db_pool_size=int(_env("STOREMESH_DB_POOL_SIZE", "5")),
            db_pipelined_begin=_env("STOREMESH_DB_PIPELINED_BEGIN", "0") not in ("0", "false"),
            business_time_zone=_env("STOREMESH_BUSINESS_TIMEZONE", "Asia/Shanghai"),
            support_lead_time_hours=float(_env("STOREMESH_SUPPORT_LEAD_TIME_HOURS", "72")),
            inventory_address=_env("STOREMESH_INVENTORY_ADDRESS", "127.0.0.1:50051"),
            service_token=_env("STOREMESH_SERVICE_TOKEN", ""),
            transfer_approval_minutes=float(_env("STOREMESH_TRANSFER_APPROVAL_MINUTES", "10")),
            workforce_address=_env("STOREMESH_WORKFORCE_ADDRESS", "127.0.0.1:50052"),
            capacity_address=_env("STOREMESH_CAPACITY_ADDRESS", "127.0.0.1:50053"),
            support_approval_minutes=float(_env("STOREMESH_SUPPORT_APPROVAL_MINUTES", "60")),
            diversion_offer_minutes=float(_env("STOREMESH_DIVERSION_OFFER_MINUTES", "15")),
            diversion_compensation_fen=int(_env("STOREMESH_DIVERSION_COMPENSATION_FEN", "20000")),
            diversion_transport_voucher_fen=int(
                _env("STOREMESH_DIVERSION_TRANSPORT_VOUCHER_FEN", "5000")
            ),
        )


def sampling_interval(exported_ms: str) -> float:
    """Seconds between samples of the gauges (kernel.gauges), from the export interval's
    setting (OTEL_METRIC_EXPORT_INTERVAL, ms; unset or not a positive number: the SDK's
    default 60 s): at most 15 s, so an exported gauge is never much older than its export."""
    try:
        exported = float(exported_ms) / 1000
    except ValueError:
        exported = 60.0
    if not 0 < exported < float("inf"):  # NaN, zero or negative
        exported = 60.0
    return min(max(exported, 0.1), 15.0)
