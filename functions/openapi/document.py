"""The OpenAPI 3.1 document of the HTTP API: what the routes in `functions/` really accept and answer.

Request bodies come from the pydantic commands (so they cannot drift from what `body()` validates);
the answers of mailboxes, messages and greetings from the response models that serialise them
(`shared/domain/views.py`); the rest from the services and the error boundary. Every 4xx/5xx names
the problem `type` slugs the route can really produce. `tests/unit/functions/test_openapi.py` keeps the paths
in step with the registered routes, and `tests/integration/test_openapi_live.py` checks the live API
against this document.
"""

from __future__ import annotations

import copy
from typing import Any

from functions.openapi.notifications import notification_paths, notification_schemas
from functions.openapi.operations import PLATFORM, PREFIX, SUBSCRIBER
from functions.openapi.paths import admin_paths, greeting_paths, mailbox_paths, message_paths, operational_paths
from functions.openapi.schemas import HEADERS, PARAMETERS, RESPONSE_SCHEMAS, answer_schemas, request_schemas


def openapi_document(version: str) -> dict[str, Any]:
    """The whole document for API version `version` (a fresh dict on every call)."""
    paths = {**operational_paths(), **mailbox_paths(), **message_paths(), **greeting_paths(), **admin_paths(),
             **notification_paths()}
    return copy.deepcopy({
        "openapi": "3.1.0",
        "info": {
            "title": "Voicemail API",
            "version": version,
            "description": "Voice platforms deposit messages; subscribers' apps list, play and manage them. "
                           "Every 4xx/5xx body is RFC 9457 `application/problem+json` with a stable `type` slug; "
                           "503 answers carry `Retry-After`.",
        },
        "servers": [{"url": "/"}],
        "tags": [{"name": name}
                 for name in ("health", "mailboxes", "sessions", "messages", "greetings", "notifications", "admin",
                              "meta")],
        "paths": {f"{PREFIX}{path}": item for path, item in paths.items()},
        "components": {
            "schemas": {**request_schemas(), **answer_schemas(), **RESPONSE_SCHEMAS, **notification_schemas()},
            "parameters": PARAMETERS,
            "headers": HEADERS,
            "securitySchemes": {
                PLATFORM: {"type": "apiKey", "in": "header", "name": "x-api-key",
                           "description": "platform key: every route, every mailbox"},
                SUBSCRIBER: {"type": "http", "scheme": "bearer",
                             "description": "session token from POST /api/mailboxes/{mailboxId}/sessions: "
                                            "that one mailbox only"},
            },
        },
    })
