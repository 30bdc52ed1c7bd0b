"""HTTP trigger route templates (`mailboxes/{mailboxId}/messages/{messageId?}`) matched as the host does."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

_PARAM = re.compile(r"\{(\*?)([A-Za-z_][A-Za-z0-9_]*)(?::([A-Za-z]+))?(\?)?\}")
_CONSTRAINTS = {"int": r"-?\d+", "long": r"-?\d+", "alpha": r"[A-Za-z]+", "bool": r"(?i:true|false)",
                "guid": r"[0-9A-Fa-f]{8}-?(?:[0-9A-Fa-f]{4}-?){3}[0-9A-Fa-f]{12}", "double": r"-?\d+(?:\.\d+)?",
                "decimal": r"-?\d+(?:\.\d+)?", "float": r"-?\d+(?:\.\d+)?", "datetime": r"[^/]+"}
# Precedence as in ASP.NET routing: literal segments before constrained parameters before plain
# ones before optional ones before catch-alls.
LITERAL, CONSTRAINED, PARAMETER, OPTIONAL, CATCH_ALL = range(5)


@dataclass(frozen=True)
class Route:
    template: str
    methods: frozenset[str] | None  # None: every method
    pattern: re.Pattern[str]
    precedence: tuple[int, ...]
    target: Any

    def match(self, raw_path: str) -> dict[str, str] | None:
        """Route parameters of raw_path (still percent-encoded), decoded, or None."""
        found = self.pattern.fullmatch(raw_path)
        if found is None:
            return None
        return {name: unquote(value) for name, value in found.groupdict().items() if value is not None}


def compile_route(template: str, methods: list[str] | None, target: Any, prefix: str = "") -> Route:
    segments = [s for s in f"{prefix.strip('/')}/{template.strip('/')}".split("/") if s]
    regex, precedence = "", []
    for segment in segments:
        params = list(_PARAM.finditer(segment))
        if not params:
            regex += "/" + re.escape(segment)
            precedence.append(LITERAL)
            continue
        catch_all, optional = params[0].group(1), params[-1].group(4)
        piece, position, kinds = "", 0, []
        for param in params:
            star, name, constraint, _ = param.groups()
            piece += re.escape(segment[position:param.start()])
            value = ".*" if star else _CONSTRAINTS.get((constraint or "").lower(), r"[^/]+")
            piece += f"(?P<{name}>{value})"
            position = param.end()
            kinds.append(CATCH_ALL if star else CONSTRAINED if constraint else PARAMETER)
        piece += re.escape(segment[position:])
        regex += f"(?:/{piece})?" if optional or catch_all else f"/{piece}"
        precedence.append(OPTIONAL if optional and not catch_all else max(kinds))
    if not regex:
        regex = "/?"
    return Route(template, frozenset(m.upper() for m in methods) if methods else None,
                 re.compile(regex + "/?", re.IGNORECASE), tuple(precedence), target)


def find_route(routes: list[Route], raw_path: str, method: str) -> tuple[Route, dict[str, str]] | None:
    """The best route for path and method (a route of another method does not match, as in Azure)."""
    return RouteTable(routes).find(raw_path, method)


class RouteTable:
    """Routes looked up per request: only the method's own routes (and those of every method) are
    tried, best precedence first, and the first that matches wins. Sorting is stable, so among
    routes of equal precedence the one registered first wins, as in `find_route`."""

    _METHODS_KEPT = 32  # a client can send any method name: the per-method lists stay bounded

    def __init__(self, routes: list[Route]):
        self._routes = sorted(routes, key=lambda route: route.precedence)
        self._by_method: dict[str, list[Route]] = {}

    def _candidates(self, method: str) -> list[Route]:
        found = self._by_method.get(method)
        if found is None:
            found = [route for route in self._routes if route.methods is None or method in route.methods]
            if len(self._by_method) >= self._METHODS_KEPT:
                self._by_method.clear()
            self._by_method[method] = found
        return found

    def append(self, route: Route) -> None:
        self._routes = sorted([*self._routes, route], key=lambda known: known.precedence)
        self._by_method.clear()

    def find(self, raw_path: str, method: str) -> tuple[Route, dict[str, str]] | None:
        for route in self._candidates(method.upper()):
            params = route.match(raw_path)
            if params is not None:
                return route, params
        return None
