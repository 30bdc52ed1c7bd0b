"""Greeting routes: upload, fetch, delete, and the greeting the platform should play now."""

from __future__ import annotations

import azure.functions as func

from functions.http import choice, endpoint, json_response, mailbox_id, principal
from functions.messages import audio_response, audio_upload
from shared.bootstrap import App
from shared.domain.model import AUDIO_FORMATS

bp = func.Blueprint()
GREETING = "mailboxes/{mailboxId}/greetings/{kind}"


@bp.function_name("put_greeting")
@bp.route(route=GREETING, methods=["PUT"], auth_level=func.AuthLevel.ANONYMOUS)
@endpoint
def put_greeting(req: func.HttpRequest, app: App) -> func.HttpResponse:
    who, mailbox = principal(req, app), mailbox_id(req)
    audio, content_type = audio_upload(req)
    return json_response(app.greetings.put(who, mailbox, req.route_params.get("kind", ""), audio, content_type),
                         status=202)


@bp.function_name("get_greeting_audio")
@bp.route(route=f"{GREETING}/audio", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@endpoint
def get_greeting_audio(req: func.HttpRequest, app: App) -> func.HttpResponse:
    who, mailbox = principal(req, app), mailbox_id(req)
    answer = app.greetings.audio(who, mailbox, req.route_params.get("kind", ""),
                                 choice(req, "format", AUDIO_FORMATS), req.headers.get("range"))
    return audio_response(answer)


@bp.function_name("delete_greeting")
@bp.route(route=GREETING, methods=["DELETE"], auth_level=func.AuthLevel.ANONYMOUS)
@endpoint
def delete_greeting(req: func.HttpRequest, app: App) -> func.HttpResponse:
    app.greetings.delete(principal(req, app), mailbox_id(req), req.route_params.get("kind", ""))
    return func.HttpResponse(status_code=204, headers={"Cache-Control": "no-store"})


@bp.function_name("active_greeting")
@bp.route(route="mailboxes/{mailboxId}/greeting", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@endpoint
def active_greeting(req: func.HttpRequest, app: App) -> func.HttpResponse:
    """The greeting to play now: temporary, else the reason's, else the name; 404 → the default."""
    who, mailbox = principal(req, app), mailbox_id(req)
    reason = choice(req, "reason", ("busy", "unavailable"), "unavailable")
    answer = app.greetings.active(who, mailbox, reason, choice(req, "format", AUDIO_FORMATS))
    return audio_response(answer)
