"""Inventory's command side: load the position, decide, record, reply.

Each end of a transfer reacts to the other's events in the same transaction (TRANSFERS);
a reservation arms its expiry timer and releasing or shipping it disarms the timer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncConnection

from kernel import bulk_append
from kernel.application import Aggregate, Application, Executed, Loaded, Policy, UnitOfWork
from kernel.bulk_append import StreamWrite
from kernel.errors import AlreadyExists, NotFound
from kernel.eventstore import command_log
from kernel.load_many import load_many
from kernel.store_directory import require_open_store
from services.inventory import read_model
from services.inventory.domain import counts
from services.inventory.domain.catalogue import Part, RegisterPart, UpdatePart, catalogue
from services.inventory.domain.commands import (
    ExpireReservation,
    ReceiveTransfer,
    ReleaseReservation,
    ReportShipmentLost,
    RequestParts,
    ReserveStock,
    ShipTransfer,
)
from services.inventory.domain.counts import CountedBatch, CountResult, SyncStockCounts
from services.inventory.domain.events import (
    PartsIssued,
    ReservationExpired,
    ReservationReleased,
    ShipmentLost,
    ShortageRecorded,
    TransferReceived,
    TransferShipped,
)
from services.inventory.domain.stock import StockPosition, stock
from services.inventory.domain.transfers import (
    confirm_to_source,
    expect_at_destination,
    lost_on_the_way,
)
from services.inventory.read_model import PartView, PositionView
from services.inventory.stale_close import StaleStockClose

PARTS = Aggregate("part", catalogue, Part, store_of=lambda e: e.store_id)
POSITIONS = Aggregate(
    "stock", stock, StockPosition, store_of=lambda e: e.store_id, snapshot_every=20
)
EXPIRE_RESERVATION = "inventory.expire_reservation"
# Positions per transaction of a SyncStockCounts as an earlier version ran it (a batch is
# one transaction now); kept to finish such a batch on retry (Inventory.sync_counts).
SYNC_CHUNK = 500

# What a closed store still does: close out what was under way at it when it closed. The
# transfer saga undoes a reservation and a shipment with the first two (a refusal would
# leave it stuck), and a part already on its way to the store arrives there.
CLOSING_OUT = (ReleaseReservation, ReportShipmentLost, ReceiveTransfer)

R = TypeVar("R")
# What a handler does once the position has decided and recorded (schedule, disarm).
Then = Callable[[UnitOfWork], Awaitable[None]]


@dataclass(frozen=True)
class CountedChunk:
    """What one transaction of a SyncStockCounts did: its stored, replayable result."""

    results: tuple[CountResult, ...]


@dataclass(frozen=True)
class RequestOutcome:
    issued: bool
    shortage_quantity: int
    position: PositionView


def _stream(command: Any) -> str:
    return POSITIONS.stream_id(command.store_id, command.part_number)


def _position_view(done: Executed[StockPosition]) -> PositionView:
    return PositionView.of(done.state)


TRANSFERS = (
    Policy(TransferShipped, POSITIONS, expect_at_destination, _stream),
    Policy(TransferReceived, POSITIONS, confirm_to_source, _stream),
    Policy(ShipmentLost, POSITIONS, lost_on_the_way, _stream),
)


class Inventory:
    def __init__(self, app: Application) -> None:
        self.app = app
        app.add_policies(*TRANSFERS)
        # Parts are never removed from the catalogue, so a part seen once stays known.
        self.known_parts: set[str] = set()
        # The daily StaleStockValued of every store (stale_close.py).
        self.stale_close = StaleStockClose(app)

    # Catalogue

    async def register_part(self, command: RegisterPart, request_id: str) -> PartView:
        return await self._on_part(command, request_id)

    async def update_part(self, command: UpdatePart, request_id: str) -> PartView:
        return await self._on_part(command, request_id)

    # Stock movements

    async def move(self, command: Any, request_id: str) -> PositionView:
        """Receive, return, adjust, receive a transfer, report one lost: decide and reply."""
        return await self._on_position(command, request_id)

    async def request_parts(self, command: RequestParts, request_id: str) -> RequestOutcome:
        return await self._on_position(command, request_id, _outcome(command), RequestOutcome)

    async def reserve(self, command: ReserveStock, request_id: str) -> PositionView:
        return await self._on_position(command, request_id, then=_arm(command))

    async def release(self, command: ReleaseReservation, request_id: str) -> PositionView:
        return await self._on_position(command, request_id, then=_disarm(command))

    async def ship_transfer(self, command: ShipTransfer, request_id: str) -> PositionView:
        """The destination must be an open store; it learns of the shipment (TRANSFERS)."""
        destination = command.destination_store_id
        return await self._on_position(
            command, request_id, then=_disarm(command), destination=destination
        )

    async def sync_counts(self, command: SyncStockCounts, request_id: str) -> list[CountResult]:
        """A store's whole count in one transaction and one command-log row: every position
        loaded in two queries, decided in memory, its events COPYed in one statement and the
        positions' rows written in another. A retried batch answers its first reply.

        A batch that an earlier version of this service ran in chunks of SYNC_CHUNK, one
        request id `<request_id>/<k>` each, and that stopped half way, is finished the same
        way on retry: the chunks done replay, the rest run."""
        counts.validate(command, self.app.clock.now())
        try:
            done = await self.app.handle(
                command.keyed(),
                self._count(command, request_id),
                request_id=request_id,
                result_type=CountedBatch,
            )
        except _ChunkedBefore:
            return await self._sync_in_chunks(command, request_id)
        return done.results()

    async def _sync_in_chunks(self, command: SyncStockCounts, request_id: str) -> list[CountResult]:
        results: list[CountResult] = []
        for index, chunk in enumerate(command.chunks(SYNC_CHUNK)):
            done = await self.app.handle(
                counts.as_chunked_before(chunk),
                self._count_chunk(chunk),
                request_id=f"{request_id}/{index}",
                result_type=CountedChunk,
            )
            results.extend(done.results)
        return results

    def _count(
        self, command: SyncStockCounts, request_id: str
    ) -> Callable[[UnitOfWork], Awaitable[CountedBatch]]:
        count_all = self._count_chunk(command)

        async def handler(uow: UnitOfWork) -> CountedBatch:
            if request_id:
                logged = await _logged_as(uow.conn, request_id)
                if request_id in logged:
                    # A retry: Application.handle answers the logged reply (or refuses a
                    # request id reused for other counts) without deciding anything again.
                    raise AlreadyExists("request", request_id)
                if logged:
                    raise _ChunkedBefore(request_id)
            return CountedBatch.of((await count_all(uow)).results)

        return handler

    def _count_chunk(
        self, chunk: SyncStockCounts
    ) -> Callable[[UnitOfWork], Awaitable[CountedChunk]]:
        async def handler(uow: UnitOfWork) -> CountedChunk:
            await require_open_store(uow.conn, chunk.store_id, "store_id")
            numbers = [line.part_number for line in chunk.counts]
            known = await self._known_parts(uow.conn, numbers)
            loaded = await load_many(
                uow, POSITIONS, [POSITIONS.stream_id(chunk.store_id, n) for n in known]
            )
            if bulk_append.available(uow):
                return await record_counts(uow, chunk, known, loaded)
            # One append statement for the chunk's positions, then one upsert of their rows.
            async with read_model.positions_written_at_end(uow), uow.appends_batched():
                return await record_counts(uow, chunk, known, loaded)

        return handler

    async def _known_parts(self, conn: AsyncConnection, numbers: list[str]) -> set[str]:
        unseen = [n for n in numbers if n not in self.known_parts]
        if unseen:
            self.known_parts.update(await read_model.known_parts(conn, unseen))
        return {n for n in numbers if n in self.known_parts}

    async def expire_reservation(self, uow: UnitOfWork, payload: dict[str, str]) -> None:
        """The durable timer of a reservation fired."""
        command = ExpireReservation(
            payload["store_id"], payload["part_number"], payload["reservation_id"], uow.clock.now()
        )
        await uow.execute(POSITIONS, _stream(command), command)

    # Load, decide, record in one transaction, once per request id

    async def _on_part(self, command: RegisterPart | UpdatePart, request_id: str) -> PartView:
        async def handler(uow: UnitOfWork) -> PartView:
            done = await uow.execute(PARTS, PARTS.stream_id(command.part_number), command)
            return _part_view(done.state)

        return await self.app.handle(command, handler, request_id=request_id, result_type=PartView)

    async def _on_position(
        self,
        command: Any,
        request_id: str,
        reply: Callable[[Executed[StockPosition]], R] = _position_view,  # type: ignore[assignment]
        result_type: type[R] = PositionView,  # type: ignore[assignment]
        *,
        then: Then | None = None,
        destination: str = "",
    ) -> R:
        async def handler(uow: UnitOfWork) -> R:
            if destination:
                await self._check(
                    uow.conn, destination, command.part_number, "destination_store_id"
                )
            await self._check(
                uow.conn,
                command.store_id,
                command.part_number,
                "store_id",
                closing_out=isinstance(command, CLOSING_OUT),
            )
            done = await uow.execute(POSITIONS, _stream(command), command)
            if then is not None:
                await then(uow)
            if len(done.events) > 1:
                await _disarm_ended(uow, done.events)
            return reply(done)

        return await self.app.handle(
            command, handler, request_id=request_id, result_type=result_type
        )

    async def _check(
        self,
        conn: AsyncConnection,
        store_id: str,
        part_number: str,
        field: str,
        *,
        closing_out: bool = False,
    ) -> None:
        """The part is known and the store open (known, when `closing_out`)."""
        if part_number not in self.known_parts:
            if await read_model.get_part(conn, part_number) is None:
                raise NotFound("part", part_number)
            self.known_parts.add(part_number)
        await require_open_store(conn, store_id, field, closed_ok=closing_out)


async def record_counts(
    uow: UnitOfWork,
    chunk: SyncStockCounts,
    known: set[str],
    loaded: dict[str, Loaded[StockPosition]],
) -> CountedChunk:
    """Decide every line of the chunk on its loaded position, then record what differs:
    on PostgreSQL the events by COPY in one statement and the positions' rows in another
    (kernel/bulk_append.py), elsewhere through the unit of work (in `appends_batched`)."""
    at = {n: POSITIONS.stream_id(chunk.store_id, n) for n in known}
    decided = counts.decide_all(chunk, known, {n: loaded[s].state for n, s in at.items()})
    if bulk_append.available(uow):
        writes = [
            StreamWrite(loaded[at[c.part_number]], c.events, c.state) for c in decided.changes
        ]
        await bulk_append.record_many(uow, POSITIONS, writes)
        await read_model.write_positions(uow.conn, [c.state for c in decided.changes])
    else:
        for c in decided.changes:
            await uow.record(POSITIONS, loaded[at[c.part_number]], c.events)
    return CountedChunk(decided.results)


class _ChunkedBefore(Exception):
    """The batch's first chunk is logged under `<request_id>/0`: run it in chunks again."""


