"""The interfaces services depend on; adapters in `shared/adapters/` implement them."""

from __future__ import annotations

from typing import Protocol


class DependencyProbe(Protocol):
    """One readiness check of a dependency (metadata store, blob store)."""

    name: str

    def check(self) -> dict[str, object]:
        """Exercise the dependency once; raise on failure. Returns extra facts (e.g. drained)."""
        ...
