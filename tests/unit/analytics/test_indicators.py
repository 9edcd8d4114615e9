"""The indicator library holds every comparable indicator of domain.md with its direction."""

from __future__ import annotations

from services.analytics.domain.indicators import BY_CODE, LIBRARY, Category, Direction, Unit

COMPARABLE = {
    Category.FINANCE: {
        "revenue",
        "gross_margin",
        "net_margin",
        "revenue_per_employee",
        "revenue_per_m2",
    },
    Category.CUSTOMERS: {
        "vehicles_in",
        "new_customer_share",
        "returning_rate",
        "average_ticket",
        "churn_rate",
        "csi",
        "nps",
        "complaint_rate",
    },
    Category.OPERATIONS: {
        "bay_turnover",
        "technician_efficiency",
        "labour_rate",
        "parts_margin",
        "appointment_rate",
        "customer_waiting_time",
        "on_time_delivery_rate",
    },
    Category.PEOPLE: {
        "staff_turnover",
        "key_role_turnover",
        "headcount_vs_plan",
        "training_completion",
    },
}


def test_every_comparable_indicator_of_domain_md_is_in_its_category() -> None:
    for category, codes in COMPARABLE.items():
        listed = {i.code for i in LIBRARY if i.category == category and i.comparable}
        assert listed == codes, category


def test_codes_are_unique_and_every_indicator_is_defined() -> None:
    assert len(BY_CODE) == len(LIBRARY)
    assert all(i.definition and i.name for i in LIBRARY)


def test_costs_churn_complaints_waits_and_turnover_are_lower_is_better() -> None:
    lower = {i.code for i in LIBRARY if i.direction == Direction.LOWER_IS_BETTER}
    assert {
        "cost_ratio",
        "people_cost_ratio",
        "rent_ratio",
        "churn_rate",
        "complaint_rate",
        "customer_waiting_time",
        "staff_turnover",
        "key_role_turnover",
        "stale_stock_value",
        "transfer_response_time",
        "quote_abandonment_rate",
    } == lower


def test_only_money_and_counts_add_up_over_months() -> None:
    for indicator in LIBRARY:
        if indicator.additive:
            assert indicator.unit in (Unit.FEN, Unit.COUNT), indicator.code
    assert BY_CODE["revenue"].additive and BY_CODE["vehicles_in"].additive
    assert not BY_CODE["csi"].additive
