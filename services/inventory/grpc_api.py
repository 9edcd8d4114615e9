"""gRPC adapter of the inventory service: proto in, domain command out, and back."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from storemesh.inventory.v1 import inventory_pb2 as pb
from storemesh.inventory.v1 import inventory_pb2_grpc as pb_grpc

from kernel import access, paging, validation
from kernel.errors import InvalidArgument, Violations
from services.inventory.application import Inventory, RequestOutcome
from services.inventory.domain.catalogue import RegisterPart, UpdatePart
from services.inventory.domain.commands import (
    AdjustStock,
    ReceiveStock,
    ReceiveTransfer,
    ReleaseReservation,
    ReportShipmentLost,
    RequestParts,
    ReserveStock,
    ReturnParts,
    ShipTransfer,
    StockCommand,
)
from services.inventory.domain.stale import DEFAULT_COVER_DAYS, DEFAULT_USAGE_DAYS
from services.inventory.domain.stock import field_faults
from services.inventory.grpc_messages import (
    find_stock_response,
    matrix_row_message,
    part_message,
    position_message,
    stale_item_message,
    stale_request,
    sync_command,
    sync_response,
)
from services.inventory.queries import InventoryQueries

DEFAULT_RESERVATION_TTL = timedelta(hours=2)


def _position_request(
    request: Any,
    command: StockCommand,
    more: Violations | None = None,
    taken_from: dict[str, str] | None = None,
) -> None:
    """Refuses a position command with all its faults at once: the fields every position
    command has, the request's own (`more`), then those of the domain command's fields
    that no earlier check named (the rules the decider applies, stock.field_faults).
    `taken_from` names the request field a command field was filled from, so a fault is
    reported against what the caller sent."""
    v = Violations()
    validation.request_id(v, "request_id", request.request_id)
    validation.store_code(v, "store_id", request.store_id)
    validation.identifier(v, "part_number", request.part_number)
    if more is not None:
        v.items += more.items
    v.add_unnamed(field_faults(command), taken_from)
    v.raise_if_any()


class InventoryServicer(pb_grpc.InventoryServiceServicer):
    def __init__(self, inventory: Inventory) -> None:
        self.inventory = inventory
        self.queries = InventoryQueries(inventory.app)

    def _now(self) -> datetime:
        return self.inventory.app.clock.now()

    # Catalogue

    @access.roles("hq", "service", action="change the catalogue")
    async def RegisterPart(self, request: pb.RegisterPartRequest, context: Any) -> pb.Part:
        v = Violations()
        validation.request_id(v, "request_id", request.request_id)
        if not request.HasField("part"):
            v.add("part", "is required")
        v.raise_if_any()
        p = request.part
        command = RegisterPart(
            p.part_number, p.name, p.category, p.unit, p.unit_cost_fen, self._now()
        )
        return part_message(await self.inventory.register_part(command, request.request_id))

    @access.roles("hq", "service", action="change the catalogue")
    async def UpdatePart(self, request: pb.UpdatePartRequest, context: Any) -> pb.Part:
        v = Violations()
        validation.request_id(v, "request_id", request.request_id)
        if not request.HasField("part"):
            v.add("part", "is required")
        v.raise_if_any()
        p = request.part
        command = UpdatePart(
            p.part_number, p.name, p.category, p.unit, p.unit_cost_fen, self._now()
        )
        return part_message(await self.inventory.update_part(command, request.request_id))

    @access.anyone_signed_in
    async def GetPart(self, request: pb.GetPartRequest, context: Any) -> pb.Part:
        validation.require_ids(part_number=request.part_number)
        return part_message(await self.queries.part(request.part_number))

    @access.anyone_signed_in
    async def ListParts(self, request: pb.ListPartsRequest, context: Any) -> pb.ListPartsResponse:
        limit = paging.page_size(request.page_size)
        pages = paging.PageQuery.of({"list": "parts", "category": request.category}, paging.text)
        page, token = await self.queries.parts(request.category, pages, request.page_token, limit)
        return pb.ListPartsResponse(parts=[part_message(p) for p in page], next_page_token=token)

    # Stock movements

    @access.store_in("store_id", "receive stock")
    async def ReceiveStock(self, request: pb.ReceiveStockRequest, context: Any) -> pb.StockPosition:
        command = ReceiveStock(
            request.store_id, request.part_number, request.quantity, request.reference, self._now()
        )
        _position_request(request, command)
        return position_message(await self.inventory.move(command, request.request_id))

    @access.store_in("store_id", "request parts")
    async def RequestParts(
        self, request: pb.RequestPartsRequest, context: Any
    ) -> pb.RequestPartsResponse:
        command = RequestParts(
            request.store_id,
            request.part_number,
            request.repair_order,
            request.quantity,
            request.customer_waiting,
            self._now(),
        )
        _position_request(request, command)
        outcome: RequestOutcome = await self.inventory.request_parts(command, request.request_id)
        return pb.RequestPartsResponse(
            outcome=pb.RequestPartsResponse.OUTCOME_ISSUED
            if outcome.issued
            else pb.RequestPartsResponse.OUTCOME_SHORTAGE,
            position=position_message(outcome.position),
            shortage_quantity=outcome.shortage_quantity,
        )

    @access.store_in("store_id", "return parts")
    async def ReturnParts(self, request: pb.ReturnPartsRequest, context: Any) -> pb.StockPosition:
        command = ReturnParts(
            request.store_id,
            request.part_number,
            request.repair_order,
            request.quantity,
            self._now(),
        )
        _position_request(request, command)
        return position_message(await self.inventory.move(command, request.request_id))

    @access.store_in("store_id", "adjust stock")
    async def AdjustStock(self, request: pb.AdjustStockRequest, context: Any) -> pb.StockPosition:
        command = AdjustStock(
            request.store_id,
            request.part_number,
            request.counted_quantity,
            request.reason,
            self._now(),
        )
        _position_request(request, command)
        return position_message(await self.inventory.move(command, request.request_id))

    @access.store_in("store_id", "reserve stock")
    async def ReserveStock(self, request: pb.ReserveStockRequest, context: Any) -> pb.StockPosition:
        v = Violations()
        ttl = validation.duration_seconds(v, "ttl_seconds", request.ttl_seconds)
        command = ReserveStock(
            request.store_id,
            request.part_number,
            request.reservation_id or request.request_id,
            request.quantity,
            ttl or DEFAULT_RESERVATION_TTL,
            request.reference,
            self._now(),
        )
        # Without a reservation id of its own, the reservation takes the request's.
        taken_from = None if request.reservation_id else {"reservation_id": "request_id"}
        _position_request(request, command, v, taken_from)
        return position_message(await self.inventory.reserve(command, request.request_id))

    @access.store_in("store_id", "release a reservation")
    async def ReleaseReservation(
        self, request: pb.ReleaseReservationRequest, context: Any
    ) -> pb.StockPosition:
        v = Violations()
        validation.identifier(v, "reservation_id", request.reservation_id)
        command = ReleaseReservation(
            request.store_id, request.part_number, request.reservation_id, self._now()
        )
        _position_request(request, command, v)
        return position_message(await self.inventory.release(command, request.request_id))

    @access.store_in("store_id", "sync stock counts")
    async def SyncStockCounts(
        self, request: pb.SyncStockCountsRequest, context: Any
    ) -> pb.SyncStockCountsResponse:
        command = sync_command(request, self._now())
        results = await self.inventory.sync_counts(command, request.request_id)
        return sync_response(request.request_id, results)

    # Transfers

    @access.store_in("store_id", "ship a transfer")
    async def ShipTransfer(self, request: pb.ShipTransferRequest, context: Any) -> pb.StockPosition:
        v = Violations()
        validation.identifier(v, "transfer_id", request.transfer_id)
        validation.identifier(v, "reservation_id", request.reservation_id)
        validation.store_code(v, "destination_store_id", request.destination_store_id)
        command = ShipTransfer(
            request.store_id,
            request.part_number,
            request.transfer_id,
            request.reservation_id,
            request.destination_store_id,
            request.quantity,
            self._now(),
        )
        _position_request(request, command, v)
        return position_message(await self.inventory.ship_transfer(command, request.request_id))

    @access.store_in("store_id", "receive a transfer")
    async def ReceiveTransfer(
        self, request: pb.ReceiveTransferRequest, context: Any
    ) -> pb.StockPosition:
        v = Violations()
        validation.identifier(v, "transfer_id", request.transfer_id)
        command = ReceiveTransfer(
            request.store_id,
            request.part_number,
            request.transfer_id,
            request.quantity,
            self._now(),
        )
        _position_request(request, command, v)
        return position_message(await self.inventory.move(command, request.request_id))

    @access.store_in("store_id", "report a shipment lost")
    async def ReportShipmentLost(
        self, request: pb.ReportShipmentLostRequest, context: Any
    ) -> pb.StockPosition:
        v = Violations()
        validation.identifier(v, "transfer_id", request.transfer_id)
        command = ReportShipmentLost(
            request.store_id, request.part_number, request.transfer_id, request.reason, self._now()
        )
        _position_request(request, command, v)
        return position_message(await self.inventory.move(command, request.request_id))

    # Visibility

    @access.anyone_signed_in
    async def GetStockPosition(
        self, request: pb.GetStockPositionRequest, context: Any
    ) -> pb.StockPosition:
        v = Violations()
        validation.store_code(v, "store_id", request.store_id)
        validation.identifier(v, "part_number", request.part_number)
        v.raise_if_any()
        return position_message(await self.queries.position(request.store_id, request.part_number))

    @access.anyone_signed_in
    async def ListStoreStock(
        self, request: pb.ListStoreStockRequest, context: Any
    ) -> pb.ListStoreStockResponse:
        v = Violations()
        validation.store_code(v, "store_id", request.store_id)
        validation.text(v, "category", request.category, required=False, max_len=64)
        v.raise_if_any()
        limit = paging.page_size(request.page_size)
        query = {
            "list": "store_stock",
            "store": request.store_id,
            "category": request.category,
            "only_available": request.only_available,
        }
        page, token = await self.queries.store_stock(
            request.store_id,
            request.category,
            request.only_available,
            paging.PageQuery.of(query, paging.text),
            request.page_token,
            limit,
        )
        return pb.ListStoreStockResponse(
            positions=[position_message(p) for p in page], next_page_token=token
        )

    @access.anyone_signed_in
    async def FindStock(self, request: pb.FindStockRequest, context: Any) -> pb.FindStockResponse:
        v = Violations()
        validation.identifier(v, "part_number", request.part_number)
        if request.exclude_store_id:
            validation.store_code(v, "exclude_store_id", request.exclude_store_id)
        validation.non_negative(v, "min_available", request.min_available)
        v.raise_if_any()
        limit = paging.page_size(request.page_size)
        minimum = max(request.min_available, 1)
        query = {
            "list": "find",
            "part": request.part_number,
            "min": minimum,
            "exclude": request.exclude_store_id,
        }
        page, token = await self.queries.find_stock(
            request.part_number,
            minimum,
            request.exclude_store_id,
            paging.PageQuery.of(query, paging.integer, paging.text),
            request.page_token,
            limit,
        )
        return find_stock_response(page, token)

    @access.anyone_signed_in
    async def GetSharingMatrix(
        self, request: pb.GetSharingMatrixRequest, context: Any
    ) -> pb.SharingMatrix:
        v = Violations()
        if not 0 <= request.top_n <= 200:
            v.add("top_n", "must be between 1 and 200 (0 for the default 50)")
        if not 0 <= request.window_days <= 366:
            v.add("window_days", "must be between 1 and 366 (0 for the default 30)")
        if len(request.store_ids) > 2000:
            v.add("store_ids", "at most 2000 stores")
        for i, store in enumerate(request.store_ids):
            validation.store_code(v, f"store_ids[{i}]", store)
        v.raise_if_any()
        stores, rows = await self.queries.sharing_matrix(
            request.top_n or 50, request.window_days or 30, list(request.store_ids)
        )
        return pb.SharingMatrix(store_ids=stores, rows=[matrix_row_message(r) for r in rows])

    @access.anyone_signed_in
    async def ListStaleStock(
        self, request: pb.ListStaleStockRequest, context: Any
    ) -> pb.ListStaleStockResponse:
        rule, criterion = stale_request(request)
        limit = paging.page_size(request.page_size)
        query: dict[str, Any] = {"list": "stale", "store": request.store_id}
        query["days"] = rule.min_idle_days
        # The overstock fields are named only when asked for, so a token an older
        # inventory issued pages on (its key, an idle item's value, is its stale value).
        if (rule.usage_days, rule.cover_days) != (DEFAULT_USAGE_DAYS, DEFAULT_COVER_DAYS):
            query |= {"usage": rule.usage_days, "cover": rule.cover_days}
        if criterion:
            query["criterion"] = criterion
        pages = paging.PageQuery.of(query, paging.integer, paging.text, paging.text)
        items, total, overstock, token = await self.queries.stale_stock(
            request.store_id, rule, criterion, pages, request.page_token, limit
        )
        return pb.ListStaleStockResponse(
            items=[stale_item_message(i, rule) for i in items],
            total_value_fen=total,
            next_page_token=token,
            overstock_value_fen=overstock,
            min_idle_days=rule.min_idle_days,
            usage_days=rule.usage_days,
            cover_days=rule.cover_days,
        )

    @access.anyone_signed_in
    async def GetFillRate(self, request: pb.GetFillRateRequest, context: Any) -> pb.FillRate:
        v = Violations()
        if request.store_id:
            validation.store_code(v, "store_id", request.store_id)
        to_date = validation.day(v, "to_date", request.to_date, required=False)
        from_date = validation.day(v, "from_date", request.from_date, required=False)
        v.raise_if_any()
        last = to_date or self.queries.today()
        first = from_date or last - timedelta(days=29)
        if first > last:
            raise InvalidArgument.of("from_date", "must not be after to_date")
        requests, filled = await self.queries.fill_rate(request.store_id, first, last)
        return pb.FillRate(
            store_id=request.store_id,
            requests=requests,
            filled=filled,
            shortages=requests - filled,
            fill_rate=filled / requests if requests else 1.0,
        )
