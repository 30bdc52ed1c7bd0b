"""The build id: a digest of what is deployed (the product's code, host.json, requirements.txt).

`/api/health` reports it, and the rolling release (ops/release.py) computes the same digest from
the tree it deploys and waits until each stamp reports it: the stamp then runs the new code. Pure
standard library, so the release script can import it without the app's dependencies.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# What the package holds that changes behaviour; tests, tools and docs are not deployed.
FILES = ("function_app.py", "host.json", "requirements.txt")
PACKAGES = ("functions", "shared")


def build_id(root: Path = ROOT) -> str:
    """12 hex digits of SHA-256 over each deployed file's path and content, in path order."""
    paths = [root / name for name in FILES if (root / name).is_file()]
    for package in PACKAGES:
        paths += [p for p in (root / package).rglob("*.py") if "__pycache__" not in p.parts]
    digest = hashlib.sha256()
    for path in sorted(paths, key=lambda p: p.relative_to(root).as_posix()):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes().replace(b"\r\n", b"\n") + b"\0")
    return digest.hexdigest()[:12]


@functools.cache
def current() -> str:
    """This process's build id, computed once."""
    return build_id()
