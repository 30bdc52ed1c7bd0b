"""One mailbox id created in two regions at once (a partition between them): once they meet, both
regions agree on one incarnation, so one owner's PIN and tokens work everywhere and the other's
nowhere."""

from __future__ import annotations

import pytest

from devstack import replicator
from tests.integration.api_support import PLATFORM, new_mailbox_id
from tests.integration.test_partition import regions  # noqa: F401 - the two-region fixture
from tests.support import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]


def test_a_mailbox_created_in_two_regions_at_once_converges_to_one_incarnation(regions):  # noqa: F811
    apis, endpoints, state = regions
    a, b = apis["a"], apis["b"]
    mailbox = new_mailbox_id()
    replicator.partition(state)
    try:
        a.provision(mailbox, pin="1111")
        b.provision(mailbox, pin="2222")
        tokens = {"1111": a.login(mailbox, "1111"), "2222": b.login(mailbox, "2222")}
    finally:
        replicator.heal(state)
    replicator.wait_converged(endpoints, timeout=60, state_dir=state)

    def working() -> dict[str, set[str]] | None:
        """Per region, which owner's token reads the mailbox; once both regions agree on one."""
        seen = {name: {pin for pin, token in tokens.items()
                       if api.http.get(api.mailbox_path(mailbox), headers=token).status_code == 200}
                for name, api in (("a", a), ("b", b))}
        return seen if seen["a"] == seen["b"] and len(seen["a"]) == 1 else None

    agreed = wait_until(working, 60, interval=1, message="both regions on one incarnation")
    (winner,) = agreed["a"]
    loser = "2222" if winner == "1111" else "1111"
    for api in (a, b):
        path = f"{api.mailbox_path(mailbox)}/sessions"
        assert api.http.post(path, json={"pin": winner}).status_code == 201
        assert api.http.post(path, json={"pin": loser}).status_code == 401
        refused = api.http.get(api.mailbox_path(mailbox), headers=tokens[loser])
        assert refused.status_code == 401 and refused.json()["type"] == "invalid-token"
    assert a.http.get(a.mailbox_path(mailbox), headers=PLATFORM).json()["etag"]
