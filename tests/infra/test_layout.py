"""The file facts a newcomer relies on (issues 11, 21): no module of the product, its gateways, the
operator tools (`ops/`) or the development stack (`devstack/`) over 400 lines; the product importing
nothing from the operator tools, the development stack, tests, benchmarks or gateways; the operator
tools nothing of the development stack; the gateways nothing of the product; and benchmarks, operator
tools and the development stack independent of the tests.

Imports are read with `ast`, wherever they are: at the top, inside a function (the lazy ones), under
`if TYPE_CHECKING:`, or as `importlib.import_module("...")` with a literal name."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAX_LINES = 400
PRODUCT = ("shared", "functions")


def _modules(*folders: str) -> list[Path]:
    found = sorted(path for folder in folders for path in (ROOT / folder).rglob("*.py")
                   if "__pycache__" not in path.parts)
    assert found, f"nothing to check in {folders}: moved?"
    return found


def imported_packages(source: str) -> set[str]:
    """The top-level package of every absolute import in source (relative ones stay in their package)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute | ast.Name)
              and getattr(node.func, "attr", getattr(node.func, "id", None)) in ("import_module", "__import__")
              and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            names.add(node.args[0].value)
    return {name.split(".")[0] for name in names}


def _importing(paths: list[Path], forbidden: set[str]) -> dict[str, list[str]]:
    found = {}
    for path in paths:
        if bad := imported_packages(path.read_text(encoding="utf-8")) & forbidden:
            found[str(path.relative_to(ROOT))] = sorted(bad)
    return found


def test_no_module_of_the_product_or_its_tools_is_over_400_lines():
    long = {str(path.relative_to(ROOT)): lines for path in _modules(*PRODUCT, "ops", "devstack", "gateways")
            if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not long, f"cut these along a seam: {long}"


def test_the_product_imports_no_operator_tools_dev_stack_tests_or_benchmarks():
    """What is deployed (function_app.py, functions/, shared/) never needs what is not: the operator
    tools, the development stack (the local host, the emulators' control), tests, benchmarks, gateways."""
    product = [*_modules(*PRODUCT), ROOT / "function_app.py"]
    assert not _importing(product, {"ops", "devstack", "tools", "tests", "bench", "gateways"})


def test_the_operator_tools_do_not_import_the_development_stack():
    """An operator runs ops/ against a deployment (the azd hooks with any python3); nothing of it may
    need the local host, the emulators or their sinks."""
    assert not _importing(_modules("ops"), {"devstack", "tools", "tests", "bench", "gateways"})


def test_benchmarks_and_the_development_stack_do_not_import_the_tests():
    assert not _importing(_modules("bench", "devstack"), {"tests"})


def test_the_gateways_reach_the_product_only_through_its_http_api():
    """A gateway (gateways/imap) holds no state and shares no code with the app: every rule the API
    enforces holds for its users because it is the API's client, nothing more."""
    assert not _importing(_modules("gateways"), {"shared", "functions", "function_app", "ops", "devstack", "tools",
                                                 "tests", "bench", "client"})


def test_the_check_sees_lazy_guarded_and_dynamic_imports():
    """A layering break hidden in a function, under TYPE_CHECKING or behind importlib is still one."""
    source = '''
import importlib
from typing import TYPE_CHECKING
from . import sibling
if TYPE_CHECKING:
    import ops.release
def start():
    from devstack.localhost.host import Host
    return importlib.import_module("tools.hosting"), __import__("bench")
'''
    assert imported_packages(source) == {"importlib", "typing", "ops", "devstack", "tools", "bench"}