_FIRST_CHUNK = "/0"


async def _logged_as(conn: AsyncConnection, request_id: str) -> set[str]:
    """Which of the batch's request id and its first chunk's the command log holds."""
    ids = [request_id, request_id + _FIRST_CHUNK]
    rows = await conn.execute(_LOGGED, {"ids": ids})
    return {row.request_id for row in rows}


_LOGGED = select(command_log.c.request_id).where(
    command_log.c.request_id.in_(bindparam("ids", expanding=True))
)


def _outcome(command: RequestParts) -> Callable[[Executed[StockPosition]], RequestOutcome]:
    def outcome(done: Executed[StockPosition]) -> RequestOutcome:
        issued = any(isinstance(e, PartsIssued) for e in done.events)
        # As the ShortageRecorded says (what collab counts short): its `available` counts
        # the units of reservations past their expiry, which the same command expired.
        short = [e for e in done.events if isinstance(e, ShortageRecorded)]
        shortage = 0 if issued or not short else short[0].requested - max(short[0].available, 0)
        return RequestOutcome(issued, shortage, PositionView.of(done.state))

    return outcome


def _arm(command: ReserveStock) -> Then:
    async def arm(uow: UnitOfWork) -> None:
        await uow.schedule(
            _timer_id(command), EXPIRE_RESERVATION, command.expires_at, _timer_key(command)
        )

    return arm


def _timer_key(command: Any) -> dict[str, str]:
    return {
        "store_id": command.store_id,
        "part_number": command.part_number,
        "reservation_id": command.reservation_id,
    }


def _timer_id(command: Any) -> str:
    # '|' appears in no id (ids may contain '/'), so distinct reservations never share a timer.
    return f"reservation|{command.store_id}|{command.part_number}|{command.reservation_id}"


def _disarm(command: Any) -> Then:
    async def disarm(uow: UnitOfWork) -> None:
        await uow.cancel_timer(_timer_id(command))

    return disarm


async def _disarm_ended(uow: UnitOfWork, events: list[Any]) -> None:
    """Reservations a command ended beside its own event (expired before their timers
    fired, domain/stock.py `_due`; given up by a count below them): their timers go with
    them, as a release's does."""
    for event in events:
        if isinstance(event, ReservationExpired | ReservationReleased):
            await uow.cancel_timer(_timer_id(event))


def _part_view(part: Part) -> PartView:
    return PartView(part.part_number, part.name, part.category, part.unit, part.unit_cost_fen)
