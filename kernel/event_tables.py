"""The kernel's tables (event store, outbox, snapshots, command log, inbox, checkpoints,
timers) and the migrations that create them."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Connection,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    Uuid,
    text,
)

from kernel.db import Migration, UtcDateTime

metadata = MetaData()

_Position = BigInteger().with_variant(Integer(), "sqlite")

events = Table(
    "events",
    metadata,
    Column("position", _Position, primary_key=True, autoincrement=True),
    Column("tx_id", BigInteger, nullable=False),
    Column("stream_id", String(200), nullable=False),
    Column("stream_version", Integer, nullable=False),
    Column("event_id", Uuid, nullable=False, unique=True),
    Column("event_type", String(200), nullable=False),
    Column("store_id", String(32), nullable=False),
    Column("payload", LargeBinary, nullable=False),
    Column("metadata", JSON, nullable=False),
    Column("recorded_at", UtcDateTime(timezone=True), nullable=False),
    Index("ix_events_stream", "stream_id", "stream_version", unique=True),
)

# Positions of committed events the relay has not published yet (deleted once it has).
outbox = Table(
    "outbox",
    metadata,
    Column("position", _Position, primary_key=True, autoincrement=False),
)

streams = Table(
    "streams",
    metadata,
    Column("stream_id", String(200), primary_key=True),
    Column("version", Integer, nullable=False),
)

snapshots = Table(
    "snapshots",
    metadata,
    Column("stream_id", String(200), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("state", JSON, nullable=False),
)

command_log = Table(
    "command_log",
    metadata,
    Column("request_id", String(200), primary_key=True),
    Column("command_type", String(200), nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("result", JSON, nullable=False),
    Column("recorded_at", UtcDateTime(timezone=True), nullable=False),
)

inbox = Table(
    "inbox",
    metadata,
    Column("subscription", String(200), primary_key=True),
    Column("event_id", String(64), primary_key=True),
    Column("processed_at", UtcDateTime(timezone=True), nullable=False),
)

checkpoints = Table(
    "checkpoints",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("tx_id", BigInteger, nullable=False),
    Column("position", BigInteger, nullable=False),
    Column("updated_at", UtcDateTime(timezone=True), nullable=True),
)

timers = Table(
    "timers",
    metadata,
    Column("timer_id", String(200), primary_key=True),
    Column("kind", String(100), nullable=False),
    Column("due_at", UtcDateTime(timezone=True), nullable=False, index=True),
    Column("payload", JSON, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text, nullable=True),
)


def _create_kernel_tables(conn: Connection) -> None:
    metadata.create_all(conn)
    if conn.dialect.name == "postgresql":
        conn.execute(
            text(
                "ALTER TABLE events ALTER COLUMN tx_id "
                "SET DEFAULT (pg_current_xact_id()::text::bigint)"
            )
        )


def _add_outbox(conn: Connection) -> None:
    """Queue what the relay's (tx_id, position) checkpoint had not reached yet.

    That checkpoint only ever passed events of transactions that had ended, so everything
    at or before it in (tx_id, position) order is on JetStream already. Events appended by
    a replica still running the old code after this step get no outbox row: stop the old
    replicas before starting the new ones.
    """
    outbox.create(conn, checkfirst=True)
    conn.execute(
        text(
            "INSERT INTO outbox (position) SELECT e.position FROM events e "
            "WHERE NOT EXISTS (SELECT 1 FROM checkpoints c WHERE c.name = 'relay' "
            "AND (e.tx_id < c.tx_id OR (e.tx_id = c.tx_id AND e.position <= c.position))) "
            "AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.position = e.position)"
        )
    )
    conn.execute(text("DROP INDEX IF EXISTS ix_events_global"))


# The guard of a command's closing statement (kernel.command_writes). Raising undoes every
# part of the statement; the hint tells the application which retry it is.
CLOSE_GUARD_HINT_CONFLICT = "storemesh:conflict"
CLOSE_GUARD_HINT_STALE = "storemesh:stale"
CREATE_CLOSE_GUARD = (
    "CREATE OR REPLACE FUNCTION storemesh_close_guard(claimed bigint, wanted bigint, "
    "fresh boolean) RETURNS boolean LANGUAGE plpgsql AS $$ BEGIN "
    "IF claimed <> wanted THEN RAISE EXCEPTION "
    "'another transaction appended to a stream of this command first' "
    f"USING ERRCODE = 'serialization_failure', HINT = '{CLOSE_GUARD_HINT_CONFLICT}'; END IF; "
    "IF NOT fresh THEN RAISE EXCEPTION "
    "'a stream this command read from the cache has moved on' "
    f"USING ERRCODE = 'serialization_failure', HINT = '{CLOSE_GUARD_HINT_STALE}'; END IF; "
    "RETURN true; END $$"
)


def _add_close_guard(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(CREATE_CLOSE_GUARD)


KERNEL_MIGRATIONS = (
    Migration(1, "event store, command log, inbox, checkpoints, timers", _create_kernel_tables),
    Migration(2, "outbox of unpublished events", _add_outbox),
    Migration(3, "the guard of a command's closing statement", _add_close_guard),
)
