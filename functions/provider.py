"""Where every function gets the app: `APP()`, the process's `bootstrap()` unless a test put
another in its place (`with APP.override(app): ...`). Nothing in functions/ calls `bootstrap` itself."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from shared.bootstrap import App, bootstrap


class Provider:
    """The app for this process; tests swap it for the length of a `with` block."""

    def __init__(self, make: Callable[[], App]):
        self._make = make
        self._override: App | None = None
        self._lock = threading.Lock()

    def __call__(self) -> App:
        override = self._override
        return self._make() if override is None else override

    @contextmanager
    def override(self, app: object) -> Iterator[object]:
        """Serve `app` (a fake, or anything with the attributes the functions use) until the block ends."""
        with self._lock:
            previous, self._override = self._override, app  # type: ignore[assignment]
        try:
            yield app
        finally:
            with self._lock:
                self._override = previous


APP = Provider(bootstrap)
