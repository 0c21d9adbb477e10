"""The console's settings refuse what they cannot use, naming the variable."""

from __future__ import annotations

import pytest

from services.console.config import ConsoleConfig
from shared.config import ConfigurationError


def test_stale_key_results_are_those_without_a_check_in_for_14_days_unless_set() -> None:
    assert ConsoleConfig.from_env({}).stale_after_days == 14.0
    assert ConsoleConfig.from_env({"OKR_CONSOLE_STALE_AFTER_DAYS": "2.5"}).stale_after_days \
        == 2.5


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf", "100000", "1e308", "two"])
def test_a_stale_after_days_setting_that_is_no_number_of_days_is_refused(value: str) -> None:
    with pytest.raises(ConfigurationError, match="OKR_CONSOLE_STALE_AFTER_DAYS"):
        ConsoleConfig.from_env({"OKR_CONSOLE_STALE_AFTER_DAYS": value})
