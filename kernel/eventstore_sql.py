"""The event store's statements, built once: building and cache-keying a statement per
call costs more CPU than the round trip it makes. SQLAlchemy constructs where SQLAlchemy
runs them; psycopg-style text where the statement goes straight to the driver."""

from __future__ import annotations

import functools

from sqlalchemy import and_, bindparam, select, text, update

from kernel.event_tables import events, outbox, snapshots, streams

CREATE_STREAM = text(
    "INSERT INTO streams (stream_id, version) VALUES (:stream_id, :version) "
    "ON CONFLICT (stream_id) DO NOTHING RETURNING version"
)
MOVE_VERSION = (
    update(streams)
    .where(
        and_(
            streams.c.stream_id == bindparam("b_stream"),
            streams.c.version == bindparam("b_expected"),
        )
    )
    .values(version=bindparam("b_new"))
)
STREAM_VERSIONS = select(streams.c.stream_id, streams.c.version).where(
    streams.c.stream_id.in_(bindparam("stream_ids", expanding=True))
)
STREAM_VERSION = select(streams.c.version).where(streams.c.stream_id == bindparam("stream_id"))
READ_STREAM = (
    select(events)
    .where(
        and_(
            events.c.stream_id == bindparam("stream_id"),
            events.c.stream_version > bindparam("after"),
        )
    )
    .order_by(events.c.stream_version)
)
LOAD_SNAPSHOT = select(snapshots.c.version, snapshots.c.state).where(
    snapshots.c.stream_id == bindparam("stream_id")
)
INSERT_EVENTS = events.insert().returning(events.c.position, events.c.tx_id)
QUEUE = outbox.insert()
UNPUBLISHED = (
    select(events)
    .join(outbox, outbox.c.position == events.c.position)
    .order_by(outbox.c.position)
    .limit(bindparam("limit"))
)
PUBLISHED = outbox.delete().where(outbox.c.position.in_(bindparam("positions", expanding=True)))
# The same two for psycopg; the columns in RecordedEvent's order, one statement (so one
# prepared plan) for any number of positions.
UNPUBLISHED_PG = (
    "SELECT e.position, e.tx_id, e.stream_id, e.stream_version, e.event_id, e.event_type, "
    "e.store_id, e.payload, e.metadata, e.recorded_at FROM events e "
    "JOIN outbox o ON o.position = e.position ORDER BY o.position LIMIT %(limit)s"
)
PUBLISHED_PG = "DELETE FROM outbox WHERE position = ANY(%(positions)s::bigint[])"


@functools.cache
def one_statement_append(count: int, new_stream: bool) -> str:
    """The version claim, the inserts of `count` events and their outbox rows as one
    statement (psycopg style).

    The claim is a CTE; when it claims nothing (a stale version, or a stream someone else
    created first) the insert selects no rows, which the caller reads as a conflict.
    """
    claim = (
        "INSERT INTO streams (stream_id, version) VALUES (%(stream_id)s, %(new)s) "
        "ON CONFLICT (stream_id) DO NOTHING RETURNING version"
        if new_stream
        else "UPDATE streams SET version = %(new)s "
        "WHERE stream_id = %(stream_id)s AND version = %(expected)s RETURNING version"
    )
    rows = ", ".join(
        f"(%(v{i})s::int, %(id{i})s::uuid, %(type{i})s::text, %(store{i})s::text, "
        f"%(payload{i})s::bytea, %(meta{i})s::json)"
        for i in range(count)
    )
    return (
        f"WITH claimed AS ({claim}), appended AS ("
        "INSERT INTO events (stream_id, stream_version, event_id, event_type, store_id, "
        "payload, metadata, recorded_at) "
        "SELECT %(stream_id)s, e.version, e.event_id, e.event_type, e.store_id, e.payload, "
        "e.metadata, %(recorded_at)s "
        f"FROM claimed, (VALUES {rows}) AS e(version, event_id, event_type, store_id, payload, "
        "metadata) ORDER BY e.version RETURNING position, tx_id), "
        "queued AS (INSERT INTO outbox (position) SELECT position FROM appended) "
        "SELECT position, tx_id FROM appended"
    )


