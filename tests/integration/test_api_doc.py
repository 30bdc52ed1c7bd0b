"""docs/api.md lists exactly the operations the app serves: every operation of the OpenAPI document
the local host serves at /api/openapi.json is in docs/api.md's Operations table, and vice versa."""

from __future__ import annotations

import re

import pytest

from tests.support import ROOT

pytestmark = pytest.mark.integration
METHODS = {"get", "put", "post", "patch", "delete", "head", "options"}
TWIN = "/api/tenants/{tenantId}/mailboxes/"


def documented() -> set[tuple[str, str]]:
    text = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    section = text.split("## Operations", 1)
    assert len(section) == 2, "docs/api.md has no Operations section"
    return set(re.findall(r"^\| `([A-Z]+)` \| `(/[^`]*)` \|", section[1], re.MULTILINE))


def test_docs_api_lists_every_served_operation_and_nothing_else(api):
    served_document = api.http.get("/openapi.json").json()
    # A mailbox operation's twin under its tenant is documented by its row and one sentence.
    served = {(method.upper(), path.replace(TWIN, "/api/mailboxes/", 1))
              for path, operations in served_document["paths"].items() for method in operations if method in METHODS}
    assert served, "the served document has no operations"
    listed = documented()
    assert not served - listed, f"served but not in docs/api.md: {sorted(served - listed)}"
    assert not listed - served, f"in docs/api.md but not served: {sorted(listed - served)}"
