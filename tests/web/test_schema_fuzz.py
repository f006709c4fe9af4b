"""schemathesis against the API's own OpenAPI schema, in-process (ASGI): no 5xx, and every
response (status, content type, headers, body) matches the schema. Valid and invalid requests;
a few dozen examples per operation so the whole run stays well under a minute.

Every check runs but `positive_data_acceptance`: the API rightly answers some schema-valid
requests with a documented 422 naming the parameter (a locale code Babel does not know, a
window of '0d'), which a schema cannot express."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import checks

from kb.analytics.store import open_store

pytestmark = pytest.mark.slow

ADMIN_KEY = "fuzz-admin-key-0123456789"
EXAMPLES = {"/v1/admin/gaps": 8}  # each call embeds and clusters the log


@pytest.fixture(scope="module")
def api_schema(small_index: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from kb.search.engine import Engine
    from kb.web.app import create_app
    from kb.web.security import SecurityConfig

    content, data = small_index
    work = tmp_path_factory.mktemp("fuzz")
    shutil.copytree(content, work / "content")  # the admin API may approve drafts: never in the shared fixture
    store = open_store(work)
    mp = pytest.MonkeyPatch()
    mp.setenv("KB_ADMIN_KEY", ADMIN_KEY)
    app = create_app(data, engine=Engine(data), store=store, content_dir=work / "content", retention_days=None,
                     security=SecurityConfig(rate=0))
    yield schemathesis.openapi.from_asgi("/openapi.json", app)
    mp.undo()
    store.close()


def _runner(operation: Any, mode: schemathesis.GenerationMode) -> Any:
    headers = {"X-API-Key": ADMIN_KEY} if operation.path.startswith("/v1/admin") else None

    @settings(max_examples=EXAMPLES.get(operation.path, 40), deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(mode))
    def run(case: Any) -> None:
        response = case.call_and_validate(headers=headers, excluded_checks=[checks.positive_data_acceptance])
        assert response.status_code < 500, response.text

    return run


# schemathesis' own pytest integration (from_fixture / parametrize) breaks on pytest 9 (it sets
# Node._nodeid, which pytest 9 removed), so each operation is driven through its hypothesis strategy.
@pytest.mark.parametrize("mode", [schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE])
def test_api_conforms_to_its_schema(api_schema: Any, mode: schemathesis.GenerationMode) -> None:
    failures: dict[str, str] = {}
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert {"GET /v1/search", "POST /v1/answer", "POST /v1/feedback", "GET /v1/admin/gaps"} <= {
        op.label for op in operations}
    for operation in operations:
        try:
            _runner(operation, mode)()
        except Unsatisfiable:
            assert mode == schemathesis.GenerationMode.NEGATIVE, operation.label  # no parameters to get wrong
        except Exception as exc:  # noqa: BLE001 - collect every operation's failure, then report them all
            failures[operation.label] = f"{type(exc).__name__}: {exc}"[:3000]
    assert not failures, "\n\n".join(f"{label}:\n{text}" for label, text in failures.items())