# Every stream of the batch is moved (expected > 0) or created (expected = 0) in CTEs; the
# events are inserted only for streams claimed, in the order given (WITH ORDINALITY), so
# positions follow each stream's versions. Fewer rows back than events sent: a conflict.
APPEND_MANY = (
    "WITH input AS (SELECT * FROM unnest(%(streams)s::text[], %(expected)s::int[], "
    "%(new)s::int[]) AS i(stream_id, expected, new)), "
    "moved AS (UPDATE streams s SET version = i.new FROM input i "
    "WHERE i.expected > 0 AND s.stream_id = i.stream_id AND s.version = i.expected "
    "RETURNING s.stream_id), "
    "created AS (INSERT INTO streams (stream_id, version) "
    "SELECT stream_id, new FROM input WHERE expected = 0 "
    "ON CONFLICT (stream_id) DO NOTHING RETURNING stream_id), "
    "claimed AS (SELECT stream_id FROM moved UNION ALL SELECT stream_id FROM created), "
    "rows AS (SELECT * FROM unnest(%(stream)s::text[], %(version)s::int[], %(id)s::uuid[], "
    "%(type)s::text[], %(store)s::text[], %(payload)s::bytea[], %(meta)s::json[]) "
    "WITH ORDINALITY AS e(stream_id, version, event_id, event_type, store_id, payload, "
    "metadata, n)), "
    "appended AS (INSERT INTO events (stream_id, stream_version, event_id, event_type, "
    "store_id, payload, metadata, recorded_at) "
    "SELECT e.stream_id, e.version, e.event_id, e.event_type, e.store_id, e.payload, "
    "e.metadata, %(recorded_at)s FROM rows e JOIN claimed c ON c.stream_id = e.stream_id "
    "ORDER BY e.n RETURNING position, tx_id, event_id), "
    "queued AS (INSERT INTO outbox (position) SELECT position FROM appended) "
    "SELECT r.n - 1, a.position, a.tx_id FROM appended a JOIN rows r ON r.event_id = a.event_id "
    "ORDER BY r.n"
)


# Bounded: the shapes of a command's appends (which streams are new, how many events) vary
# more than the other statements' shapes.
@functools.lru_cache(maxsize=256)
def closing_appends(claims: tuple[bool, ...], events: int) -> tuple[str, ...]:
    """The appends of a command as CTEs of its closing statement (psycopg style): one claim
    per stream (`claims`: True where the stream is new), then the `events` rows and their
    outbox rows for the streams claimed. Parameters: `s{j}`, `s{j}e` (expected version),
    `s{j}n` (new version) per stream; per event `e{i}s` (stream), `e{i}v` (version),
    `e{i}id`, `e{i}t` (type), `e{i}st` (store), `e{i}p` (payload), `e{i}m` (metadata as JSON
    text) and `e{i}at` (recorded at), in each stream's version order.

    A stream not claimed (a stale version, or a new stream someone else created first) gets
    no events; `closing_select` then refuses the whole statement.
    """
    ctes = [
        f"c{j} AS (INSERT INTO streams (stream_id, version) VALUES (%(s{j})s, %(s{j}n)s) "
        "ON CONFLICT (stream_id) DO NOTHING RETURNING stream_id)"
        if new
        else f"c{j} AS (UPDATE streams SET version = %(s{j}n)s "
        f"WHERE stream_id = %(s{j})s AND version = %(s{j}e)s RETURNING stream_id)"
        for j, new in enumerate(claims)
    ]
    ctes.append(
        "claimed AS ("
        + " UNION ALL ".join(f"SELECT stream_id FROM c{j}" for j in range(len(claims)))
        + ")"
    )
    rows = ", ".join(
        f"({i}, %(e{i}s)s::text, %(e{i}v)s::int, %(e{i}id)s::uuid, %(e{i}t)s::text, "
        f"%(e{i}st)s::text, %(e{i}p)s::bytea, %(e{i}m)s::json, %(e{i}at)s::timestamptz)"
        for i in range(events)
    )
    ctes.append(
        f"rows (n, stream_id, version, event_id, event_type, store_id, payload, metadata, "
        f"recorded_at) AS (VALUES {rows})"
    )
    ctes.append(
        "appended AS (INSERT INTO events (stream_id, stream_version, event_id, event_type, "
        "store_id, payload, metadata, recorded_at) SELECT e.stream_id, e.version, e.event_id, "
        "e.event_type, e.store_id, e.payload, e.metadata, e.recorded_at FROM rows e "
        "WHERE e.stream_id IN (SELECT stream_id FROM claimed) ORDER BY e.n "
        "RETURNING position, tx_id, event_id)"
    )
    ctes.append("queued AS (INSERT INTO outbox (position) SELECT position FROM appended)")
    return tuple(ctes)


@functools.cache
def closing_select(streams: int, unguarded: int) -> str:
    """The closing statement's one row: the guard (which raises, undoing the whole statement,
    when a stream was not claimed or one of the `unguarded` streams, read from a cache and
    not appended to, moved on: parameters `u{k}`, `u{k}v`), the transaction id and the
    events' positions in the order given."""
    fresh = "true"
    if unguarded:
        pairs = ", ".join(f"(%(u{k})s::text, %(u{k}v)s::int)" for k in range(unguarded))
        fresh = (
            f"NOT EXISTS (SELECT 1 FROM (VALUES {pairs}) AS u(stream_id, version) "
            "LEFT JOIN streams s ON s.stream_id = u.stream_id "
            "WHERE coalesce(s.version, 0) <> u.version)"
        )
    return (
        f"SELECT storemesh_close_guard((SELECT count(*) FROM claimed), {streams}, {fresh}), "
        "(SELECT max(tx_id) FROM appended), "
        "ARRAY(SELECT a.position FROM appended a JOIN rows r ON r.event_id = a.event_id "
        "ORDER BY r.n)"
    )
