"""Greeting routes: upload, fetch, delete, and the greeting the platform should play now."""

from __future__ import annotations

import azure.functions as func

from functions.http import choice, json_response
from functions.messages import AUDIO_ANSWERS, FORMAT, audio_response, audio_upload
from functions.openapi.schemas import header_param, query
from functions.table import PLATFORM_ONLY, PLATFORM_OR_SUBSCRIBER, ROUTES, Answer, Call
from shared.domain.errors import (
    AudioNotFound,
    InvalidAudio,
    MailboxNotFound,
    MessageProcessing,
    NotFound,
    PayloadTooLarge,
    RangeNotSatisfiable,
    TooManyRequests,
)
from shared.domain.model import AUDIO_FORMATS
from shared.domain.views import Greeting

GREETING = "mailboxes/{mailboxId}/greetings/{kind}"


@ROUTES.route("PUT", GREETING, tag="greetings", summary="Upload a greeting (transcoded like messages)",
              principals=PLATFORM_OR_SUBSCRIBER, audio=True,
              answers={202: Answer("the greeting, processing", Greeting)},
              errors=(MailboxNotFound, PayloadTooLarge, InvalidAudio, TooManyRequests))
def put_greeting(call: Call) -> func.HttpResponse:
    audio, content_type = audio_upload(call.req)
    kind = call.req.route_params.get("kind", "")
    return json_response(call.app.greetings.put(call.principal, call.mailbox, kind, audio, content_type), status=202)


@ROUTES.route("GET", f"{GREETING}/audio", tag="greetings", summary="Fetch a greeting's audio",
              principals=PLATFORM_OR_SUBSCRIBER, flow="playback",
              parameters=(FORMAT, header_param("Range", {"type": "string"}, "one `bytes=` range")),
              answers=AUDIO_ANSWERS,
              errors=(NotFound, AudioNotFound, MailboxNotFound, MessageProcessing, RangeNotSatisfiable),
              audited=PLATFORM_OR_SUBSCRIBER)
def get_greeting_audio(call: Call) -> func.HttpResponse:
    req = call.req
    answer = call.app.greetings.audio(call.principal, call.mailbox, req.route_params.get("kind", ""),
                                      choice(req, "format", AUDIO_FORMATS), req.headers.get("range"))
    return audio_response(answer)


@ROUTES.route("DELETE", GREETING, tag="greetings", summary="Delete a greeting", principals=PLATFORM_OR_SUBSCRIBER,
              answers={204: Answer("deleted (or there was none)")}, errors=(MailboxNotFound, TooManyRequests))
def delete_greeting(call: Call) -> func.HttpResponse:
    call.app.greetings.delete(call.principal, call.mailbox, call.req.route_params.get("kind", ""))
    return func.HttpResponse(status_code=204, headers={"Cache-Control": "no-store"})


@ROUTES.route("GET", "mailboxes/{mailboxId}/greeting", tag="greetings", summary="The greeting to play now",
              principals=PLATFORM_ONLY, flow="playback",
              description="`temporary` if set, else the one for the reason, else `name`, else 404 (the "
                          "platform plays its default). The subscriber's `greeting` choice can narrow this.",
              parameters=(query("reason", {"type": "string", "enum": ["busy", "unavailable"]},
                                "why the call was not answered (default unavailable)"), FORMAT),
              answers={200: AUDIO_ANSWERS[200]}, errors=(NotFound, MailboxNotFound, AudioNotFound, MessageProcessing))
def active_greeting(call: Call) -> func.HttpResponse:
    """The greeting to play now: temporary, else the reason's, else the name; 404 → the default."""
    reason = choice(call.req, "reason", ("busy", "unavailable"), "unavailable")
    answer = call.app.greetings.active(call.principal, call.mailbox, reason, choice(call.req, "format", AUDIO_FORMATS))
    return audio_response(answer)
