"""The Functions app: created once, every blueprint registered unconditionally. Nothing else."""

import azure.functions as func

from functions import conflicts, docs, fallback, greetings, health, incoming, mailboxes, messages, notifications, sweeps
from shared import telemetry
from shared.config import settings

settings()  # fail fast: a missing or malformed setting stops start-up here, naming the setting
# Before the first invocation, so its spans are exported (a no-op without APPLICATIONINSIGHTS_CONNECTION_STRING).
telemetry.configure(settings())

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
app.register_functions(health.bp)
app.register_functions(mailboxes.bp)
app.register_functions(messages.bp)
app.register_functions(greetings.bp)
app.register_functions(incoming.bp)
app.register_functions(sweeps.bp)
app.register_functions(conflicts.bp)
app.register_functions(notifications.bp)
app.register_functions(docs.bp)
app.register_functions(fallback.bp)
