"""Every retention variable of every service is a finite number above 0 and at most a
hundred years, in ASCII, or the service refuses to start naming it: 0 or less purged
processed-event ids the moment they were recorded (every redelivery applied twice), and
``inf`` or ``1e400`` crashed the workers with an OverflowError instead of a message."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.goals.config import GoalsConfig
from services.metrics.config import MetricsConfig
from services.notifications.config import NotificationsConfig
from shared.config import MAX_RETENTION_DAYS, ConfigurationError

VARIABLES = {
    "OKR_OUTBOX_RETENTION_HOURS": (GoalsConfig, MetricsConfig, NotificationsConfig),
    "OKR_PROCESSED_EVENTS_RETENTION_HOURS": (MetricsConfig, NotificationsConfig),
    "OKR_IDEMPOTENCY_RETENTION_HOURS": (GoalsConfig, NotificationsConfig),
    "OKR_AUDIT_RETENTION_DAYS": (GoalsConfig,),
    "OKR_DELIVERY_RETENTION_DAYS": (NotificationsConfig,),
}
HOSTILE = ["0", "-0", "-5", "-1e-9", "inf", "-inf", "nan", "1e400", "99999999999999999999",
           "soon", "٣٠٠", "\uff13", "1_0", "0x10"]


def _limit(variable: str) -> float:
    return MAX_RETENTION_DAYS * (24 if variable.endswith("HOURS") else 1)


@pytest.mark.parametrize("variable", sorted(VARIABLES))
@pytest.mark.parametrize("value", HOSTILE)
def test_a_retention_that_is_not_a_sane_positive_number_is_refused_naming_it(
        variable: str, value: str, tmp_path: Path) -> None:
    for config in VARIABLES[variable]:
        with pytest.raises(ConfigurationError, match=variable):
            config.from_env({"OKR_DATA_DIR": str(tmp_path), variable: value})


@settings(max_examples=60, deadline=None)
@given(variable=st.sampled_from(sorted(VARIABLES)),
       value=st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(repr),
                       st.text(max_size=8)))
def test_any_value_starts_with_it_or_is_refused_never_a_crash(variable: str,
                                                               value: str) -> None:
    environ = {"OKR_DATA_DIR": ".okr-data-retention-test", variable: value}
    if variable == "OKR_PROCESSED_EVENTS_RETENTION_HOURS":  # may not be below the outbox's
        environ["OKR_OUTBOX_RETENTION_HOURS"] = "0.001"
    for config in VARIABLES[variable]:
        try:
            config.from_env(environ)
        except ConfigurationError as refused:
            assert variable in str(refused)
            continue
        if not value.strip():
            continue  # empty: unset, the default
        number = float(value)
        assert "_" not in value and value.strip().isascii()
        assert math.isfinite(number) and 0 < number <= _limit(variable)


def test_a_hundred_years_is_the_longest_and_is_accepted(tmp_path: Path) -> None:
    config = GoalsConfig.from_env({"OKR_DATA_DIR": str(tmp_path),
                                   "OKR_AUDIT_RETENTION_DAYS": str(MAX_RETENTION_DAYS),
                                   "OKR_OUTBOX_RETENTION_HOURS": "0.5"})
    assert config.audit_retention_days == MAX_RETENTION_DAYS
    with pytest.raises(ConfigurationError, match="OKR_AUDIT_RETENTION_DAYS"):
        GoalsConfig.from_env({"OKR_DATA_DIR": str(tmp_path),
                              "OKR_AUDIT_RETENTION_DAYS": str(MAX_RETENTION_DAYS + 1)})
