"""The durable client's HTTP API (`runtime/webhooks/durabletask/...`) and the JSON the SDK's
DurableOrchestrationClient is bound to: start, status, terminate, raise an event, purge."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from azure.durable_functions.models.history.HistoryEventType import HistoryEventType as Ev

from devstack.localhost.durable.history import event, json_text_of_body
from devstack.localhost.durable.messages import Deliver, Terminate, inbox_row
from devstack.localhost.durable.store import RUNNING_STATES, Instance
from devstack.localhost.loader import FunctionSpec, resolve

if TYPE_CHECKING:
    from devstack.localhost.durable.runtime import DurableRuntime

logger = logging.getLogger("localhost.durable")
WEBHOOK = "runtime/webhooks/durabletask"


class ManagementApi:
    """What the extension serves for a task hub, over the runtime's instances."""

    def __init__(self, runtime: DurableRuntime):
        self._runtime = runtime

    # -- the client binding and the HTTP API it calls

    def client_binding(self, _spec: FunctionSpec | None = None, _binding: dict[str, Any] | None = None) -> str:
        """The JSON the SDK's DurableOrchestrationClient reads (what the extension gives a durableClient input)."""
        base = f"{self._runtime.base_url()}/{WEBHOOK}"
        query = f"taskHub={quote(self._runtime.hub)}&connection=Storage"
        instance = f"{base}/instances/INSTANCEID"
        return json.dumps({
            "taskHubName": self._runtime.hub,
            "creationUrls": {
                "createNewInstancePostUri": f"{base}/orchestrators/{{functionName}}[/{{instanceId}}]?{query}",
                "createAndWaitOnNewInstancePostUri":
                    f"{base}/orchestrators/{{functionName}}[/{{instanceId}}]?timeout={{timeoutInSeconds}}"
                    f"&pollingInterval={{intervalInSeconds}}&{query}"},
            "managementUrls": {
                "id": "INSTANCEID",
                "statusQueryGetUri": f"{instance}?{query}",
                "sendEventPostUri": f"{instance}/raiseEvent/{{eventName}}?{query}",
                "terminatePostUri": f"{instance}/terminate?reason={{text}}&{query}",
                "purgeHistoryDeleteUri": f"{instance}?{query}"},
            "baseUrl": base,
            "requiredQueryStringParameters": query,
            "rpcBaseUrl": f"{base}/",
            "httpBaseUrl": base,
        })

    def management_payload(self, instance_id: str) -> dict[str, str]:
        urls = json.loads(self.client_binding())["managementUrls"]
        return {key: value.replace("INSTANCEID", quote(instance_id, safe="")) for key, value in urls.items()}

    def routes(self) -> list[tuple[str, str, Any]]:
        return [("POST", f"{WEBHOOK}/orchestrators/{{name}}/{{instance_id?}}", self.http_start),
                ("GET", f"{WEBHOOK}/instances/{{instance_id}}", self.http_status),
                ("DELETE", f"{WEBHOOK}/instances/{{instance_id}}", self.http_purge),
                ("POST", f"{WEBHOOK}/instances/{{instance_id}}/terminate", self.http_terminate),
                ("POST", f"{WEBHOOK}/instances/{{instance_id}}/raiseEvent/{{event_name}}", self.http_raise)]

    async def http_start(self, body: bytes, name: str, instance_id: str | None = None,
                         query: dict[str, str] | None = None) -> tuple[int, Any]:
        if name not in self._runtime.orchestrators:
            message = f"The function '{name}' doesn't exist, is disabled, or is not an orchestrator function."
            return 400, {"Message": message, "ExceptionMessage": message, "ExceptionType": "System.ArgumentException"}
        instance_id = instance_id or uuid.uuid4().hex
        try:
            input_text = json_text_of_body(body)
        except ValueError:
            return 400, {"Message": "the body must be JSON", "ExceptionMessage": "the body must be JSON"}
        existing = await self._runtime.current(instance_id)
        if existing is not None and existing.status in RUNNING_STATES:
            # What DurableTask.AzureStorage answers (OverridableExistingInstanceStates = NonRunningStates).
            return 500, {"Message": "Something went wrong while processing your request",
                         "ExceptionMessage": f"An Orchestration instance with the status {existing.status} "
                                             "already exists.",
                         "ExceptionType": "System.InvalidOperationException"}
        if existing is not None:
            await asyncio.to_thread(self._runtime.store.purge, instance_id)
        instance = Instance(instance_id, name, input_text)
        await asyncio.to_thread(self._runtime.store.save, instance, [], [], 0)
        await self._runtime.activate(instance, resume=False)
        logger.info("started orchestration %s (%s)", instance_id, name)
        return 202, self.management_payload(instance_id)

    async def http_status(self, body: bytes, instance_id: str, query: dict[str, str] | None = None
                          ) -> tuple[int, Any]:
        query = query or {}
        # What the store holds, as the extension answers: an episode changes its in-memory instance
        # before it commits, and a status read in between must not report what a crash would lose.
        instance = await asyncio.to_thread(self._runtime.store.load, instance_id)
        if instance is None:
            return 404, None
        payload = instance.status_json(show_input=query.get("showInput", "true").lower() != "false",
                                       show_history=query.get("showHistory", "false").lower() == "true")
        return (202 if instance.status in RUNNING_STATES else 200), payload

    async def http_terminate(self, body: bytes, instance_id: str, query: dict[str, str] | None = None
                             ) -> tuple[int, Any]:
        instance = await self._runtime.current(instance_id)
        if instance is None:
            return 404, None
        if instance.status not in RUNNING_STATES or not self._runtime.is_active(instance_id):
            return 410, None
        self._runtime.deliver(instance_id, Terminate((query or {}).get("reason", "")))
        return 202, None

    async def http_raise(self, body: bytes, instance_id: str, event_name: str,
                         query: dict[str, str] | None = None) -> tuple[int, Any]:
        instance = await self._runtime.current(instance_id)
        if instance is None:
            return 404, None
        if instance.status not in RUNNING_STATES or not self._runtime.is_active(instance_id):
            return 410, None
        try:
            data = json_text_of_body(body)
        except ValueError:
            return 400, None
        key = f"{datetime.now(UTC).strftime('%Y%m%d%H%M%S%f')}-{uuid.uuid4().hex[:8]}"
        message = Deliver(event(Ev.EVENT_RAISED, Name=event_name, Input=data), inbox=f"e-{key}")
        await asyncio.to_thread(self._runtime.store.add_to_inbox, instance_id, key, inbox_row(message))
        self._runtime.deliver(instance_id, message)
        return 202, None

    async def http_purge(self, body: bytes, instance_id: str, query: dict[str, str] | None = None
                         ) -> tuple[int, Any]:
        instance = await self._runtime.current(instance_id)
        if instance is None:
            return 404, None
        if instance.status in RUNNING_STATES:
            return 400, {"Message": "a running instance cannot be purged; terminate it first"}
        deleted = await asyncio.to_thread(self._runtime.store.purge, instance_id)
        return 200, {"instancesDeleted": deleted}


def hub_name(host_json: dict[str, Any]) -> str:
    """host.json `extensions.durableTask.hubName` (binding expressions resolved), as the extension reads it."""
    name = host_json.get("extensions", {}).get("durableTask", {}).get("hubName") or "TestHubName"
    return resolve(name)
