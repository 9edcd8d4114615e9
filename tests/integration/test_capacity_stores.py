"""The store directory as a query: stores, distances, nearest stores and peer groups."""

from __future__ import annotations

import pytest
from storemesh.capacity.events.v1 import events_pb2 as ev
from storemesh.capacity.v1 import capacity_pb2 as pb

from tests.integration.capacity_fixtures import (
    CapacityClient,
    cap,
    capacity_pg_url,
    capacity_service,
    failure,
    missing,
    violated_fields,
)

PLACES = {  # the demo network's stores of domain.md's capacity monitor, and one far away
    "SZ01": ("Shenzhen", "South China", 22.5431, 114.0579),
    "GZ01": ("Guangzhou", "South China", 23.1291, 113.2644),
    "DG01": ("Dongguan", "South China", 23.0205, 113.7518),
    "WH01": ("Wuhan", "Central China", 30.5928, 114.3055),
}


async def _network(cap: CapacityClient) -> None:
    for code, (city, region, latitude, longitude) in PLACES.items():
        await cap.register(code, city=city, region=region, latitude=latitude, longitude=longitude)


async def test_distance_between_two_stores_is_great_circle_km(cap: CapacityClient) -> None:
    await _network(cap)

    there = await cap.GetDistance(from_store_id="SZ01", to_store_id="GZ01")
    back = await cap.GetDistance(from_store_id="GZ01", to_store_id="SZ01")
    err = await failure(cap.GetDistance(from_store_id="SZ01", to_store_id="XX99"))

    assert there.distance_km == pytest.approx(104.5, abs=1.0)
    assert back.distance_km == pytest.approx(there.distance_km)
    assert missing(err) == ("store", "XX99")


async def test_nearest_stores_are_open_stores_nearest_first(cap: CapacityClient) -> None:
    await _network(cap)
    await cap.CloseStore(store_id="DG01", reason="refit")

    nearest = await cap.ListNearestStores(store_id="SZ01", limit=5)

    assert [s.store_id for s in nearest.stores] == ["GZ01", "WH01"]
    assert nearest.stores[0].distance_km < nearest.stores[1].distance_km


async def test_stores_list_by_region_open_only_in_pages(cap: CapacityClient) -> None:
    await _network(cap)
    await cap.CloseStore(store_id="GZ01", reason="refit")

    first = await cap.ListStores(region="South China", page_size=1)
    rest = await cap.ListStores(region="South China", page_size=5, page_token=first.next_page_token)
    open_only = await cap.ListStores(region="South China", open_only=True)

    assert [s.store_id for s in first.stores] == ["DG01"]
    assert [s.store_id for s in rest.stores] == ["GZ01", "SZ01"]
    assert rest.stores[0].closed and rest.next_page_token == ""
    assert [s.store_id for s in open_only.stores] == ["DG01", "SZ01"]


async def test_peer_group_facets_are_taken_as_of_a_date(cap: CapacityClient) -> None:
    await cap.register(
        "SZ01",
        bays=15,
        opened_on="2023-11-02",
        location_tier=ev.LOCATION_TIER_SUBURB,
        customer_segment=ev.CUSTOMER_SEGMENT_PREMIUM,
    )

    before = await cap.GetPeerGroup(store_id="SZ01", as_of="2026-11-01")
    on_anniversary = await cap.GetPeerGroup(store_id="SZ01", as_of="2026-11-02")
    today = await cap.GetPeerGroup(store_id="SZ01")

    assert (before.size, before.age) == (pb.SIZE_FACET_LARGE, pb.AGE_FACET_GROWING)
    assert on_anniversary.age == pb.AGE_FACET_MATURE
    assert (today.as_of, today.age) == ("2026-11-02", pb.AGE_FACET_MATURE)
    assert (today.location_tier, today.customer_segment) == (
        ev.LOCATION_TIER_SUBURB,
        ev.CUSTOMER_SEGMENT_PREMIUM,
    )


async def test_peer_group_names_its_open_stores_the_asked_one_included(
    cap: CapacityClient,
) -> None:
    await cap.register("SZ01", bays=10, opened_on="2021-05-01")
    await cap.register("GZ01", bays=12, opened_on="2021-06-01")
    await cap.register("DG01", bays=16, opened_on="2021-06-01")  # large: another group
    await cap.register("FS01", bays=9, opened_on="2021-07-01")
    await cap.register("HZ01", bays=9, opened_on="2020-06-01")
    await cap.CloseStore(store_id="FS01", reason="refit")

    group = await cap.GetPeerGroup(store_id="SZ01", as_of="2025-01-01")

    assert list(group.store_ids) == ["GZ01", "HZ01", "SZ01"]


async def test_peer_group_by_chosen_facets_only(cap: CapacityClient) -> None:
    await cap.register("SZ01", bays=15, location_tier=ev.LOCATION_TIER_CITY_CENTRE)
    await cap.register("GZ01", bays=20, location_tier=ev.LOCATION_TIER_OUTSKIRTS)
    await cap.register("DG01", bays=18, location_tier=ev.LOCATION_TIER_CITY_CENTRE)
    await cap.register("FS01", bays=9, location_tier=ev.LOCATION_TIER_CITY_CENTRE)

    all_four = await cap.GetPeerGroup(store_id="SZ01", as_of="2025-01-01")
    by_size = await cap.GetPeerGroup(
        store_id="SZ01", as_of="2025-01-01", facets=[pb.PEER_FACET_SIZE]
    )
    by_size_and_tier = await cap.GetPeerGroup(
        store_id="SZ01",
        as_of="2025-01-01",
        facets=[pb.PEER_FACET_LOCATION_TIER, pb.PEER_FACET_SIZE, pb.PEER_FACET_SIZE],
    )

    assert list(all_four.store_ids) == ["DG01", "SZ01"]
    assert list(all_four.facets) == [
        pb.PEER_FACET_SIZE,
        pb.PEER_FACET_LOCATION_TIER,
        pb.PEER_FACET_AGE,
        pb.PEER_FACET_CUSTOMER_SEGMENT,
    ]
    assert list(by_size.store_ids) == ["DG01", "GZ01", "SZ01"]
    assert list(by_size.facets) == [pb.PEER_FACET_SIZE]
    assert list(by_size_and_tier.store_ids) == ["DG01", "SZ01"]
    assert list(by_size_and_tier.facets) == [pb.PEER_FACET_SIZE, pb.PEER_FACET_LOCATION_TIER]


async def test_an_unspecified_or_unknown_peer_facet_is_invalid_naming_its_index(
    cap: CapacityClient,
) -> None:
    await cap.register("SZ01")

    err = await failure(
        cap.GetPeerGroup(
            store_id="SZ01", facets=[pb.PEER_FACET_SIZE, pb.PEER_FACET_UNSPECIFIED, 99]
        )
    )

    assert violated_fields(err) == ["facets[1]", "facets[2]"]


async def test_an_update_replaces_the_profile_and_defaults_fill_in(cap: CapacityClient) -> None:
    registered = await cap.register("SZ01")
    changed = await cap.UpdateStore(
        store_id="SZ01",
        profile=ev.StoreProfile(
            **{**{f.name: v for f, v in registered.profile.ListFields()}, "bays": 6}
        ),
    )

    assert (registered.profile.availability_factor, registered.profile.time_zone) == (
        0.85,
        "Asia/Shanghai",
    )
    assert registered.profile.wait_threshold_minutes == 120
    assert changed.profile.bays == 6
    assert (await cap.GetStore(store_id="SZ01")).profile == changed.profile
