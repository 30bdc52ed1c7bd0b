"""The Functions app: created once, every blueprint registered unconditionally. Nothing else.

Importing it never fails on a setting: a missing, malformed or unresolved one (a Key Vault reference
not resolved yet) is logged once and named by /api/health/ready (503); every other route answers 503
`not-configured` until it is fixed. Every function is indexed whatever the settings.
"""

import azure.functions as func

from functions import (
    conflicts,
    docs,
    fallback,
    greetings,
    health,
    incoming,
    journal,
    mailboxes,
    messages,
    notifications,
    transcripts,
)
from functions.sweeps import admin, replication, retention
from shared import telemetry
from shared.config import settings, settings_error

# Otherwise the error is logged once, and bootstrap() configures telemetry once the settings are valid.
if settings_error() is None:
    # Before the first invocation, so its spans are exported (a no-op without APPLICATIONINSIGHTS_CONNECTION_STRING).
    telemetry.configure(settings())

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
app.register_functions(health.bp)
app.register_functions(mailboxes.bp)
app.register_functions(messages.bp)
app.register_functions(greetings.bp)
app.register_functions(incoming.bp)
app.register_functions(journal.bp)
app.register_functions(retention.bp)
app.register_functions(replication.bp)
app.register_functions(admin.bp)
app.register_functions(conflicts.bp)
app.register_functions(transcripts.bp)
app.register_functions(notifications.bp)
app.register_functions(docs.bp)
app.register_functions(fallback.bp)
