"""The health probes' functions called directly, with fake dependencies in the app provider."""

from __future__ import annotations

import json
from types import SimpleNamespace

import azure.functions as func
import pytest

from functions.provider import APP
from shared import build_info, config
from shared.services.health import ReadinessService
from tests.support import route_functions

ENV = {
    "REGION": "fn1",
    "COSMOS_ENDPOINT": "http://127.0.0.1:1/",
    "COSMOS_KEY": "k",
    "AzureWebJobsStorage": "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;",
    "HEALTH_CACHE_SECONDS": "3",
    "PLATFORM_KEY_HASHES": "a" * 64,
    "TOKEN_SIGNING_KEY": "A" * 44,
    "PIN_PEPPER": "P" * 44,
}


class Probe:
    def __init__(self, name, fails=False, drained=False):
        self.name, self.fails, self.drained = name, fails, drained

    def check(self):
        if self.fails:
            raise TimeoutError("stalled")
        return {"drained": self.drained}


@pytest.fixture(autouse=True)
def settings(monkeypatch):
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    config.settings.cache_clear()
    yield config.settings()
    config.settings.cache_clear()


@pytest.fixture
def probed(settings):
    """Serve an app whose readiness asks these probes."""
    def serve(*probes):
        readiness = ReadinessService("fn1", probes, timeout_s=0.5, cache_s=3)
        return APP.override(SimpleNamespace(settings=settings, readiness=readiness))
    return serve


class Untouchable:
    def __getattr__(self, name):
        pytest.fail("liveness must not touch dependencies")


def request(path):
    return func.HttpRequest("GET", f"http://localhost/api/{path}", body=b"")


def test_health_is_alive_without_io():
    with APP.override(Untouchable()):
        response = route_functions()["health"](request("health"))
    assert response.status_code == 200
    assert json.loads(response.get_body()) == {"status": "ok", "region": "fn1", "version": "0.1.0",
                                                 "build": build_info.current()}


def test_ready_is_200_when_dependencies_answer(probed):
    with probed(Probe("cosmos"), Probe("blob")):
        response = route_functions()["health_ready"](request("health/ready"))
    assert response.status_code == 200
    assert json.loads(response.get_body())["status"] == "ready"


def test_ready_is_503_with_retry_after_naming_the_failed_check(probed):
    with probed(Probe("cosmos", fails=True), Probe("blob")):
        response = route_functions()["health_ready"](request("health/ready"))
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "3"
    body = json.loads(response.get_body())
    assert body["type"] == "not-ready"
    assert body["detail"] == "cosmos failed"
    assert body["checks"]["cosmos"] == {"status": "failed", "durationMs": body["checks"]["cosmos"]["durationMs"],
                                        "error": "TimeoutError"}


def test_drained_instance_is_503(probed):
    with probed(Probe("cosmos"), Probe("blob", drained=True)):
        response = route_functions()["health_ready"](request("health/ready"))
    assert response.status_code == 503
    assert json.loads(response.get_body())["detail"] == "drained by operator"
