"""Queue triggers on Azurite, with the queue extension's semantics from host.json.

A message is hidden while its function runs, deleted when it succeeds, made visible again after
`visibilityTimeout` when it fails, and moved to `{queue}-poison` once it has been dequeued
`maxDequeueCount` times. Polling backs off to `maxPollingInterval` while the queue is empty.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

from azure.functions.queue import QueueMessage

from devstack.localhost.invoker import Invoker
from devstack.localhost.loader import FunctionSpec, HostConfig, resolve
from devstack.localhost.storage import StorageAccounts, decode_queue_message

logger = logging.getLogger("localhost.queues")


class QueueTrigger:
    def __init__(self, spec: FunctionSpec, invoker: Invoker, storage: StorageAccounts, config: HostConfig):
        self.spec = spec
        self._invoker = invoker
        self._storage = storage
        self._config = config
        self.queue_name = resolve(spec.trigger["queueName"])
        self._connection = spec.trigger.get("connection")
        # Hidden for as long as a function may run; the Azure host renews instead.
        self._lease = max(30, int(config.function_timeout.total_seconds()) + 30)

    def _trigger_value(self, message: Any) -> Any:
        body = decode_queue_message(message.content)
        annotation = self.spec.annotations.get(self.spec.trigger["name"])
        if annotation is bytes:
            return body
        if annotation is str:
            return body.decode()
        return QueueMessage(id=message.id, body=body, dequeue_count=message.dequeue_count,
                            expiration_time=message.expires_on, insertion_time=message.inserted_on,
                            time_next_visible=message.next_visible_on, pop_receipt=message.pop_receipt)

    async def _handle(self, message: Any) -> None:
        queue = self._storage.queue(self.queue_name, self._connection)
        try:
            await self._invoker.invoke(self.spec, self._trigger_value(message),
                                       self._config.function_timeout.total_seconds())
        except Exception:  # noqa: BLE001 - retried by visibility, then poisoned
            if message.dequeue_count >= self._config.queue_max_dequeue_count:
                logger.error("'%s': message %s failed %d times; moved to %s-poison", self.spec.name, message.id,
                             message.dequeue_count, self.queue_name)
                poison = self._storage.queue(f"{self.queue_name}-poison", self._connection)
                await asyncio.to_thread(poison.send_message, message.content)
                await asyncio.to_thread(queue.delete_message, message.id, message.pop_receipt)
            else:
                visibility = int(self._config.queue_visibility_timeout.total_seconds())
                await asyncio.to_thread(queue.update_message, message.id, message.pop_receipt,
                                        visibility_timeout=visibility)
            return
        await asyncio.to_thread(queue.delete_message, message.id, message.pop_receipt)

    def _receive(self) -> list[Any]:
        queue = self._storage.queue(self.queue_name, self._connection)
        return list(queue.receive_messages(messages_per_page=self._config.queue_batch_size,
                                           max_messages=self._config.queue_batch_size,
                                           visibility_timeout=self._lease))

    async def run(self) -> None:
        idle = timedelta(milliseconds=100)
        while True:
            try:
                messages = await asyncio.to_thread(self._receive)
            except Exception:
                logger.exception("receiving from %s for '%s' failed", self.queue_name, self.spec.name)
                messages = []
            if messages:
                idle = timedelta(milliseconds=100)
                await asyncio.gather(*(self._handle(message) for message in messages))
            else:
                await asyncio.sleep(idle.total_seconds())
                idle = min(idle * 2, self._config.queue_max_polling_interval)

    async def invoke_now(self, content: str) -> None:
        """`POST /admin/functions/{name}`: run once on a message body, not taken from the queue."""
        message = QueueMessage(id="admin", body=content.encode(), dequeue_count=1)
        annotation = self.spec.annotations.get(self.spec.trigger["name"])
        value = content if annotation is str else content.encode() if annotation is bytes else message
        await self._invoker.invoke(self.spec, value)
