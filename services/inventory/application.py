"""Inventory command handlers and queries: load the position, decide, record, reply."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from kernel.application import Aggregate, Application, Executed, UnitOfWork
from kernel.errors import NotFound
from kernel.store_directory import require_open_store
from services.inventory import read_model
from services.inventory.domain.catalogue import Part, RegisterPart, UpdatePart, catalogue
from services.inventory.domain.events import (
    PartsIssued,
    ShipmentLost,
    TransferReceived,
    TransferShipped,
)
from services.inventory.domain.stock import (
    ConfirmDelivery,
    ExpireReservation,
    ReceiveTransfer,
    RecordInboundLost,
    RecordInboundTransfer,
    ReleaseReservation,
    ReportShipmentLost,
    RequestParts,
    ReserveStock,
    ShipTransfer,
    StockPosition,
    stock,
)
from services.inventory.read_model import PartView, PositionView, StoreStockView

PARTS = Aggregate("part", catalogue, Part, store_of=lambda e: e.store_id)
POSITIONS = Aggregate(
    "stock", stock, StockPosition, store_of=lambda e: e.store_id, snapshot_every=20
)
EXPIRE_RESERVATION = "inventory.expire_reservation"


@dataclass(frozen=True)
class RequestOutcome:
    issued: bool
    shortage_quantity: int
    position: PositionView


def _timer_id(store_id: str, part_number: str, reservation_id: str) -> str:
    # '|' appears in no id (ids may contain '/'), so distinct reservations never share a timer.
    return f"reservation|{store_id}|{part_number}|{reservation_id}"


class Inventory:
    def __init__(self, app: Application) -> None:
        self.app = app
        # Parts are never removed from the catalogue, so a part seen once stays known.
        self._known_parts: set[str] = set()

    # Catalogue

    async def register_part(self, command: RegisterPart, request_id: str) -> PartView:
        async def handler(uow: UnitOfWork) -> PartView:
            done = await uow.execute(PARTS, PARTS.stream_id(command.part_number), command)
            return _part_view(done.state)

        return await self.app.handle(command, handler, request_id=request_id, result_type=PartView)

    async def update_part(self, command: UpdatePart, request_id: str) -> PartView:
        async def handler(uow: UnitOfWork) -> PartView:
            done = await uow.execute(PARTS, PARTS.stream_id(command.part_number), command)
            return _part_view(done.state)

        return await self.app.handle(command, handler, request_id=request_id, result_type=PartView)

    # Stock movements of one position

    async def move(self, command: Any, request_id: str) -> PositionView:
        """Receive, return, adjust, release: one position, no side effects beyond it."""

        async def handler(uow: UnitOfWork) -> PositionView:
            return PositionView.of((await self._on_position(uow, command)).state)

        return await self.app.handle(
            command, handler, request_id=request_id, result_type=PositionView
        )

    async def request_parts(self, command: RequestParts, request_id: str) -> RequestOutcome:
        async def handler(uow: UnitOfWork) -> RequestOutcome:
            done = await self._on_position(uow, command)
            issued = any(isinstance(e, PartsIssued) for e in done.events)
            shortage = 0 if issued else command.quantity - max(done.state.available, 0)
            return RequestOutcome(issued, shortage, PositionView.of(done.state))

        return await self.app.handle(
            command, handler, request_id=request_id, result_type=RequestOutcome
        )

    async def reserve(self, command: ReserveStock, request_id: str) -> PositionView:
        async def handler(uow: UnitOfWork) -> PositionView:
            state = (await self._on_position(uow, command)).state
            await uow.schedule(
                _timer_id(command.store_id, command.part_number, command.reservation_id),
                EXPIRE_RESERVATION,
                command.expires_at,
                {
                    "store_id": command.store_id,
                    "part_number": command.part_number,
                    "reservation_id": command.reservation_id,
                },
            )
            return PositionView.of(state)

        return await self.app.handle(
            command, handler, request_id=request_id, result_type=PositionView
        )

    async def release(self, command: ReleaseReservation, request_id: str) -> PositionView:
        async def handler(uow: UnitOfWork) -> PositionView:
            state = (await self._on_position(uow, command)).state
            await uow.cancel_timer(
                _timer_id(command.store_id, command.part_number, command.reservation_id)
            )
            return PositionView.of(state)

        return await self.app.handle(
            command, handler, request_id=request_id, result_type=PositionView
        )

    async def expire_reservation(self, uow: UnitOfWork, payload: dict[str, str]) -> None:
        """The durable timer of a reservation fired."""
        await uow.execute(
            POSITIONS,
            POSITIONS.stream_id(payload["store_id"], payload["part_number"]),
            ExpireReservation(
                payload["store_id"],
                payload["part_number"],
                payload["reservation_id"],
                uow.clock.now(),
            ),
        )

    # Transfers: each command moves both ends of the shipment in one transaction.

    async def ship_transfer(self, command: ShipTransfer, request_id: str) -> PositionView:
        async def handler(uow: UnitOfWork) -> PositionView:
            await self._check_references(
                uow.conn,
                command.destination_store_id,
                command.part_number,
                field="destination_store_id",
            )
            source = await self._on_position(uow, command)
            for e in source.events:
                if isinstance(e, TransferShipped):
                    await uow.execute(
                        POSITIONS,
                        POSITIONS.stream_id(e.destination_store_id, e.part_number),
                        RecordInboundTransfer(
                            e.destination_store_id,
                            e.part_number,
                            e.transfer_id,
                            e.store_id,
                            e.quantity,
                            e.occurred_at,
                        ),
                    )
            await uow.cancel_timer(
                _timer_id(command.store_id, command.part_number, command.reservation_id)
            )
            return PositionView.of(source.state)

        return await self.app.handle(
            command, handler, request_id=request_id, result_type=PositionView
        )

    async def receive_transfer(self, command: ReceiveTransfer, request_id: str) -> PositionView:
        async def handler(uow: UnitOfWork) -> PositionView:
            destination = await self._on_position(uow, command)
            for e in destination.events:
                if isinstance(e, TransferReceived):
                    await uow.execute(
                        POSITIONS,
                        POSITIONS.stream_id(e.source_store_id, e.part_number),
                        ConfirmDelivery(
                            e.source_store_id,
                            e.part_number,
                            e.transfer_id,
                            e.quantity,
                            e.occurred_at,
                        ),
                    )
            return PositionView.of(destination.state)

        return await self.app.handle(
            command, handler, request_id=request_id, result_type=PositionView
        )

    async def report_lost(self, command: ReportShipmentLost, request_id: str) -> PositionView:
        async def handler(uow: UnitOfWork) -> PositionView:
            source = await self._on_position(uow, command)
            for e in source.events:
                if isinstance(e, ShipmentLost):
                    await uow.execute(
                        POSITIONS,
                        POSITIONS.stream_id(e.destination_store_id, e.part_number),
                        RecordInboundLost(
                            e.destination_store_id,
                            e.part_number,
                            e.transfer_id,
                            e.quantity,
                            e.reason,
                            e.occurred_at,
                        ),
                    )
            return PositionView.of(source.state)

        return await self.app.handle(
            command, handler, request_id=request_id, result_type=PositionView
        )

    async def _on_position(self, uow: UnitOfWork, command: Any) -> Executed[StockPosition]:
        await self._check_references(uow.conn, command.store_id, command.part_number)
        return await uow.execute(POSITIONS, _stream(command), command)

    async def _check_references(
        self, conn: AsyncConnection, store_id: str, part_number: str, field: str = "store_id"
    ) -> None:
        if part_number not in self._known_parts:
            if await read_model.get_part(conn, part_number) is None:
                raise NotFound("part", part_number)
            self._known_parts.add(part_number)
        await require_open_store(conn, store_id, field)

    # Queries

    async def part(self, part_number: str) -> PartView:
        found = await self.app.query(lambda conn: read_model.get_part(conn, part_number))
        if found is None:
            raise NotFound("part", part_number)
        return found

    async def find_stock(
        self,
        part_number: str,
        minimum: int,
        exclude_store_id: str,
        after: tuple[int, str] | None,
        limit: int,
    ) -> list[StoreStockView]:
        """The network lookup, in one transaction: the part is checked only on no answer."""

        async def fetch(conn: AsyncConnection) -> list[StoreStockView]:
            rows = await read_model.find_stock(
                conn, part_number, minimum, exclude_store_id, after, limit
            )
            unknown = not rows and part_number not in self._known_parts
            if unknown and await read_model.get_part(conn, part_number) is None:
                raise NotFound("part", part_number)
            return rows

        return await self.app.query(fetch)

    async def position(self, store_id: str, part_number: str) -> PositionView:
        async def fetch(conn: AsyncConnection) -> PositionView:
            if await read_model.get_part(conn, part_number) is None:
                raise NotFound("part", part_number)
            return await read_model.get_position(conn, store_id, part_number)

        return await self.app.query(fetch)

    def today(self) -> date:
        return self.app.clock.business_day(self.app.clock.now())

    def window(self, days: int) -> date:
        return self.today() - timedelta(days=days - 1)


def _stream(command: Any) -> str:
    return POSITIONS.stream_id(command.store_id, command.part_number)


def _part_view(part: Part) -> PartView:
    return PartView(part.part_number, part.name, part.category, part.unit, part.unit_cost_fen)
