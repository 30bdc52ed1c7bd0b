"""One composition root (issue 21): `build(config, ports)` is the only place services are made. No
service imports an adapter, defaults a collaborator or builds one; the app on fake ports never makes
an SDK client nor opens a connection; the real ports are made once per process."""

from __future__ import annotations

import ast
import dataclasses
import json
import re
import smtplib
import socket
import threading
from pathlib import Path

import pytest
from azure.cosmos import CosmosClient
from azure.storage.blob import BlobServiceClient
from azure.storage.queue import QueueServiceClient

import shared.bootstrap as bootstrap_module
from shared.bootstrap import azure_ports, bootstrap
from shared.composition import Ports, build
from shared.config import load_settings
from shared.domain.commands import PutMailbox
from shared.domain.model import MailboxSettings
from shared.domain.notifications import PutNotifications
from shared.domain.principal import PLATFORM
from shared.services.messages import Sender
from tests.unit.fakes import FAKE_ENV, FakeWebhooks, fake_ports

ROOT = Path(__file__).resolve().parents[2]
SERVICES = sorted((ROOT / "shared" / "services").rglob("*.py"))  # the message use cases' package too


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), str(path))


def _imported(tree: ast.Module) -> set[str]:
    modules = {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    return modules | {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}


def _classes(path: Path) -> set[str]:
    return {node.name for node in ast.walk(_tree(path)) if isinstance(node, ast.ClassDef)}


def _called(node: ast.AST) -> set[str]:
    """The names called within node: `X(...)` and `module.X(...)`."""
    calls = [node.func for node in ast.walk(node) if isinstance(node, ast.Call)]
    return {f.id if isinstance(f, ast.Name) else f.attr for f in calls if isinstance(f, ast.Name | ast.Attribute)}


def _collaborators() -> set[str]:
    """What only the composition root may make or choose: every port (the protocols of
    shared/ports.py, the types the Ports bundle names), every adapter, and whatever `build` makes."""
    ports = {node.name for node in ast.walk(_tree(ROOT / "shared" / "ports.py"))
             if isinstance(node, ast.ClassDef) and any(getattr(b, "id", "") == "Protocol" for b in node.bases)}
    bundle = {name for field in dataclasses.fields(Ports) for name in re.findall(r"[A-Z]\w+", str(field.type))}
    adapters = set().union(*(_classes(path) for path in (ROOT / "shared" / "adapters").glob("*.py")))
    composition = _tree(ROOT / "shared" / "composition.py")
    [build_def] = [node for node in composition.body if isinstance(node, ast.FunctionDef) and node.name == "build"]
    made = {name for name in _called(build_def) if name[:1].isupper()}
    return (ports | bundle | adapters | made) - {"Mapping", "Sequence", "None", "App"}


def test_the_collaborators_this_test_guards_are_the_ones_build_wires():
    guarded = _collaborators()
    assert {"Telemetry", "Regions", "Renditions", "WriteBudget", "SlidingWindow", "SessionEpochs",
            "AudioStore", "CosmosStore", "BlobAudioStore", "SafeWebhookSender"} <= guarded


def test_no_service_and_not_the_composition_root_imports_an_adapter_or_an_sdk():
    offenders = {str(path.relative_to(ROOT)): sorted(m for m in _imported(_tree(path))
                                                      if m.startswith(("shared.adapters", "shared.bootstrap", "azure")))
                 for path in [*SERVICES, ROOT / "shared" / "composition.py"]}
    assert not {path: modules for path, modules in offenders.items() if modules}


def test_no_service_constructor_defaults_or_builds_a_collaborator():
    """A service gets each collaborator from `build`: a parameter naming one has no default, and its
    constructor makes none (`telemetry or Telemetry(region)` is exactly what this refuses)."""
    collaborators, found = _collaborators(), []
    for path in SERVICES:
        for cls in (node for node in ast.walk(_tree(path)) if isinstance(node, ast.ClassDef)):
            for init in (n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"):
                args = init.args
                positional = [*args.posonlyargs, *args.args]
                defaulted = [*zip(positional[len(positional) - len(args.defaults):], args.defaults, strict=True),
                             *((a, d) for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True) if d is not None)]
                for arg, _ in defaulted:
                    named = set(re.findall(r"[A-Z]\w+", ast.unparse(arg.annotation) if arg.annotation else ""))
                    if named & collaborators:
                        found.append(f"{path.relative_to(ROOT)}: {cls.name}({arg.arg}=...) defaults a {sorted(named)}")
                for name in sorted(_called(init) & collaborators):
                    found.append(f"{path.relative_to(ROOT)}: {cls.name}.__init__ makes its own {name}")
    assert not found, "\n".join(found)


class SdkTouched(AssertionError):
    pass


@pytest.fixture
def no_sdk(monkeypatch):
    """Every SDK client, SMTP and socket connection fails the test the moment one is made."""

    def touched(*args, **kwargs):
        raise SdkTouched("an SDK client or a connection was made")

    for cls in (CosmosClient, BlobServiceClient, QueueServiceClient, smtplib.SMTP):
        monkeypatch.setattr(cls, "__init__", touched)
    monkeypatch.setattr(socket.socket, "connect", touched)
    monkeypatch.setattr(socket, "create_connection", touched)


def test_the_app_on_fake_ports_deposits_processes_and_notifies_without_any_sdk(no_sdk):
    config = load_settings({**FAKE_ENV, "REGION": "r1"})
    webhooks = FakeWebhooks()
    app = build(config, fake_ports(webhooks=webhooks))
    app.mailboxes.put(PLATFORM, "+1555", PutMailbox(displayName="Ann", settings=MailboxSettings(transcription=False)))
    app.notifications.configure(PLATFORM, "+1555", PutNotifications.model_validate(
        {"targets": [{"kind": "webhook", "url": "https://hooks.example.com/vm"}]}))
    message_id = app.messages.deposit(PLATFORM, "+1555", b"hello audio", "audio/wav",
                                      Sender("+15550001111", "Bob", urgent=False), None)[0]["id"]
    assert app.pipeline.process(f"incoming/+1555/{message_id}", b"hello audio") == "ready"
    app.notifications.dispatch()
    sent = {json.loads(body)["type"]: url for url, _, body in webhooks.sent}
    assert sent["message.ready"] == "https://hooks.example.com/vm"
    assert app.readiness.check().ready


def test_the_real_ports_do_make_sdk_clients(no_sdk):
    """The guard above bites: the Azure ports make a client as soon as they are made."""
    with pytest.raises(SdkTouched):
        azure_ports(load_settings({**FAKE_ENV, "REGION": "r1"}))


def test_bootstrap_makes_the_ports_and_the_app_once_per_process(monkeypatch):
    config = load_settings({**FAKE_ENV, "REGION": "r1"})
    made: list[Ports] = []

    def ports(given):
        assert given is config
        made.append(fake_ports())
        return made[-1]

    monkeypatch.setattr(bootstrap_module, "_app", None)
    monkeypatch.setattr(bootstrap_module, "settings", lambda: config)
    monkeypatch.setattr(bootstrap_module, "configure", lambda _config: None)
    monkeypatch.setattr(bootstrap_module, "azure_ports", ports)
    apps: list[object] = []
    threads = [threading.Thread(target=lambda: apps.append(bootstrap())) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(made) == 1 and len(apps) == 8 and all(app is apps[0] for app in apps)
