"""Schemathesis against each of the three services, live over HTTP, from the OpenAPI
document it serves, with the admin's token: generated requests (valid and invalid, and
valid ones naming seeded items) must get no server error and an answer whose status,
content type, headers and body the document describes. The catch-all ``default`` response
is taken out, so every status a service answers must be documented.

The examples per operation are bounded (``OKR_LIVE_FUZZ_EXAMPLES``, default 8), so each
service takes well under a minute; the goals API is also fuzzed in process, harder
(``test_goals_api_fuzz.py``), and every documented read is compared with real answers of
seeded services in ``tests/platform/http/test_api_language.py``.
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.platform.fuzz.test_goals_api_fuzz import CHECKS, _cases, _without_default_responses
from tests.support.live_apis import AUTHORIZATION, LiveApi

EXAMPLES = int(os.environ.get("OKR_LIVE_FUZZ_EXAMPLES", "8"))
SQLITE_ONLY = [pytest.param("sqlite")]


def fuzz(api: LiveApi) -> None:
    schema = schemathesis.openapi.from_dict(_without_default_responses(api.document()))
    failures: dict[str, BaseException] = {}
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=_cases(operation, api.existing))
        @settings(max_examples=EXAMPLES, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        def conforms(case: schemathesis.Case) -> None:
            case.call_and_validate(base_url=api.url, headers=AUTHORIZATION, checks=CHECKS)

        try:
            conforms()
        except (Exception, BaseExceptionGroup) as failure:  # report every failing operation
            failures[operation.label] = failure
    if failures:
        pytest.fail("\n\n".join(f"== {label}\n{failure}" for label, failure in failures.items()),
                    pytrace=False)


@pytest.mark.parametrize("goals_database_url", SQLITE_ONLY, indirect=True)
def test_live_goals_api_conforms_to_its_openapi_document(live_goals: LiveApi) -> None:
    fuzz(live_goals)


@pytest.mark.parametrize("metrics_database_url", SQLITE_ONLY, indirect=True)
def test_live_metrics_api_conforms_to_its_openapi_document(live_metrics: LiveApi) -> None:
    fuzz(live_metrics)


@pytest.mark.parametrize("notifications_database_url", SQLITE_ONLY, indirect=True)
def test_live_notifications_api_conforms_to_its_openapi_document(
        live_notifications: LiveApi) -> None:
    fuzz(live_notifications)
