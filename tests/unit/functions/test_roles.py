"""One package, two function apps (APP_ROLE): the API serves clients and runs nothing on its own;
the management plane runs the sweeps, conflicts, the dispatcher and the admin routes; `all` both."""

from __future__ import annotations

import importlib
import sys

import pytest

from shared.config import DEFAULTS, app_role, load_settings
from shared.config_reader import ConfigError
from tests.support import product_env

OWN_TRIGGERS = {"timerTrigger", "queueTrigger", "cosmosDBTrigger", "orchestrationTrigger", "activityTrigger"}


def indexed(monkeypatch, role: str | None) -> dict[str, tuple[str, str]]:
    """The functions function_app.py indexes under APP_ROLE=role: name -> (trigger type, route)."""
    if role is None:
        monkeypatch.delenv("APP_ROLE", raising=False)
    else:
        monkeypatch.setenv("APP_ROLE", role)
    sys.modules.pop("function_app", None)
    app = importlib.import_module("function_app").app
    sys.modules.pop("function_app", None)
    found = {}
    for function in app.get_functions():
        trigger = function.get_trigger()
        found[function.get_function_name()] = (trigger.get_binding_name(), getattr(trigger, "route", "") or "")
    return found


def test_the_api_runs_nothing_on_its_own_and_serves_no_admin_route(monkeypatch):
    api = indexed(monkeypatch, "api")
    assert not {name for name, (kind, _) in api.items() if kind in OWN_TRIGGERS} - {"transcription_requested"}
    assert not [route for _, route in api.values() if route.startswith("admin/")]
    assert {"deposit_message", "incoming_audio", "health", "not_found"} <= set(api)


def test_the_management_plane_runs_the_sweeps_conflicts_and_dispatcher_and_serves_no_mailbox(monkeypatch):
    management = indexed(monkeypatch, "management")
    assert {"resolve_conflicts", "dispatch_notifications", "notifications_changed", "replay_journal",
            "retention_timer", "replication_timer", "list_dead_letters", "start_sweep", "health",
            "export_timer", "export_build", "export_write"} <= set(management)
    assert management["notifications_changed"][0] == "cosmosDBTrigger"
    assert not [route for _, route in management.values() if route.startswith("mailboxes/")]


def test_all_is_both_and_the_default(monkeypatch):
    everything = indexed(monkeypatch, None)
    assert set(everything) == set(indexed(monkeypatch, "api")) | set(indexed(monkeypatch, "management"))
    assert DEFAULTS["APP_ROLE"] == app_role({}) == "all"


def test_a_role_that_is_not_one_serves_all_and_readiness_names_it():
    assert app_role({"APP_ROLE": "apis"}) == "all"
    with pytest.raises(ConfigError, match="APP_ROLE"):
        load_settings(product_env("r1", APP_ROLE="apis"))
