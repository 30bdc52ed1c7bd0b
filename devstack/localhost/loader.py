"""Find the app, read host.json and local settings, and describe each function by its bindings."""

from __future__ import annotations

import importlib
import inspect
import json
import os
import re
import sys
import typing
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import azure.functions as func

_SETTING = re.compile(r"%([A-Za-z0-9_.:-]+)%")


def resolve(value: str) -> str:
    """Replace `%NAME%` binding expressions by the app setting NAME, as the host does."""

    def lookup(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in os.environ:
            raise LookupError(f"app setting {name} (used as %{name}%) is missing")
        return os.environ[name]

    return _SETTING.sub(lookup, value)


def load_settings_file(path: Path) -> dict[str, str]:
    """Put a local.settings.json's Values into the environment; variables already set win."""
    values = json.loads(path.read_text()).get("Values", {})
    applied = {}
    for name, value in values.items():
        if name not in os.environ:
            os.environ[name] = str(value)
            applied[name] = str(value)
    return applied


def parse_timespan(text: str | None, default: timedelta) -> timedelta:
    """host.json's TimeSpan strings, `[d.]hh:mm:ss[.fff]`."""
    if not text:
        return default
    match = re.match(r"^(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2}(?:\.\d+)?)$", text)
    if not match:
        raise ValueError(f"host.json: {text!r} is not a TimeSpan")
    days, hours, minutes, seconds = match.groups()
    return timedelta(days=int(days or 0), hours=int(hours), minutes=int(minutes), seconds=float(seconds))


@dataclass(frozen=True)
class HostConfig:
    route_prefix: str = "api"
    function_timeout: timedelta = timedelta(minutes=10)
    queue_max_dequeue_count: int = 5
    queue_visibility_timeout: timedelta = timedelta(0)
    queue_batch_size: int = 16
    queue_max_polling_interval: timedelta = timedelta(seconds=2)
    blob_max_parallelism: int = 4

    @classmethod
    def read(cls, path: Path) -> HostConfig:
        if not path.exists():
            return cls()
        data = json.loads(path.read_text())
        extensions = data.get("extensions", {})
        queues, blobs, http = extensions.get("queues", {}), extensions.get("blobs", {}), extensions.get("http", {})
        default = cls()
        return cls(
            route_prefix=http.get("routePrefix", default.route_prefix).strip("/"),
            function_timeout=parse_timespan(data.get("functionTimeout"), default.function_timeout),
            queue_max_dequeue_count=int(queues.get("maxDequeueCount", default.queue_max_dequeue_count)),
            queue_visibility_timeout=parse_timespan(queues.get("visibilityTimeout"), default.queue_visibility_timeout),
            queue_batch_size=int(queues.get("batchSize", default.queue_batch_size)),
            queue_max_polling_interval=parse_timespan(queues.get("maxPollingInterval"),
                                                      default.queue_max_polling_interval),
            blob_max_parallelism=int(blobs.get("maxDegreeOfParallelism", default.blob_max_parallelism)),
        )


@dataclass
class FunctionSpec:
    """One indexed function: its name, trigger and other bindings (as function.json has them)."""

    name: str
    trigger: dict[str, Any]
    outputs: list[dict[str, Any]]
    inputs: list[dict[str, Any]]
    user_function: Any
    is_async: bool
    annotations: dict[str, Any] = field(default_factory=dict)
    context_param: str | None = None

    @property
    def trigger_type(self) -> str:
        return self.trigger["type"]


def _describe(function: Any) -> FunctionSpec:
    bindings = json.loads(function.get_function_json())["bindings"]
    trigger = next(b for b in bindings if b["type"].lower().endswith("trigger"))
    user_function = function.get_user_function()
    try:
        hints = typing.get_type_hints(user_function)
    except Exception:  # noqa: BLE001 - unresolvable annotations: fall back to the raw ones
        hints = dict(getattr(user_function, "__annotations__", {}))
    binding_names = {b["name"] for b in bindings}
    context_param = next(
        (name for name in inspect.signature(user_function).parameters
         if name not in binding_names and (name == "context" or hints.get(name) is func.Context)), None)
    return FunctionSpec(
        name=function.get_function_name(),
        trigger=trigger,
        outputs=[b for b in bindings if b["direction"].upper() == "OUT" and b is not trigger],
        inputs=[b for b in bindings if b["direction"].upper() == "IN" and b is not trigger],
        user_function=user_function,
        is_async=inspect.iscoroutinefunction(user_function),
        annotations=hints,
        context_param=context_param,
    )


def load_app(script_root: Path) -> tuple[func.FunctionApp, list[FunctionSpec]]:
    """Import `function_app.py` from script_root, as the Python worker does, and index it."""
    sys.path.insert(0, str(script_root))
    module = importlib.import_module("function_app")
    apps = [value for value in vars(module).values() if isinstance(value, func.FunctionApp)]
    if len(apps) != 1:
        raise RuntimeError(f"{script_root / 'function_app.py'} must define exactly one FunctionApp, found {len(apps)}")
    return apps[0], [_describe(function) for function in apps[0].get_functions()]
