"""Every HTTP route, declared: importing the route modules fills the operation table (functions/table.py)."""

from functions import admin, docs, greetings, health, holds, mailboxes, messages, notifications  # noqa: F401
from functions.table import ROUTES

__all__ = ["ROUTES"]
