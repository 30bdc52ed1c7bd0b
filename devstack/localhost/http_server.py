"""The ASGI front end: HTTP triggers under the route prefix, and the host's admin routes."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

import azure.functions as func

from devstack.localhost.routes import Route, RouteTable, compile_route

logger = logging.getLogger("localhost.http")
MAX_REQUEST_BYTES = 100 * 1024 * 1024  # the Functions host's request size limit

Send = Callable[[dict[str, Any]], Awaitable[None]]


async def _send_response(send: Send, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
    headers = [*headers, ("content-length", str(len(body)))]
    await send({"type": "http.response.start", "status": status,
                "headers": [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers]})
    await send({"type": "http.response.body", "body": body})


def _content_type(response: func.HttpResponse) -> str:
    mimetype = response.mimetype or "text/plain"
    textual = mimetype.startswith("text/") or mimetype.endswith("json") or mimetype.endswith("xml")
    return f"{mimetype}; charset={response.charset}" if textual and response.charset else mimetype


def _response_parts(response: Any) -> tuple[int, list[tuple[str, str]], bytes]:
    if response is None:
        return 204, [], b""
    if not isinstance(response, func.HttpResponse):
        body = response if isinstance(response, bytes) else str(response).encode()
        return 200, [("content-type", "text/plain; charset=utf-8")], body
    headers = [(k, v) for k, v in response.headers.items() if k.lower() != "content-length"]
    if not any(k.lower() == "content-type" for k, _ in headers):
        headers.append(("content-type", _content_type(response)))
    return response.status_code, headers, response.get_body() or b""


class HttpFrontend:
    """An ASGI app. `admin` maps (method, path template) to async handlers of the host itself."""

    def __init__(self, routes: list[Route], invoke: Callable[[Any, func.HttpRequest], Awaitable[Any]],
                 on_startup: Callable[[], Awaitable[None]], on_shutdown: Callable[[], Awaitable[None]]):
        self._routes = RouteTable(routes)
        self._admin = RouteTable([])
        self._invoke = invoke
        self._on_startup = on_startup
        self._on_shutdown = on_shutdown

    def add_admin(self, method: str, template: str, handler: Callable[..., Awaitable[tuple[int, Any]]],
                  wants_query: bool = False) -> None:
        """A host route; with wants_query the handler also gets `query` (the query string's first values)."""
        target: Any = handler
        if wants_query:
            async def target(**kwargs: Any) -> tuple[int, Any]:
                return await handler(**kwargs)

            target.wants_query = True
        self._admin.append(compile_route(template, [method], target))

    async def __call__(self, scope: dict[str, Any], receive: Callable[[], Awaitable[dict]], send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._http(scope, receive, send)

    async def _lifespan(self, receive: Callable[[], Awaitable[dict]], send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self._on_startup()
                except Exception as error:
                    logger.exception("host start-up failed")
                    await send({"type": "lifespan.startup.failed", "message": str(error)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self._on_shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _read_body(self, receive: Callable[[], Awaitable[dict]]) -> bytes | None:
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > MAX_REQUEST_BYTES:
                return None
            chunks.append(chunk)
            if not message.get("more_body"):
                return b"".join(chunks)

    async def _http(self, scope: dict[str, Any], receive: Callable[[], Awaitable[dict]], send: Send) -> None:
        raw_path = scope.get("raw_path", scope["path"].encode()).decode("latin-1").split("?", 1)[0]
        method = scope["method"]
        admin = self._admin.find(raw_path, method)
        found = admin or self._routes.find(raw_path, method)
        if found is None:
            await _send_response(send, 404, [], b"")
            return
        route, route_params = found
        body = await self._read_body(receive)
        if body is None:
            await _send_response(send, 413, [], b"")
            return
        if admin:
            extra = {}
            if getattr(route.target, "wants_query", False):
                query_string = scope.get("query_string", b"").decode("latin-1")
                extra["query"] = dict(parse_qsl(query_string, keep_blank_values=True))
            status, payload = await route.target(body=body, **route_params, **extra)
            data = b"" if payload is None else json.dumps(payload).encode()
            await _send_response(send, status, [("content-type", "application/json")] if data else [], data)
            return
        headers: dict[str, str] = {}
        for key, value in scope["headers"]:
            name = key.decode("latin-1").lower()
            text = value.decode("latin-1")
            headers[name] = f"{headers[name]}, {text}" if name in headers else text
        peer = (scope.get("client") or ("",))[0]
        if peer:  # as the platform's front end does: the connection's peer, last (shared/domain/client.py)
            forwarded = headers.get("x-forwarded-for")
            headers["x-forwarded-for"] = f"{forwarded}, {peer}" if forwarded else peer
        query = scope.get("query_string", b"").decode("latin-1")
        params: dict[str, str] = {}
        for name, value in parse_qsl(query, keep_blank_values=True):
            params.setdefault(name, value)
        host = headers.get("host", f"{scope['server'][0]}:{scope['server'][1]}")
        url = f"{scope.get('scheme', 'http')}://{host}{raw_path}" + (f"?{query}" if query else "")
        request = func.HttpRequest(method, url, headers=headers, params=params, route_params=route_params, body=body)
        try:
            response = await self._invoke(route.target, request)
        except TimeoutError:
            await _send_response(send, 500, [], b"")
            return
        except Exception:  # noqa: BLE001 - the host answers 500 with no details, as Azure does
            await _send_response(send, 500, [], b"")
            return
        status, response_headers, data = _response_parts(response)
        await _send_response(send, status, response_headers, data)
