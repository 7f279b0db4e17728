"""schemathesis against the service's own /openapi.json: generated requests, valid and
not, never get a 5xx, and every response matches what the document promises
(status codes, content types, bodies)."""

from __future__ import annotations

from typing import Any

import pytest
import redis
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from redvec.index import SearchIndex

from .conftest import RunningService
from .test_service import DIMS, corpus, schema


@pytest.fixture()
def api_schema(service: RunningService, r: redis.Redis) -> Any:
    idx = SearchIndex.create(r, schema())
    idx.upsert(corpus(50)[0])
    idx.wait_indexed()
    return schemathesis.openapi.from_url(f"{service.url}/openapi.json")


def test_the_service_keeps_its_openapi_promises(api_schema: Any) -> None:
    checks = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
    ]
    statuses: list[tuple[str, int]] = []
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 12  # every route is in the document
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=25,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def run(case: Any) -> None:
            # Aim most requests at a real index, so searches and document calls get past
            # the 404 into validation and Redis; dropping it would starve the rest.
            if "name" in (case.path_parameters or {}) and case.method != "DELETE":
                case.path_parameters["name"] = "docs"
            if case.path.endswith("/search") and isinstance(case.body, dict):
                _searchable(case.body)
            if case.path.endswith("/batch") and isinstance(case.body, dict):
                for search in case.body.get("searches") or []:
                    if isinstance(search, dict):
                        _searchable(search)
            statuses.append((case.path, case.call_and_validate(checks=checks).status_code))

        run()
    # the fuzzing got past validation into Redis, not only into 422s
    assert statuses.count(("/v1/indexes/{name}/search", 200)) >= 2


def _searchable(body: dict[str, Any]) -> None:
    """Generated searches get a vector of the index's dimension (and lose the parts a FLAT
    index without a provider refuses, or that name fields it lacks), so they reach Redis;
    the rest of each body (k, and what else was generated) is sent as generated. Which
    bodies hypothesis generates shifts with every change to the OpenAPI document, so the
    searches are not left to chance."""
    given = body.get("vector")
    body["vector"] = ([*given, 0.25] * DIMS)[:DIMS] if isinstance(given, list) else [0.25] * DIMS
    for key in ("vector_b64", "text", "hybrid", "ef_runtime", "filter", "mode", "return_fields"):
        body.pop(key, None)
