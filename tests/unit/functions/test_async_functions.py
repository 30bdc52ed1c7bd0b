"""Async functions (Durable starters, timers with a Durable client, durable routes) share the worker's
event loop with every other async invocation: a storage call made there stalls them all for as long
as the dependency takes (it once held a deposit 19 s while the database was stalled). They hand
every service call to a thread (`asyncio.to_thread`); only the app's settings and telemetry, which
do no I/O, are touched directly."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
NO_IO = {"settings", "telemetry"}


def _root(node: ast.expr) -> ast.expr:
    while isinstance(node, ast.Attribute):
        node = node.value
    return node


def _service_calls_in_async_functions(source: str) -> list[str]:
    found = []
    for function in ast.walk(ast.parse(source)):
        if not isinstance(function, ast.AsyncFunctionDef):
            continue
        for node in ast.walk(function):
            if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
                continue
            root = _root(node.func)
            from_app = (isinstance(root, ast.Name) and root.id == "app") or (
                isinstance(root, ast.Call) and isinstance(root.func, ast.Name) and root.func.id == "APP")
            chain = ast.unparse(node.func)
            if from_app and not any(f".{part}." in f".{chain}." for part in NO_IO):
                found.append(f"{function.name}: {chain}(...)")
    return found


def test_no_async_function_calls_a_service_on_the_event_loop():
    offenders = [f"{path.relative_to(ROOT)}: {call}" for path in sorted((ROOT / "functions").rglob("*.py"))
                 for call in _service_calls_in_async_functions(path.read_text(encoding="utf-8"))]
    assert offenders == []


def test_the_check_finds_a_service_called_on_the_loop_and_passes_one_handed_to_a_thread():
    source = '''
async def timer(client):
    app = APP()
    for job in APP().erasure.pending():
        app.exports.fail(job)
    await asyncio.to_thread(app.exports.expire, 10)
    with app.telemetry.span("x"):
        region = app.settings.region
'''
    assert _service_calls_in_async_functions(source) == ["timer: APP().erasure.pending(...)",
                                                         "timer: app.exports.fail(...)"]
