"""What Azure installs is what the tests ran with: requirements.txt (the remote build's
`pip install -r requirements.txt`) pins its direct dependencies and applies the lock,
constraints.txt, to everything they pull in; no dev or test package is pulled in."""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
# Local runs, tests and tooling only: never what a function app installs.
DEV_ONLY = {"pytest", "pytest-xdist", "pytest-timeout", "hypothesis", "schemathesis", "pocketsphinx", "aiosmtpd",
            "uvicorn", "ruff", "pathspec", "checkov", "pycep-parser", "voicemail-client"}


def _lines(name: str) -> list[str]:
    return [line.split("#")[0].strip() for line in (ROOT / name).read_text().splitlines()
            if line.split("#")[0].strip()]


def _pins(name: str) -> dict[str, str]:
    pins = {}
    for line in _lines(name):
        if line.startswith("-"):
            continue
        requirement = Requirement(line)
        (spec,) = requirement.specifier
        assert spec.operator == "==", f"{name}: {line} is not pinned exactly"
        pins[canonicalize_name(requirement.name)] = spec.version
    return pins


def _closure(roots: list[Requirement]) -> dict[str, str]:
    """Every distribution the roots pull in on this platform, with its installed version."""
    versions: dict[str, str] = {}
    visited: set[tuple[str, frozenset[str]]] = set()
    pending = [(canonicalize_name(r.name), frozenset(r.extras)) for r in roots]
    while pending:
        name, extras = pending.pop()
        if (name, extras) in visited:
            continue
        visited.add((name, extras))
        dist = metadata.distribution(name)
        versions[name] = dist.version
        environments = [{"extra": extra} for extra in extras] or [{"extra": ""}]
        for text in dist.requires or []:
            child = Requirement(text)
            if child.marker is None or any(child.marker.evaluate(env) for env in environments):
                pending.append((canonicalize_name(child.name), frozenset(child.extras)))
    return versions


def test_requirements_pin_every_direct_dependency_and_apply_the_lock():
    assert "-c constraints.txt" in _lines("requirements.txt"), "requirements.txt does not apply the lock"
    assert not [line for line in _lines("requirements.txt") if line.startswith(("-r", "-e", "--"))]
    direct, lock = _pins("requirements.txt"), _pins("constraints.txt")
    drifted = {name: (version, lock.get(name)) for name, version in direct.items() if lock.get(name) != version}
    assert not drifted, f"requirements.txt and constraints.txt disagree: {drifted}"


def test_everything_azure_installs_is_pinned_by_the_lock_the_tests_use():
    """The closure of requirements.txt, read from the installed venv (made from the lock): every
    package in it is in constraints.txt at the version installed here, where the tests ran."""
    roots = [Requirement(line) for line in _lines("requirements.txt") if not line.startswith("-")]
    closure, lock = _closure(roots), _pins("constraints.txt")
    unpinned = sorted(set(closure) - set(lock))
    assert not unpinned, f"pulled in by requirements.txt but not in the lock (run `make constraints`): {unpinned}"
    drifted = {name: (closure[name], lock[name]) for name in closure if closure[name] != lock[name]}
    assert not drifted, f"installed here != locked (installed, locked): {drifted}"
    assert len(closure) > len(roots)  # the transitive ones are there too


def test_no_dev_or_test_package_is_installed_in_azure():
    roots = [Requirement(line) for line in _lines("requirements.txt") if not line.startswith("-")]
    assert not DEV_ONLY & set(_closure(roots)), DEV_ONLY & set(_closure(roots))
    dev = {canonicalize_name(Requirement(line).name) for line in _lines("requirements-dev.txt")
           if not line.startswith("-")}
    assert not dev & set(_pins("requirements.txt")), "a dev package in requirements.txt"


def test_the_lock_is_a_freeze_not_a_wish():
    for name, version in _pins("constraints.txt").items():
        assert re.fullmatch(r"[0-9][0-9A-Za-z.+-]*", version), (name, version)
