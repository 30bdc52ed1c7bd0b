"""The health blueprint's functions called directly, with fake dependencies behind bootstrap()."""

from __future__ import annotations

import json
from types import SimpleNamespace

import azure.functions as func
import pytest

from functions import health
from shared import build_info, config
from shared.services.health import ReadinessService

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


def with_probes(monkeypatch, settings, *probes):
    readiness = ReadinessService("fn1", probes, timeout_s=0.5, cache_s=3)
    monkeypatch.setattr(health, "bootstrap", lambda: SimpleNamespace(settings=settings, readiness=readiness))


def request(path):
    return func.HttpRequest("GET", f"http://localhost/api/{path}", body=b"")


def test_health_is_alive_without_io(monkeypatch):
    monkeypatch.setattr(health, "bootstrap", lambda: pytest.fail("liveness must not touch dependencies"))
    response = health.health.build().get_user_function()(request("health"))
    assert response.status_code == 200
    assert json.loads(response.get_body()) == {"status": "ok", "region": "fn1", "version": "0.1.0",
                                                 "build": build_info.current()}


def test_ready_is_200_when_dependencies_answer(monkeypatch, settings):
    with_probes(monkeypatch, settings, Probe("cosmos"), Probe("blob"))
    response = health.health_ready.build().get_user_function()(request("health/ready"))
    assert response.status_code == 200
    assert json.loads(response.get_body())["status"] == "ready"


def test_ready_is_503_with_retry_after_naming_the_failed_check(monkeypatch, settings):
    with_probes(monkeypatch, settings, Probe("cosmos", fails=True), Probe("blob"))
    response = health.health_ready.build().get_user_function()(request("health/ready"))
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "3"
    body = json.loads(response.get_body())
    assert body["type"] == "not-ready"
    assert body["detail"] == "cosmos failed"
    assert body["checks"]["cosmos"] == {"status": "failed", "durationMs": body["checks"]["cosmos"]["durationMs"],
                                        "error": "TimeoutError"}


def test_drained_instance_is_503(monkeypatch, settings):
    with_probes(monkeypatch, settings, Probe("cosmos"), Probe("blob", drained=True))
    response = health.health_ready.build().get_user_function()(request("health/ready"))
    assert response.status_code == 503
    assert json.loads(response.get_body())["detail"] == "drained by operator"
