"""Shared fixtures. The integration ring needs the local stack: `make test` starts it around the
run; a single-process pytest run starts it here (reusing emulators that already answer)."""

from __future__ import annotations

import os

import pytest

from devstack import localstack
from shared.domain.views import View
from shared.telemetry import in_tenant

# Every answer the app builds in a test, in-process or in a host the test starts, is validated
# against its published model (shared/domain/views.py, `View.build`).
os.environ["VALIDATE_VIEWS"] = "true"
View.validated = True


@pytest.fixture(autouse=True)
def _no_tenant_from_an_earlier_test():
    """In production each invocation names its tenant (functions/table.py) before anything is
    recorded; a test calling services directly starts from none, whatever the test before it did."""
    in_tenant(None)


@pytest.fixture(scope="session")
def stack():
    """The emulators, up for the whole session; stopped at the end only if started here."""
    services = localstack.default_services()
    if os.environ.get("PYTEST_XDIST_WORKER") and not all(service.answers() for service in services):
        pytest.fail("parallel runs need the stack up first: use `make test`, or `make stack-up` before pytest -n")
    started = localstack.up(services)
    yield
    localstack.down(started)


# The longest files of `make test`'s parallel phase (its --durations; the drills run apart, after it).
LONGEST_FIRST = ("tests/integration/test_openapi_live.py", "tests/integration/test_sweeps.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """`make test` hands out whole files (--dist loadfile) in collection order: the longest files
    go first, so neither worker is left with a long one at the end."""
    items.sort(key=lambda item: not item.nodeid.startswith(LONGEST_FIRST))
