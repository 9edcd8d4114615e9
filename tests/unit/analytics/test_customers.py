"""New and returning customers: a vehicle in of a customer reference seen before (at any
store) is a returning customer, else a new one; a store's counted references win over its
DMS report's returning customers, which stay the fallback of a store that counted none."""

from __future__ import annotations

from datetime import date

from services.analytics.domain.customers import CustomerKind, classify
from services.analytics.domain.kpis import Facts, customers_split, new_customers
from services.analytics.domain.operating_figures import OperatingFigures

MAY_3, MAY_5 = date(2026, 5, 3), date(2026, 5, 5)


def test_a_never_seen_customer_is_new_and_first_seen_that_day() -> None:
    found = classify(None, MAY_5)
    assert (found.kind, found.first_seen) == (CustomerKind.NEW, MAY_5)
    assert found.counters == {"new_customers_in": 1}


def test_a_customer_seen_on_an_earlier_day_is_returning() -> None:
    found = classify(MAY_3, MAY_5)
    assert (found.kind, found.first_seen) == (CustomerKind.RETURNING, MAY_3)
    assert found.counters == {"returning_customers_in": 1}


def test_a_second_visit_the_same_day_is_returning() -> None:
    assert classify(MAY_5, MAY_5).kind == CustomerKind.RETURNING


def test_a_late_visit_of_an_earlier_day_is_new_and_moves_the_first_day_back() -> None:
    found = classify(MAY_5, MAY_3)
    assert (found.kind, found.first_seen) == (CustomerKind.NEW, MAY_3)


def test_counted_references_win_over_the_report() -> None:
    per_store = {"SZ01": Facts(vehicles_in=10, new_customers_in=6, returning_customers_in=3)}
    report = OperatingFigures(returning_customers=9)
    assert customers_split(per_store, {"SZ01": report}) == (6, 3)


def test_a_store_without_references_falls_back_to_its_report() -> None:
    per_store = {
        "SZ01": Facts(vehicles_in=10, new_customers_in=6, returning_customers_in=3),
        "DG01": Facts(vehicles_in=100),
    }
    reports = {"DG01": OperatingFigures(returning_customers=30)}
    assert customers_split(per_store, reports) == (6 + 70, 3 + 30)
    assert new_customers(per_store, reports) == 76


def test_a_report_above_the_vehicles_in_gives_no_negative_new_customers() -> None:
    reports = {"DG01": OperatingFigures(returning_customers=30)}
    assert customers_split({"DG01": Facts(vehicles_in=20)}, reports) == (0, 30)
    assert customers_split({}, reports) == (0, 30)


def test_neither_references_nor_a_report_say_nothing() -> None:
    assert customers_split({"DG01": Facts(vehicles_in=20)}, {}) is None
    assert new_customers({"DG01": Facts(vehicles_in=20)}, {}) is None
