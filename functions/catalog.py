"""Every HTTP route, declared: importing the route modules fills the operation table (functions/table.py)."""

from functions import (  # noqa: F401 - they declare the routes
    admin,
    audit,
    classes,
    docs,
    erasure,
    exports,
    greetings,
    health,
    holds,
    mailboxes,
    messages,
    notifications,
    tenants,
    usage,
)
from functions.table import ROUTES

__all__ = ["ROUTES"]
