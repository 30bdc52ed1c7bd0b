"""The file facts a newcomer relies on (issue 11): no module of the product, its gateways or its tools
over 400 lines, the product importing nothing from the tools, tests, benchmarks or gateways, the
gateways nothing of the product, and benchmarks and tools independent of the tests."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAX_LINES = 400


def _modules(*folders: str) -> list[Path]:
    return sorted(path for folder in folders for path in (ROOT / folder).rglob("*.py")
                  if "__pycache__" not in path.parts)


def _imports(path: Path, packages: str) -> bool:
    return bool(re.search(rf"^\s*(?:from|import) (?:{packages})\b", path.read_text(encoding="utf-8"), re.MULTILINE))


def test_no_module_of_the_product_or_its_tools_is_over_400_lines():
    long = {str(path.relative_to(ROOT)): lines for path in _modules("shared", "functions", "tools", "gateways")
            if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not long, f"cut these along a seam: {long}"


def test_the_product_imports_no_tools_tests_or_benchmarks():
    product = [*_modules("shared", "functions"), ROOT / "function_app.py"]
    assert not [str(p.relative_to(ROOT)) for p in product if _imports(p, "tools|tests|bench|gateways")]


def test_benchmarks_and_tools_do_not_import_the_tests():
    assert not [str(p.relative_to(ROOT)) for p in _modules("bench", "tools") if _imports(p, "tests")]


def test_the_gateways_reach_the_product_only_through_its_http_api():
    """A gateway (gateways/imap) holds no state and shares no code with the app: every rule the API
    enforces holds for its users because it is the API's client, nothing more."""
    assert not [str(p.relative_to(ROOT)) for p in _modules("gateways")
                if _imports(p, "shared|functions|function_app|tools|tests|bench|client")]
