"""Call a user function with its bindings, as the Python worker does, and flush its outputs."""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import azure.functions as func

from devstack.localhost.loader import FunctionSpec, resolve
from devstack.localhost.storage import StorageAccounts, encode_queue_message

logger = logging.getLogger("localhost.invoker")
invocation_id: contextvars.ContextVar[str] = contextvars.ContextVar("invocation_id", default="-")


class Out(func.Out):
    """An output binding's value holder (`func.Out[T]`)."""

    def __init__(self) -> None:
        self._value: Any = None

    def set(self, val: Any) -> None:
        self._value = val

    def get(self) -> Any:
        return self._value


class Context(func.Context):
    def __init__(self, invocation: str, function_name: str, function_directory: str):
        self._invocation_id = invocation
        self._function_name = function_name
        self._function_directory = function_directory

    @property
    def invocation_id(self) -> str:
        return self._invocation_id

    @property
    def function_name(self) -> str:
        return self._function_name

    @property
    def function_directory(self) -> str:
        return self._function_directory

    @property
    def trace_context(self) -> Any:
        return None

    @property
    def retry_context(self) -> Any:
        return None

    @property
    def thread_local_storage(self) -> Any:
        return None


def _queue_payloads(value: Any) -> list[str | bytes]:
    """What one queue output value sends: a str/bytes, a JSON-able object, or a list of either."""
    items = value if isinstance(value, list) else [value]
    return [item if isinstance(item, (str, bytes)) else json.dumps(item) for item in items]


class Invoker:
    def __init__(self, storage: StorageAccounts, threads: int, script_root: str):
        # Sync functions run in a pool, as the Python worker runs them (PYTHON_THREADPOOL_THREAD_COUNT).
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="function")
        self._storage = storage
        self._script_root = script_root
        # Input bindings served by the host itself, by binding type (e.g. durableClient → the client's JSON).
        self.input_providers: dict[str, Callable[[FunctionSpec, dict[str, Any]], Any]] = {}

    async def invoke(self, spec: FunctionSpec, trigger_value: Any, timeout_s: float | None = None) -> Any:
        """Run spec with its trigger value; flush output bindings on success. Raises what it raises."""
        invocation = str(uuid.uuid4())
        token = invocation_id.set(invocation)
        try:
            kwargs: dict[str, Any] = {spec.trigger["name"]: trigger_value}
            outs = {b["name"]: Out() for b in spec.outputs if b["name"] != "$return"}
            kwargs.update(outs)
            for binding in spec.inputs:
                provider = self.input_providers.get(binding["type"])
                if provider is not None:
                    kwargs[binding["name"]] = provider(spec, binding)
            if spec.context_param:
                kwargs[spec.context_param] = Context(invocation, spec.name, self._script_root)
            logger.info("Executing '%s' (id=%s)", spec.name, invocation)
            if spec.is_async:
                call = spec.user_function(**kwargs)
            else:
                context = contextvars.copy_context()
                call = asyncio.get_running_loop().run_in_executor(
                    self._executor, lambda: context.run(spec.user_function, **kwargs))
            if timeout_s:
                async with asyncio.timeout(timeout_s):  # no extra task and future per call, as wait_for has
                    result = await call
            else:
                result = await call
            await self._flush_outputs(spec, outs, result)
            logger.info("Executed '%s' (Succeeded, id=%s)", spec.name, invocation)
            return result
        except Exception:
            logger.exception("Executed '%s' (Failed, id=%s)", spec.name, invocation)
            raise
        finally:
            invocation_id.reset(token)

    async def _flush_outputs(self, spec: FunctionSpec, outs: dict[str, Out], result: Any) -> None:
        for binding in spec.outputs:
            value = result if binding["name"] == "$return" else outs[binding["name"]].get()
            if value is None or binding["type"] == "http":
                continue
            if binding["type"] == "queue":
                queue = resolve(binding["queueName"])
                for payload in _queue_payloads(value):
                    await asyncio.to_thread(self._send, queue, binding.get("connection"), payload)
            elif binding["type"] == "blob":
                container, _, name = resolve(binding["path"]).partition("/")
                data = value if isinstance(value, (bytes, str)) else json.dumps(value)
                blob = self._storage.blob(binding.get("connection")).get_blob_client(container, name)
                await asyncio.to_thread(blob.upload_blob, data, overwrite=True)
            else:
                logger.warning("'%s': output binding type %s is not supported locally", spec.name, binding["type"])

    def _send(self, queue: str, connection: str | None, payload: str | bytes) -> None:
        self._storage.queue(queue, connection).send_message(encode_queue_message(payload))

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
