"""Timer triggers on their NCRONTAB schedules, with `run_on_startup` and `past_due`.

As the Azure host does (with `useMonitor`), each timer's schedule status (last and next due time)
is kept in the storage account (`azure-webjobs-hosts/timers/{hostId}/{function}/status`), so an
occurrence missed while the host was down fires once at the next start with `past_due` set.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from datetime import UTC, datetime

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.functions.timer import TimerRequest

from devstack.localhost.invoker import Invoker
from devstack.localhost.loader import FunctionSpec, resolve
from devstack.localhost.ncrontab import parse_schedule
from devstack.localhost.storage import StorageAccounts

logger = logging.getLogger("localhost.timers")
HOSTS_CONTAINER = "azure-webjobs-hosts"


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


class TimerTrigger:
    def __init__(self, spec: FunctionSpec, invoker: Invoker, storage: StorageAccounts, host_id: str):
        self.spec = spec
        self._invoker = invoker
        self._schedule = parse_schedule(resolve(spec.trigger["schedule"]))
        self._use_monitor = spec.trigger.get("useMonitor", True)
        self._hosts_container = storage.blob().get_container_client(HOSTS_CONTAINER)
        self._status_blob = self._hosts_container.get_blob_client(f"timers/{host_id}/{spec.name}/status")

    def _read_status(self) -> dict[str, str] | None:
        try:
            return json.loads(self._status_blob.download_blob().readall())
        except ResourceNotFoundError:
            return None

    def _write_status(self, last: datetime | None, next_due: datetime) -> None:
        status = {"Last": _iso(last) if last else None, "Next": _iso(next_due), "LastUpdated": _iso(datetime.now(UTC))}
        try:
            try:
                self._status_blob.upload_blob(json.dumps(status), overwrite=True)
            except ResourceNotFoundError:  # a new storage account: no hosts container yet
                with contextlib.suppress(ResourceExistsError):  # another timer made it first
                    self._hosts_container.create_container()
                self._status_blob.upload_blob(json.dumps(status), overwrite=True)
        except Exception:  # storage down: the schedule goes on; past-due detection is what suffers
            logger.exception("could not record the schedule status of '%s'", self.spec.name)

    async def _fire(self, past_due: bool, last: datetime | None, next_due: datetime) -> None:
        request = TimerRequest(past_due=past_due, schedule_status={
            "Last": _iso(last) if last else None, "Next": _iso(next_due), "LastUpdated": _iso(datetime.now(UTC))})
        # A failed run is logged by the invoker; the schedule goes on.
        with contextlib.suppress(Exception):
            await self._invoker.invoke(self.spec, request)

    async def run(self) -> None:
        now = datetime.now(UTC)
        try:
            status = await asyncio.to_thread(self._read_status) if self._use_monitor else None
        except Exception:  # storage down at start: run on schedule, without past-due detection
            logger.exception("could not read the schedule status of '%s'", self.spec.name)
            status = None
        last = datetime.fromisoformat(status["Last"].replace("Z", "+00:00")) if status and status.get("Last") else None
        if status and datetime.fromisoformat(status["Next"].replace("Z", "+00:00")) < now:
            logger.info("'%s' is past due (was due %s)", self.spec.name, status["Next"])
            await self._fire(True, last, self._schedule.next_after(now))
        elif self.spec.trigger.get("runOnStartup"):
            await self._fire(False, last, self._schedule.next_after(now))
        while True:
            due = self._schedule.next_after(datetime.now(UTC))
            if self._use_monitor:
                await asyncio.to_thread(self._write_status, last, due)
            await asyncio.sleep(max(0.0, (due - datetime.now(UTC)).total_seconds()))
            following = self._schedule.next_after(due)
            await self._fire(datetime.now(UTC) > following, last, following)
            last = due
            if self._use_monitor:
                await asyncio.to_thread(self._write_status, last, following)

    async def invoke_now(self, _input: str) -> None:
        """`POST /admin/functions/{name}`: run once now, as the host's admin API does."""
        now = datetime.now(UTC)
        await self._fire(False, None, self._schedule.next_after(now))
