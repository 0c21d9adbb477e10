"""Domain rules for departments, cycles and tokens, without any I/O."""

from __future__ import annotations

from datetime import date

import pytest

from services.goals.domain.access import ApiToken, Principal, Role, hash_token
from services.goals.domain.errors import Forbidden, InvalidInput
from services.goals.domain.reference_data import Cycle, Department


@pytest.mark.parametrize("key", ["", "s", "Sales", "1sales", "sales team", "x" * 41])
def test_department_key_must_be_a_lowercase_slug(key: str) -> None:
    with pytest.raises(InvalidInput) as error:
        Department.new(key, "Name")
    assert error.value.field == "key"


def test_renaming_a_department_bumps_its_version() -> None:
    department = Department.new("sales", "Sales")
    department.rename("  Sales & Partnerships ")
    assert (department.name, department.version) == ("Sales & Partnerships", 2)


def test_cycle_must_end_after_it_starts_and_last_at_most_two_years() -> None:
    with pytest.raises(InvalidInput, match="after starts_on"):
        Cycle.new("q", date(2026, 10, 1), date(2026, 10, 1))
    with pytest.raises(InvalidInput, match="at most"):
        Cycle.new("q", date(2026, 1, 1), date(2028, 6, 1))
    cycle = Cycle.new("2026-Q4", date(2026, 10, 1), date(2026, 12, 31))
    assert cycle.name == "2026-Q4"


def test_changing_a_cycle_revalidates_its_dates() -> None:
    cycle = Cycle.new("2026-Q4", date(2026, 10, 1), date(2026, 12, 31))
    with pytest.raises(InvalidInput):
        cycle.change(name=None, starts_on=date(2027, 1, 1), ends_on=None)


def test_minted_token_is_stored_only_as_a_hash_of_its_secret() -> None:
    token, secret = ApiToken.mint("crm sync", Role.HEAD, "sales", created_by="admin")
    assert secret.startswith("okr_") and len(secret) > 40
    assert token.token_hash == hash_token(secret) != secret
    assert token.principal().department == "sales"


def test_head_tokens_need_a_department_and_others_must_not_have_one() -> None:
    with pytest.raises(InvalidInput):
        ApiToken.mint("h", Role.HEAD, None, created_by="admin")
    with pytest.raises(InvalidInput):
        ApiToken.mint("v", Role.VIEWER, "sales", created_by="admin")


def test_head_writes_only_its_own_department() -> None:
    head = Principal(name="sales head", role=Role.HEAD, department="sales")
    head.require_department_writer("sales", "edit objectives")
    with pytest.raises(Forbidden):
        head.require_department_writer("marketing", "edit objectives")
    with pytest.raises(Forbidden):
        Principal(name="v", role=Role.VIEWER).require_department_writer("sales", "edit")
    with pytest.raises(Forbidden):
        head.require_admin("create cycles")
