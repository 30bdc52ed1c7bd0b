"""Helpers the test rings share: random names, and local host processes to start and stop.

The host helpers live in `devstack/hosting.py` (the benchmarks use them too, without importing the
tests); they are re-exported here, so `from tests.support import HostProcess` keeps working.
"""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path

from devstack.hosting import (
    BACKGROUND_FUNCTIONS,
    OPERATOR_KEY,
    PLATFORM_KEY,
    SIGNING_KEY,
    HostProcess,
    disabled,
    free_port,
    product_env,
    random_name,
    wait_until,
)

ROOT = Path(__file__).resolve().parents[1]
HOSTAPP = ROOT / "tests" / "hostapp"

__all__ = [
    "BACKGROUND_FUNCTIONS",
    "HOSTAPP",
    "OPERATOR_KEY",
    "PLATFORM_KEY",
    "ROOT",
    "SIGNING_KEY",
    "HostProcess",
    "disabled",
    "free_port",
    "product_env",
    "random_name",
    "taking_turns",
    "wait_until",
]


@contextlib.contextmanager
def taking_turns(name: str) -> Iterator[None]:
    """Held while the modules that share something no random name keeps apart (fixed ports, sweeps
    over the whole shared store) use it: they take turns, whichever xdist worker runs them. A module
    using it marks its tests `timeout(900)`: a test may first wait for another module to finish."""
    locks = ROOT / ".localstack"
    locks.mkdir(exist_ok=True)
    with (locks / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def route_functions(table=None) -> dict:
    """The user functions the host indexes from the operation table (all planes), by name."""
    import azure.functions as func

    from functions.catalog import ROUTES

    host = func.FunctionApp()
    host.register_functions((table or ROUTES).blueprint("all"))
    return {function.get_function_name(): function.get_user_function() for function in host.get_functions()}
