"""The host: indexes the app, serves HTTP triggers, runs the trigger listeners, offers admin routes."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
from pathlib import Path
from typing import Any

from devstack.localhost.blob_triggers import BlobTrigger
from devstack.localhost.cosmos_triggers import CosmosTrigger
from devstack.localhost.durable import DurableRuntime, hub_name
from devstack.localhost.http_server import HttpFrontend
from devstack.localhost.invoker import Invoker
from devstack.localhost.loader import FunctionSpec, HostConfig
from devstack.localhost.queue_triggers import QueueTrigger
from devstack.localhost.routes import compile_route
from devstack.localhost.storage import StorageAccounts
from devstack.localhost.timers import TimerTrigger

logger = logging.getLogger("localhost")


def default_host_id(script_root: Path) -> str:
    name = re.sub(r"[^a-z0-9-]", "-", script_root.resolve().name.lower()).strip("-") or "app"
    return os.environ.get("AzureFunctionsWebHost__hostid", f"localhost-{name}")[:32]


class Host:
    def __init__(self, specs: list[FunctionSpec], config: HostConfig, script_root: Path):
        self.specs = specs
        self.config = config
        self.host_id = default_host_id(script_root)
        self.storage = StorageAccounts()
        threads = int(os.environ.get("PYTHON_THREADPOOL_THREAD_COUNT", "32"))
        self.invoker = Invoker(self.storage, threads, str(script_root))
        poll_s = float(os.environ.get("LOCALHOST_BLOB_POLL_SECONDS", "1"))
        retry_s = float(os.environ.get("LOCALHOST_BLOB_RETRY_SECONDS", "0.5"))
        # `source="EventGrid"` triggers: Azure delivers their blobs by event, within a second.
        event_grid_s = float(os.environ.get("LOCALHOST_EVENT_GRID_SECONDS", "0.1"))
        self.listeners: dict[str, Any] = {}
        self.http_specs: list[FunctionSpec] = []
        self.unsupported: list[FunctionSpec] = []
        self.durable_specs: list[FunctionSpec] = []
        self.base_url = "http://127.0.0.1:7071"  # __main__ sets the address it serves
        self.disabled = [spec.name for spec in specs if _disabled(spec.name)]
        for spec in specs:
            kind = spec.trigger_type.lower()
            if spec.name in self.disabled:
                continue
            if kind == "httptrigger":
                self.http_specs.append(spec)
            elif kind == "timertrigger":
                self.listeners[spec.name] = TimerTrigger(spec, self.invoker, self.storage, self.host_id)
            elif kind == "blobtrigger":
                self.listeners[spec.name] = BlobTrigger(spec, self.invoker, self.storage, self.host_id,
                                                        config.blob_max_parallelism, poll_s, retry_s, event_grid_s)
            elif kind == "queuetrigger":
                self.listeners[spec.name] = QueueTrigger(spec, self.invoker, self.storage, config)
            elif kind == "cosmosdbtrigger":
                self.listeners[spec.name] = CosmosTrigger(spec, self.invoker)
            elif kind in ("orchestrationtrigger", "activitytrigger"):
                self.durable_specs.append(spec)
            else:  # e.g. entity triggers
                self.unsupported.append(spec)
        self.durable: DurableRuntime | None = None
        uses_client = any(b["type"] == "durableClient" for spec in specs for b in spec.inputs)
        if self.durable_specs or uses_client:
            host_json = script_root / "host.json"
            self.durable = DurableRuntime(
                self.durable_specs, self.invoker, self.storage,
                hub_name(json.loads(host_json.read_text()) if host_json.exists() else {}),
                lambda: self.base_url, config.function_timeout.total_seconds())
            self.invoker.input_providers["durableClient"] = self.durable.api.client_binding
        self._tasks: list[asyncio.Task[None]] = []
        routes = [compile_route(spec.trigger.get("route") or spec.name, spec.trigger.get("methods"), spec,
                                config.route_prefix) for spec in self.http_specs]
        self.frontend = HttpFrontend(routes, self._invoke_http, self._start, self._stop)
        self.frontend.add_admin("GET", "admin/host/status", self._status)
        self.frontend.add_admin("POST", "admin/functions/{name}", self._invoke_admin)
        for method, template, handler in self.durable.api.routes() if self.durable else []:
            self.frontend.add_admin(method, template, handler, wants_query=True)

    async def _invoke_http(self, spec: FunctionSpec, request: Any) -> Any:
        return await self.invoker.invoke(spec, request, self.config.function_timeout.total_seconds())

    async def _start(self) -> None:
        for spec in self.unsupported:
            logger.warning("'%s': %s triggers are not served by the local host", spec.name, spec.trigger_type)
        if self.durable is not None:
            await self.durable.start()
        for name, listener in self.listeners.items():
            task = asyncio.create_task(listener.run(), name=name)
            task.add_done_callback(_report_crash)
            self._tasks.append(task)

    async def _stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.durable is not None:
            await self.durable.stop()
        self.invoker.shutdown()

    async def _status(self, body: bytes) -> tuple[int, Any]:
        return 200, {"id": self.host_id, "state": "Running", "region": os.environ.get("REGION"),
                     "functions": [spec.name for spec in self.specs]}

    async def _invoke_admin(self, body: bytes, name: str) -> tuple[int, Any]:
        listener = self.listeners.get(name)
        if listener is None:
            return 404, None
        try:
            payload = json.loads(body or b"{}")
        except ValueError:
            return 400, {"error": "the body must be JSON: {\"input\": \"...\"}"}
        task = asyncio.create_task(listener.invoke_now(str(payload.get("input", ""))))
        task.add_done_callback(lambda t: t.cancelled() or t.exception())  # failures are logged by the invoker
        self._tasks.append(task)
        return 202, None

    def describe(self, base_url: str) -> list[str]:
        lines = []
        for spec in self.http_specs:
            methods = ",".join(spec.trigger.get("methods") or ["*"])
            route = spec.trigger.get("route") or spec.name
            lines.append(f"  {spec.name}: [{methods}] {base_url}/{self.config.route_prefix}/{route}")
        for name, listener in self.listeners.items():
            lines.append(f"  {name}: {listener.spec.trigger_type}")
        lines.extend(f"  {spec.name}: {spec.trigger_type}" for spec in self.durable_specs)
        for spec in self.unsupported:
            lines.append(f"  {spec.name}: {spec.trigger_type} (not served locally)")
        lines.extend(f"  {name}: disabled" for name in self.disabled)
        return lines


def _disabled(name: str) -> bool:
    """`AzureWebJobs.<name>.Disabled` (or `AzureWebJobs__<name>__Disabled`), as the Functions host reads it."""
    value = os.environ.get(f"AzureWebJobs.{name}.Disabled") or os.environ.get(f"AzureWebJobs__{name}__Disabled")
    return (value or "").strip().lower() in ("1", "true")


def _report_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("listener %s stopped: %r", task.get_name(), task.exception())
