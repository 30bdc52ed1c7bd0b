"""Every HTTP route, declared: importing the route modules fills the operation table (functions/table.py)."""

from functions import admin, docs, erasure, greetings, health, mailboxes, messages, notifications  # noqa: F401 - they declare
from functions.table import ROUTES

__all__ = ["ROUTES"]
