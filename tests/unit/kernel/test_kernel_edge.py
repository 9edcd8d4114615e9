"""The kernel's edge: every wire-format fault of a request named at once, by field path."""

from __future__ import annotations

import math

import pytest
from storemesh.capacity.v1 import capacity_pb2 as cap
from storemesh.inventory.v1 import inventory_pb2 as inv
from storemesh.workforce.v1 import workforce_pb2 as wf

from kernel import edge
from kernel.errors import InvalidArgument


def fields(message: object) -> list[str]:
    return sorted(v.field for v in edge.violations(message))  # type: ignore[arg-type]


def test_a_well_formed_request_passes() -> None:
    request = cap.BookAppointmentRequest(
        request_id="0b5c4a2e-7ad0-4d5e-9d8d-1f1b8e0c1a11",
        store_id="SZ01",
        appointment_id="A-1",
        customer_ref="C-1",
        vehicle="粤B12345",
        service_type="maintenance",
        expected_labour_hours=2.0,
    )
    request.requested_at.FromSeconds(1_790_000_000)
    edge.check(request)


def test_every_fault_is_named_at_once_with_its_path() -> None:
    request = cap.BookAppointmentRequest(
        store_id="a/../b", customer_ref="/x", vehicle="B\x00", expected_labour_hours=math.nan
    )
    request.requested_at.seconds = 2**62
    with pytest.raises(InvalidArgument) as refused:
        edge.check(request)
    assert sorted(v.field for v in refused.value.violations) == [
        "customer_ref",
        "expected_labour_hours",
        "requested_at",
        "store_id",
        "vehicle",
    ]


def test_nested_and_repeated_fields_are_named_by_path() -> None:
    request = wf.RegisterTechnicianRequest(
        technician_id="T-1",
        specialties=["hv_ev", "x" * 300],
        certifications=[wf.Certification(name="ok"), wf.Certification(name="bad\x07")],
    )
    assert fields(request) == ["certifications[1].name", "specialties[1]"]
    assert fields(inv.RegisterPartRequest(part=inv.Part(part_number="P/", name="n"))) == [
        "part.part_number"
    ]


@pytest.mark.parametrize(
    "value", ["a/../b", "..", "/P-1", "P-1/", "a\\b", "P\x00", "P\t1", "x" * 257]
)
def test_ids_refuse_paths_controls_and_excess(value: str) -> None:
    assert fields(inv.GetStockPositionRequest(store_id=value, part_number="P-1")) == ["store_id"]


def test_ids_keep_what_the_services_issue() -> None:
    for value in ("SZ01", "P-100", "HV-CONT-MAIN", "RO-SZ01-1000", "ns:a/b.c", "粤B12345"):
        assert fields(inv.GetStockPositionRequest(store_id=value, part_number=value)) == []


def test_free_text_keeps_line_breaks_but_not_other_controls() -> None:
    assert fields(wf.RateSupportRequest(comment="good\nwork\ttoday")) == []
    assert fields(wf.RateSupportRequest(comment="x" * 2000)) == []
    assert fields(wf.RateSupportRequest(comment="x" * 2001)) == ["comment"]
    assert fields(wf.RateSupportRequest(comment="\x1b[31m")) == ["comment"]
    assert fields(cap.CloseStoreRequest(reason="x" * 257)) == ["reason"]


@pytest.mark.parametrize(
    ("seconds", "nanos", "ok"),
    [
        (edge.MIN_TIMESTAMP_SECONDS, 0, True),
        (edge.MAX_TIMESTAMP_SECONDS, edge.MAX_NANOS, True),
        (edge.MIN_TIMESTAMP_SECONDS - 1, 0, False),
        (edge.MAX_TIMESTAMP_SECONDS + 1, 0, False),
        (2**62, 0, False),
        (0, -1, False),
        (0, 2_000_000_000, False),
    ],
)
def test_timestamps_stay_in_their_spec_range(seconds: int, nanos: int, ok: bool) -> None:
    request = wf.ScheduleLeaveRequest(technician_id="T-1")
    request.starts_at.seconds = seconds
    request.starts_at.nanos = nanos
    assert fields(request) == ([] if ok else ["starts_at"])


def test_non_finite_doubles_are_refused_and_enums_left_to_the_service() -> None:
    assert fields(wf.ChangeLevelRequest(technician_id="T-1", level=999)) == []
    for value in (math.inf, -math.inf, math.nan):
        assert fields(wf.PlanShiftRequest(available_hours=value)) == ["available_hours"]


def test_repeated_fields_are_bounded() -> None:
    assert fields(cap.StartServiceRequest(technician_ids=["T"] * 1000)) == []
    assert fields(cap.StartServiceRequest(technician_ids=["T"] * 1001)) == ["technician_ids"]
    assert fields(inv.GetSharingMatrixRequest(store_ids=["SZ01"] * 2000)) == []


def test_the_plan_keeps_the_hot_path_cheap() -> None:
    request = cap.BookAppointmentRequest(
        request_id="0b5c4a2e-7ad0-4d5e-9d8d-1f1b8e0c1a11",
        store_id="SZ01",
        appointment_id="A-1",
        customer_ref="C-1",
        vehicle="粤B12345",
        service_type="maintenance",
        expected_labour_hours=2.0,
    )
    request.requested_at.FromSeconds(1_790_000_000)
    edge.check(request)
    planned = edge._plan.cache_info()
    for _ in range(200):
        edge.check(request)
    # Planned once per message type (the request's and the Timestamp's): every later
    # request of the type looks its plan up, it never walks the descriptor again. (Its
    # cost is measured by the bench, not asserted here: about 6 us a request.)
    after = edge._plan.cache_info()
    assert after.misses == planned.misses
    assert after.hits > planned.hits


def test_only_a_clean_short_request_id_reaches_the_logs() -> None:
    assert edge.loggable("0b5c4a2e-7ad0-4d5e-9d8d-1f1b8e0c1a11") == (
        "0b5c4a2e-7ad0-4d5e-9d8d-1f1b8e0c1a11"
    )
    assert edge.loggable("x" * 10_000) == ""
    assert edge.loggable("forged\nlevel=error") == ""
