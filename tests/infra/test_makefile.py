"""The Makefile's two commands: `make run` installs what running needs and nothing the tests alone
need (checkov's venv, the Debian audio and IMAP client tools); `make test` installs everything."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TEST_ONLY = (".venv-infra", "apt-get", "requirements-infra.txt")  # checkov comes from requirements-infra.txt


def _dry_run(target: str) -> str:
    """What `make -n -B target` would run (every prerequisite as if out of date)."""
    done = subprocess.run(["make", "-n", "-B", target], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          check=True)
    return done.stdout


def test_make_run_installs_nothing_only_the_tests_need():
    commands = _dry_run("run")
    assert "requirements-dev.txt" in commands and "npm ci" in commands and "devstack.regions" in commands
    assert not [word for word in TEST_ONLY if word in commands], commands


def test_make_test_installs_the_test_tools_too():
    commands = _dry_run("test")
    assert all(word in commands for word in TEST_ONLY), commands
