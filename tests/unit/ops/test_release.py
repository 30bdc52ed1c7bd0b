"""ops/release.py's rules that need no host: it never drains the last region serving, a step
that fails stops the release before the next stamp is touched, and each stamp's management app is
released after its API app serves again."""

from __future__ import annotations

import json

import pytest

from ops import release
from ops.release import Plan, Release, ReleaseError, Stamp

A, B = Stamp("a", "http://a/api"), Stamp("b", "http://b/api")


def plan(**overrides) -> Plan:
    return Plan([A, B], drain="drain {region}", undrain="undrain {region}", deploy="deploy {region}",
                build="b1", router_wait_s=0, ready_timeout_s=0.5, poll_s=0.01, **overrides)


def test_the_last_region_serving_is_never_drained(monkeypatch):
    monkeypatch.setattr(release, "ready", lambda stamp: stamp is A)  # b is down
    ran = []
    with pytest.raises(ReleaseError, match="a: not drained: it is the only region serving"):
        Release(plan(), run=lambda argv: ran.append(argv) or 0).drain(A)
    assert ran == []


def test_a_region_whose_readiness_blinks_does_not_stop_the_release(monkeypatch):
    """b misses one probe (busy), then answers: a is drained once b serves, not refused."""
    answers = iter([False, False, True])
    ran = []
    monkeypatch.setattr(release, "ready", lambda stamp: not ran if stamp is A else next(answers, True))
    Release(plan(), run=lambda argv: ran.append(argv) or 0).drain(A)
    assert ran == [["drain", "a"]]


def test_a_failed_drain_stops_before_anything_else(monkeypatch):
    monkeypatch.setattr(release, "ready", lambda stamp: True)
    ran = []
    with pytest.raises(ReleaseError, match="a: drain failed"):
        Release(plan(), run=lambda argv: ran.append(argv) or 1).roll()
    assert ran == [["drain", "a"]]  # b untouched, nothing deployed


# --- two apps per stamp: the management app after its stamp's API app ------------------------------

def _stamp(region: str) -> Stamp:
    return Stamp(region, f"http://{region}/api", app=f"func-{region}", storage=f"st{region}",
                 management=f"func-{region}-mgmt", management_endpoint=f"http://{region}-mgmt/api")


class Regions:
    """Each API app's readiness follows the drain switch the fake commands set; every app runs b1."""

    def __init__(self):
        self.drained: set[str] = set()
        self.ran: list[list[str]] = []
        self.fail: list[str] | None = None

    def run(self, argv: list[str]) -> int:
        self.ran.append(argv)
        if argv[0] == "drain":
            self.drained.add(argv[1])
        elif argv[0] == "undrain":
            self.drained.discard(argv[1])
        return 1 if argv == self.fail else 0

    def get_json(self, url: str, timeout: float = 10.0) -> tuple[int, dict]:
        region = url.split("//")[1].split("/", maxsplit=1)[0]
        if url.endswith("/health"):
            return 200, {"build": "b1"}
        if region in self.drained:
            return 503, {"drained": True, "checks": {"cosmos": {"status": "ok"}}}
        return 200, {"checks": {"cosmos": {"status": "ok"}}}


def _plan(stamps: list[Stamp]) -> Plan:
    return Plan(stamps, drain="drain {region}", undrain="undrain {region}", deploy="deploy {app}", build="b1",
                router_wait_s=0, ready_timeout_s=0.5, poll_s=0.01)


def test_each_stamp_releases_its_api_app_then_its_management_app(monkeypatch):
    """Per stamp: drain, the API app, undrain once it serves the build, then the management app (no
    router sends it traffic, so it is deployed outside the drain); then the next stamp."""
    regions = Regions()
    monkeypatch.setattr(release, "get_json", regions.get_json)
    Release(_plan([_stamp("a"), _stamp("b")]), run=regions.run).roll()
    assert regions.ran == [["drain", "a"], ["deploy", "func-a"], ["undrain", "a"], ["deploy", "func-a-mgmt"],
                           ["drain", "b"], ["deploy", "func-b"], ["undrain", "b"], ["deploy", "func-b-mgmt"]]


def test_a_failed_management_deploy_stops_the_release_with_its_api_back_in_rotation(monkeypatch):
    regions = Regions()
    regions.fail = ["deploy", "func-a-mgmt"]
    monkeypatch.setattr(release, "get_json", regions.get_json)
    with pytest.raises(ReleaseError, match="a: deploy management failed"):
        Release(_plan([_stamp("a"), _stamp("b")]), run=regions.run).roll()
    assert regions.drained == set()  # a serves clients on the new build
    assert ["drain", "b"] not in regions.ran  # b untouched


def test_the_release_waits_for_the_management_app_to_run_the_build(monkeypatch):
    regions = Regions()
    monkeypatch.setattr(release, "get_json", lambda url, timeout=10.0: (
        (200, {"build": "b0"}) if url == "http://a-mgmt/api/health" else regions.get_json(url)))
    with pytest.raises(ReleaseError, match="a's management app to run build b1"):
        Release(_plan([_stamp("a")]), run=regions.run).management(_stamp("a"))


def test_undrain_after_azd_waits_for_the_management_app_without_deploying_it(monkeypatch):
    """postdeploy: azd deployed both apps of the primary stamp; undrain does not deploy again."""
    regions = Regions()
    monkeypatch.setattr(release, "get_json", regions.get_json)
    stamps = json.dumps([vars(_stamp("a"))])
    code = release.main(["undrain", "a", "--stamps", stamps, "--undrain-cmd", "true", "--deploy-cmd", "false",
                         "--build", "b1", "--poll", "0.01", "--ready-timeout", "1"])
    assert code == 0  # `false` as the deploy would have failed it


def test_the_stamps_come_with_their_management_apps_from_the_azd_outputs():
    env = {"REGIONS": "a,b", "API_ENDPOINTS": "http://a/api,http://b/api", "AZURE_FUNCTION_APP_NAMES": "func-a,func-b",
           "STORAGE_ACCOUNT_NAMES": "sta,stb", "AZURE_MANAGEMENT_APP_NAMES": "func-a-mgmt,func-b-mgmt",
           "MANAGEMENT_ENDPOINTS": "http://a-mgmt/api,http://b-mgmt/api"}
    assert release.stamps_from_env(env) == [_stamp("a"), _stamp("b")]


def test_with_private_networking_the_drain_switch_is_the_api_apps_drain_setting():
    """Storage takes no public traffic then: the drain blob can't be written from the operator's machine."""
    drain, undrain = release.switch_commands({"PRIVATE_NETWORKING": "true"})
    assert "--name {app}" in drain and "DRAIN=true" in drain and "DRAIN=false" in undrain
    assert release.switch_commands({}) == (release.AZ_DRAIN, release.AZ_UNDRAIN)
