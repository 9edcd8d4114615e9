"""Sealing customers' personal data (kernel/personal_data.py): the cipher alone."""

from __future__ import annotations

import pytest

from kernel.personal_data import FORGOTTEN, PREFIX, new_key, seal, unseal

NAME = "李雷"
PHONE = "+86 138 0013 8000"


def test_a_sealed_name_reads_back_with_the_customers_key() -> None:
    key = new_key()
    sealed = seal(key, "C-1", "name", NAME)
    assert sealed.startswith(PREFIX)
    assert NAME not in sealed and NAME.encode() not in sealed.encode()
    assert unseal(key, "C-1", "name", sealed) == NAME


def test_the_same_value_sealed_twice_looks_different() -> None:
    key = new_key()
    assert seal(key, "C-1", "phone", PHONE) != seal(key, "C-1", "phone", PHONE)


def test_once_the_key_is_destroyed_the_value_reads_forgotten() -> None:
    sealed = seal(new_key(), "C-1", "phone", PHONE)
    assert unseal(None, "C-1", "phone", sealed) == FORGOTTEN


def test_a_new_key_for_a_customer_seen_again_does_not_bring_the_old_value_back() -> None:
    sealed = seal(new_key(), "C-1", "phone", PHONE)
    assert unseal(new_key(), "C-1", "phone", sealed) == FORGOTTEN


@pytest.mark.parametrize(("customer", "field"), [("C-2", "name"), ("C-1", "phone")])
def test_a_sealed_value_cannot_pass_for_another_customer_or_field(
    customer: str, field: str
) -> None:
    key = new_key()
    sealed = seal(key, "C-1", "name", NAME)
    assert unseal(key, customer, field, sealed) == FORGOTTEN


def test_nothing_sealed_stays_nothing_and_clear_text_is_not_taken_for_sealed() -> None:
    key = new_key()
    assert seal(key, "C-1", "name", "") == ""
    assert unseal(key, "C-1", "name", "") == ""
    with pytest.raises(ValueError, match="name is not a sealed value"):
        unseal(key, "C-1", "name", NAME)
