"""FindStock's answer and a position's reply, built field by field, say what protobuf's
own FromDatetime and message constructors say."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from google.protobuf.timestamp_pb2 import Timestamp
from storemesh.inventory.v1 import inventory_pb2 as pb

from services.inventory.domain.stock import Reservation
from services.inventory.grpc_messages import find_stock_response, position_message
from services.inventory.read_model import PositionView, StoreStockView

BEIJING = timezone(timedelta(hours=8))
MOMENTS = [
    datetime(2026, 6, 1, 3, 4, 5, 123_456, tzinfo=BEIJING),  # east of UTC
    datetime(2026, 6, 1, 23, 59, 59, 999_999, tzinfo=timezone(timedelta(hours=-5))),
    datetime(2026, 6, 1, 3, 4, 5, tzinfo=UTC),
    datetime(2026, 6, 1, 3, 4, 5, 7),  # naive: UTC, as FromDatetime reads it
    datetime(1969, 12, 31, 23, 59, 58, 500_000, tzinfo=UTC),  # before the epoch
    datetime(1, 1, 1, tzinfo=UTC),
    datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
    None,
]


def stamp(moment: datetime | None) -> Timestamp | None:
    """The moment as protobuf's own FromDatetime makes it."""
    if moment is None:
        return None
    made = Timestamp()
    made.FromDatetime(moment)
    return made


def _by_from_datetime(view: StoreStockView) -> pb.StoreStock:
    return pb.StoreStock(
        store_id=view.store_id,
        available=view.available,
        on_hand=view.on_hand,
        last_movement_at=stamp(view.last_movement_at),
    )


def test_each_store_and_moment_as_from_datetime_makes_it() -> None:
    page = [StoreStockView(f"S{i:03d}", 40 - i, 50 - i, m) for i, m in enumerate(MOMENTS)]

    response = find_stock_response(page, "next")

    assert response.next_page_token == "next"
    assert list(response.stores) == [_by_from_datetime(v) for v in page]
    assert not response.stores[-1].HasField("last_movement_at")
    assert response.stores[0].last_movement_at.ToDatetime(tzinfo=UTC) == MOMENTS[0]


def test_an_empty_page_is_an_empty_answer() -> None:
    assert find_stock_response([], "") == pb.FindStockResponse()


def test_a_position_s_reply_is_what_from_datetime_and_the_constructors_make() -> None:
    at = datetime(2026, 6, 1, 3, 4, 5, 123_456, tzinfo=UTC)
    held = tuple(
        Reservation(f"r{i}", i + 1, moment, f"ref{i}")
        for i, moment in enumerate(m for m in MOMENTS if m is not None)
    )
    for moved, reservations in ((at, held), (None, ())):
        view = PositionView("S001", "P-1", 50, 21, 29, 1, 2, moved, reservations)
        expected = pb.StockPosition(
            store_id="S001",
            part_number="P-1",
            on_hand=50,
            reserved=21,
            available=29,
            in_transit_out=1,
            in_transit_in=2,
            last_movement_at=stamp(moved),
            reservations=[
                pb.Reservation(
                    reservation_id=r.reservation_id,
                    quantity=r.quantity,
                    expires_at=stamp(r.expires_at),
                    reference=r.reference,
                )
                for r in reservations
            ],
        )
        assert position_message(view) == expected
        assert position_message(view).HasField("last_movement_at") == (moved is not None)
