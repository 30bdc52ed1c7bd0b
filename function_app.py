"""The Functions app: created once, its blueprints registered by the process's role. Nothing else.

One package, two function apps per stamp in Azure (APP_ROLE): `api` serves clients (their routes,
the audio pipeline, transcription), `management` everything that runs on its own (sweeps,
conflicts, the notification dispatcher, the journal's replay) and the operators' admin routes, so
neither takes the other's instances. Locally one host serves `all`; `make run PLANES=2` runs two.

Importing it never fails on a setting: a missing, malformed or unresolved one (a Key Vault reference
not resolved yet) is logged once and named by /api/health/ready (503); every other route answers 503
`not-configured` until it is fixed. Every function of the role is indexed whatever the settings.
"""

import azure.functions as func

from functions import conflicts, dispatcher, erasure, fallback, incoming, journal, transcripts
from functions.catalog import ROUTES
from functions.sweeps import exports, replication, retention
from shared import telemetry
from shared.config import app_role, settings, settings_error

# The HTTP routes come from the operation table (each names its plane); these run on their own.
API = (incoming.bp, transcripts.bp)
MANAGEMENT = (journal.bp, retention.bp, replication.bp, conflicts.bp, dispatcher.bp, erasure.bp, exports.bp)
ROLES = {"api": API, "management": MANAGEMENT, "all": API + MANAGEMENT}

# Otherwise the error is logged once, and bootstrap() configures telemetry once the settings are valid.
if settings_error() is None:
    # Before the first invocation, so its spans are exported (a no-op without APPLICATIONINSIGHTS_CONNECTION_STRING).
    telemetry.configure(settings())

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
app.register_functions(ROUTES.blueprint(app_role()))
for blueprint in ROLES[app_role()]:
    app.register_functions(blueprint)
app.register_functions(fallback.bp)  # last: its catch-all route answers what no other route does
