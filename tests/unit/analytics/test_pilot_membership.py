"""HQ's pilot decision per store: since when a store takes part, and the day it left."""

from __future__ import annotations

from datetime import UTC, date, datetime

from kernel.testing.scenario import Scenario
from services.analytics.domain import reasons
from services.analytics.domain.pilot import (
    Participation,
    PilotMembership,
    PilotParticipationSet,
    SetPilotParticipation,
    pilot_membership,
)

members: Scenario[PilotMembership, SetPilotParticipation, PilotParticipationSet] = Scenario(
    pilot_membership
)
NOW = datetime(2026, 2, 3, 2, 0, tzinfo=UTC)
TODAY = date(2026, 2, 3)


def join(since: date, left: date | None = None, **changes: object) -> SetPilotParticipation:
    fields: dict[str, object] = {
        "store_id": "SZ01",
        "joined_on": since,
        "left_on": left,
        "today": TODAY,
        "store_known": True,
        "at": NOW,
    }
    fields.update(changes)
    return SetPilotParticipation(**fields)  # type: ignore[arg-type]


def joined(since: date, left: date | None = None) -> PilotParticipationSet:
    return PilotParticipationSet(store_id="SZ01", joined_on=since, left_on=left, occurred_at=NOW)


def test_a_store_joins_the_pilot_since_a_day_and_setting_it_again_changes_nothing() -> None:
    members.given().when(join(date(2026, 1, 1))).then(joined(date(2026, 1, 1)))
    members.given(joined(date(2026, 1, 1))).when(join(date(2026, 1, 1))).then_nothing_happens()


def test_leaving_records_the_first_day_no_longer_in() -> None:
    given = members.given(joined(date(2026, 1, 1)))
    given.when(join(date(2026, 1, 1), date(2026, 2, 1))).then(
        joined(date(2026, 1, 1), date(2026, 2, 1))
    )
    state = members.given(joined(date(2026, 1, 1), date(2026, 2, 1))).then_state(
        join(date(2026, 1, 1), date(2026, 2, 1))
    )
    assert state.current == Participation(
        store_id="SZ01", joined_on=date(2026, 1, 1), left_on=date(2026, 2, 1)
    )
    assert state.current.takes_part(date(2026, 1, 31))
    assert not state.current.takes_part(date(2026, 2, 1))


def test_the_latest_decision_holds_a_store_that_joins_again() -> None:
    state = members.given(
        joined(date(2026, 1, 1), date(2026, 1, 10)), joined(date(2026, 1, 20))
    ).then_state(join(date(2026, 1, 20)))
    assert state.current is not None
    assert state.current.takes_part(date(2026, 1, 25))
    assert not state.current.takes_part(date(2026, 1, 15))


def test_days_after_today_are_refused() -> None:
    members.given().when(join(date(2026, 2, 4))).then_refused(reasons.DATE_IN_THE_FUTURE)
    members.given().when(join(date(2026, 1, 1), date(2026, 2, 4))).then_refused(
        reasons.DATE_IN_THE_FUTURE
    )
    members.given().when(join(TODAY)).then(joined(TODAY))


def test_an_unknown_store_is_refused() -> None:
    members.given().when(join(date(2026, 1, 1), store_known=False)).then_refused(
        reasons.UNKNOWN_STORE
    )


def test_bad_input_names_its_fields() -> None:
    members.given().when(join(date(2026, 1, 1), date(2026, 1, 1), store_id="")).then_invalid(
        "store_id", "left_on"
    )
