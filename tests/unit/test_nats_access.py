"""partners.yaml to NATS permissions: grants are checked against proto/, allow-lists only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from deploy.nats.__main__ import OUTPUT, catalogue, generate
from deploy.nats.access import (
    AccessError,
    Catalogue,
    load_partners,
    load_service_keys,
    new_user_nkey,
    partner_permissions,
    service_permissions,
    valid_user_nkey,
)


@pytest.fixture(scope="module")
def known() -> Catalogue:
    return catalogue()


def _load(tmp_path: Path, known: Catalogue, *partners: dict[str, Any]) -> Any:
    path = tmp_path / "partners.yaml"
    path.write_text(yaml.safe_dump({"partners": list(partners)}))
    return load_partners(path, known)


def _partner(**overrides: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": "courier",
        "nkeys": [new_user_nkey()[0]],
        "stores": ["SZ01"],
        "reads": {"inventory": "all"},
    }
    entry.update(overrides)
    return entry


def test_committed_accounts_conf_is_what_partners_yaml_generates() -> None:
    assert OUTPUT.read_text() == generate()


def test_catalogue_knows_the_contexts_and_events_of_proto(known: Catalogue) -> None:
    assert {"inventory", "workforce", "capacity"} <= set(known.events)
    assert "StockReceived" in known.events["inventory"]
    assert "StoreProfile" not in known.events["capacity"]  # a building block, not an event


def test_store_partner_reads_only_its_store_and_publishes_only_to_its_consumer(
    tmp_path: Path, known: Catalogue
) -> None:
    (partner,) = _load(tmp_path, known, _partner(reads={"inventory": ["StockReceived"]}))
    perms = partner_permissions(partner)
    assert perms["subscribe"]["allow"] == [
        "_INBOX.courier.>",
        "inventory.v1.SZ01.StockReceived",
    ]
    assert perms["publish"]["allow"] == [
        "$JS.API.CONSUMER.CREATE.INVENTORY.courier.inventory.v1.SZ01.StockReceived",
        "$JS.API.CONSUMER.INFO.INVENTORY.courier",
        "$JS.API.CONSUMER.MSG.NEXT.INVENTORY.courier",
        "$JS.API.CONSUMER.DELETE.INVENTORY.courier",
        "$JS.ACK.INVENTORY.courier.>",
    ]


def test_service_publishes_its_own_context_only() -> None:
    allowed = service_permissions("workforce")["publish"]["allow"]
    events = [s for s in allowed if not s.startswith("$JS.")]
    assert events == ["workforce.v1.>", "deadletter.v1.workforce.>"]
    assert "$JS.API.STREAM.CREATE.INVENTORY" not in allowed


@pytest.mark.parametrize(
    ("overrides", "complaint"),
    [
        ({"reads": {"billing": "all"}}, "no context 'billing'"),
        ({"reads": {"inventory": ["StoreProfile"]}}, "has no events ['StoreProfile']"),
        ({"reads": {}}, "reads nothing"),
        ({"stores": ["SZ.01"]}, "store codes"),
        ({"stores": ["*"]}, "store codes"),
        ({"nkeys": ["SUAME4GZ3WJVFMJNMU4L4RZYJYTQPMRJ6BAODWBIHXPQRGOZNVMUUK6ZGU"]}, "NKeys"),
        ({"name": "Courier_1"}, "partner name"),
        ({"consumers": ["a.b"]}, "consumer names"),
    ],
)
def test_refuses_a_grant_that_is_not_a_store_or_event_we_have(
    tmp_path: Path, known: Catalogue, overrides: dict[str, Any], complaint: str
) -> None:
    with pytest.raises(AccessError, match=complaint.replace("[", r"\[").replace("]", r"\]")):
        _load(tmp_path, known, _partner(**overrides))


def test_refuses_a_key_or_consumer_shared_by_two_partners(tmp_path: Path, known: Catalogue) -> None:
    key = new_user_nkey()[0]
    with pytest.raises(AccessError, match="one partner only"):
        _load(tmp_path, known, _partner(nkeys=[key]), _partner(name="other", nkeys=[key]))
    with pytest.raises(AccessError, match="one partner only"):
        _load(tmp_path, known, _partner(), _partner(name="other", consumers=["courier"]))


def test_user_nkey_check_catches_a_typo() -> None:
    public, _ = new_user_nkey()
    assert valid_user_nkey(public)
    typo = public[:10] + ("A" if public[10] != "A" else "B") + public[11:]
    assert not valid_user_nkey(typo)


def test_a_service_with_nkeys_gets_a_user_per_key_and_no_password(
    tmp_path: Path, known: Catalogue
) -> None:
    old, new = new_user_nkey()[0], new_user_nkey()[0]
    path = tmp_path / "partners.yaml"
    path.write_text(yaml.safe_dump({"services": {"inventory": {"nkeys": [old, new]}}}))
    conf = generate(path)
    assert conf.count(f'nkey: "{old}"') == conf.count(f'nkey: "{new}"') == 1
    assert 'user: "inventory"' not in conf
    assert 'user: "workforce", password: $STOREMESH_NATS_WORKFORCE_PASSWORD' in conf


@pytest.mark.parametrize(
    "services",
    [{"billing": {"nkeys": ["UX"]}}, {"inventory": {"nkeys": ["not-a-key"]}}, {"inventory": {}}],
)
def test_refuses_service_keys_of_no_context_or_not_keys(
    tmp_path: Path, known: Catalogue, services: dict[str, Any]
) -> None:
    path = tmp_path / "partners.yaml"
    path.write_text(yaml.safe_dump({"services": services}))
    with pytest.raises(AccessError):
        load_service_keys(path, known)


def test_refuses_a_key_shared_by_a_service_and_a_partner(tmp_path: Path, known: Catalogue) -> None:
    key = new_user_nkey()[0]
    path = tmp_path / "partners.yaml"
    path.write_text(
        yaml.safe_dump(
            {"partners": [_partner(nkeys=[key])], "services": {"inventory": {"nkeys": [key]}}}
        )
    )
    with pytest.raises(AccessError):
        generate(path)
