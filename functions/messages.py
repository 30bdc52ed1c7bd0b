"""Message routes: deposit, list, get, audio, update, delete, forward."""

from __future__ import annotations

import re

import azure.functions as func

from functions.http import body, choice, flag, if_match, integer, json_response, timestamp
from functions.openapi.links import MESSAGE_LINKS
from functions.openapi.schemas import TIME, Schema, header_param, param_ref, query
from functions.table import PLATFORM_ONLY, PLATFORM_OR_SUBSCRIBER, ROUTES, Answer, Call
from shared.domain import tenancy
from shared.domain.commands import (
    AUDIO_CONTENT_TYPE,
    PHONE,
    ForwardMessage,
    PatchMessage,
    RequestUpload,
    caller_name,
)
from shared.domain.errors import (
    AudioNotFound,
    EtagMismatch,
    ForwardRefused,
    Held,
    IdempotencyConflict,
    InvalidAudio,
    MailboxFull,
    MailboxNotFound,
    MessageNotFound,
    MessageProcessing,
    PayloadTooLarge,
    RangeNotSatisfiable,
    TooManyRequests,
    ValidationFailed,
)
from shared.domain.model import AUDIO_FORMATS, FOLDERS, MAX_INLINE_AUDIO_BYTES, ListQuery
from shared.domain.views import Message, MessageList
from shared.services.audio_answers import AudioAnswer
from shared.services.messages import Sender, received_between

MESSAGES = "mailboxes/{mailboxId}/messages"
MESSAGE = "mailboxes/{mailboxId}/messages/{messageId}"
IDEMPOTENCY_KEY_MAX = 200
BOOLEAN: Schema = {"type": "boolean"}
MESSAGE_ANSWER = Answer("the message", Message, ("ETag", "Location"))
_BINARY: Schema = {"schema": {"type": "string", "format": "binary"}}
_RANGE_HEADERS: Schema = {"Accept-Ranges": {"required": True, "schema": {"const": "bytes"}},
                          "Content-Range": {"required": True, "schema": {
                              "type": "string", "pattern": "^bytes [0-9]+-[0-9]+/[0-9]+$"}}}
AUDIO_ANSWERS: dict[int, Answer] = {
    200: Answer("the audio", raw={"description": "the audio",
                                  "headers": {"Accept-Ranges": _RANGE_HEADERS["Accept-Ranges"]},
                                  "content": {"audio/*": {}, "application/octet-stream": {}}}),
    206: Answer("the requested range of the audio", raw={
        "description": "the requested range of the audio", "headers": _RANGE_HEADERS,
        "content": {"audio/*": {}, "application/octet-stream": {}}}),
}
FORMAT = query("format", {"type": "string", "enum": list(AUDIO_FORMATS)}, "rendition")
_DEPOSITED = Answer("accepted: the message, `processing`", links=MESSAGE_LINKS, raw={
    "description": "accepted: the message, `processing`",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Message"}}},
    # absent when the deposit was journaled through a database outage
    "headers": {"Location": {"$ref": "#/components/headers/Location"},
                "ETag": {"$ref": "#/components/headers/DepositETag"}}})

def _idempotency_key(req: func.HttpRequest) -> str | None:
    key = req.headers.get("idempotency-key")
    if key is None:
        return None
    if not 1 <= len(key) <= IDEMPOTENCY_KEY_MAX or not key.isprintable() or not key.isascii():
        raise ValidationFailed(f"Idempotency-Key must be 1-{IDEMPOTENCY_KEY_MAX} printable ASCII characters")
    return key


def _sender(req: func.HttpRequest) -> Sender:
    number, name = req.params.get("from") or None, req.params.get("fromName") or None
    if number is not None and not re.fullmatch(PHONE, number):
        raise ValidationFailed("from must be a phone number or SIP user part (up to 32 characters)")
    try:
        name = caller_name(name)
    except ValueError as error:
        raise ValidationFailed(str(error)) from None
    return Sender(number, name, bool(flag(req, "urgent")))


def _location(call: Call, message: dict) -> str:
    """The message's URL: in its mailbox (a forward's copy: the target's, in the same tenant)."""
    return f"{tenancy.api_path(tenancy.key(call.tenant, message['mailboxId']))}/messages/{message['id']}"


def _message_response(call: Call, message: dict, status: int = 200) -> func.HttpResponse:
    # A deposit journaled through a database outage has no document yet, so no ETag.
    etag = {"ETag": message["etag"]} if message.get("etag") else {}
    return json_response(message, status=status, headers={**etag, "Location": _location(call, message)})



@ROUTES.route("POST", MESSAGES, tag="messages", summary="Deposit a message", principals=PLATFORM_ONLY,
              request=RequestUpload, audio=True, flow="deposit",
              description="An audio body (`audio/*` or `application/octet-stream`, at most "
                          f"{MAX_INLINE_AUDIO_BYTES} bytes) → 202 message in `processing`. A JSON body → 201 "
                          "message and a short-lived write-only upload link; the message appears once the "
                          "upload lands. The query parameters apply to audio bodies only (JSON carries them). "
                          "While the database does not answer (a few seconds), an audio deposit is journaled "
                          "with its audio and still answers 202, with no `ETag`: the message is listed and "
                          "counted, under the same id, once the database answers again.",
              parameters=(
                  query("from", {"type": "string", "pattern": PHONE}, "caller number or SIP user part"),
                  query("fromName", {"type": "string", "maxLength": 100}, "caller name"),
                  query("urgent", BOOLEAN, "mark urgent"),
                  header_param("Idempotency-Key", {"type": "string", "minLength": 1, "maxLength": 200,
                                                    "pattern": "^[\\x20-\\x7E]+$"},
                               "a retry with the same key yields the same message, never a second one")),
              answers={201: Answer("upload requested", "UploadRequestResult", ("Location",)), 202: _DEPOSITED},
              errors=(MailboxNotFound, MailboxFull, IdempotencyConflict, PayloadTooLarge, InvalidAudio))
def deposit_message(call: Call) -> func.HttpResponse:
    """Audio body → 202 message; JSON body → 201 message and a write-only upload link."""
    key = _idempotency_key(call.req)
    if _content_type(call.req) == "application/json":
        result = call.app.messages.request_upload(call.principal, call.mailbox, body(call.req, RequestUpload), key)
        return json_response(result, status=201, headers={"Location": _location(call, result["message"])})
    audio, content_type = audio_upload(call.req)
    message, _ = call.app.messages.deposit(call.principal, call.mailbox, audio, content_type, _sender(call.req), key)
    return _message_response(call, message, status=202)


def _content_type(req: func.HttpRequest) -> str:
    return (req.headers.get("content-type") or "").split(";")[0].strip().lower()


def audio_upload(req: func.HttpRequest) -> tuple[bytes, str]:
    """An inline audio body and its type (415 if it does not claim to be audio, 413 if too big)."""
    content_type = _content_type(req)
    if not re.fullmatch(AUDIO_CONTENT_TYPE, content_type):
        raise InvalidAudio("send audio (audio/wav, audio/mpeg, audio/ogg, audio/amr, audio/basic, ...) "
                           "or, for messages, a JSON request for an upload link")
    declared = req.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_INLINE_AUDIO_BYTES:
        raise PayloadTooLarge(f"inline audio is limited to {MAX_INLINE_AUDIO_BYTES} bytes; ask for an upload link")
    return req.get_body(), content_type


def audio_response(answer: AudioAnswer) -> func.HttpResponse:
    if answer.redirect_url:
        headers = {"Location": answer.redirect_url, "Cache-Control": "no-store"}
        return func.HttpResponse(status_code=302, headers=headers)
    headers = {"Accept-Ranges": "bytes", "Cache-Control": "private, no-store", "Content-Type": answer.content_type,
               "X-Content-Type-Options": "nosniff"}
    if answer.range is not None:
        first, last = answer.range
        headers["Content-Range"] = f"bytes {first}-{last}/{answer.total_size}"
        return func.HttpResponse(answer.data, status_code=206, headers=headers)
    return func.HttpResponse(answer.data, status_code=200, headers=headers)


@ROUTES.route("GET", MESSAGES, tag="messages", summary="List messages", principals=PLATFORM_OR_SUBSCRIBER,
              description="Without `folder`: inbox and saved. Keyset paging by `continuation`.",
              parameters=(
                  query("folder", {"type": "string", "enum": list(FOLDERS)}, "only this folder"),
                  query("heard", BOOLEAN, "only heard (true) or unheard (false)"),
                  query("urgent", BOOLEAN, "only urgent (true) or not (false)"),
                  query("since", TIME, "received at or after (RFC 3339 with zone)"),
                  query("until", TIME, "received before (RFC 3339 with zone); after `since`"),
                  query("order", {"type": "string", "enum": ["asc", "desc"], "default": "desc"}, "by time received"),
                  query("limit", {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}, "page size"),
                  query("continuation", {"type": "string"}, "from the previous page, with the same `order`")),
              answers={200: Answer("a page of messages", MessageList)}, errors=(MailboxNotFound,), flow="query")
def list_messages(call: Call) -> func.HttpResponse:
    req = call.req
    since, until = timestamp(req, "since"), timestamp(req, "until")
    received_between(since, until)
    query = ListQuery(folder=choice(req, "folder", FOLDERS), heard=flag(req, "heard"), urgent=flag(req, "urgent"),
                      since=since, until=until, descending=choice(req, "order", ("asc", "desc"), "desc") == "desc",
                      limit=integer(req, "limit", 50, 1, 200))
    continuation = req.params.get("continuation") or None
    return json_response(call.app.messages.list(call.principal, call.mailbox, query, continuation))


@ROUTES.route("GET", MESSAGE, tag="messages", summary="Read a message", principals=PLATFORM_OR_SUBSCRIBER,
              answers={200: MESSAGE_ANSWER}, errors=(MessageNotFound,), flow="query")
def get_message(call: Call) -> func.HttpResponse:
    return _message_response(call, call.app.messages.get(call.principal, call.mailbox, call.message))


@ROUTES.route("GET", f"{MESSAGE}/audio", tag="messages", summary="Fetch the audio",
              principals=PLATFORM_OR_SUBSCRIBER, flow="playback",
              description="Without `format`: the first rendition (409 while `processing`; `original` is "
                          "served meanwhile). One `bytes=` range is honoured (206).",
              parameters=(FORMAT, query("redirect", BOOLEAN, "302 to a read-only link for this one blob instead"),
                          header_param("Range", {"type": "string"},
                                       "one `bytes=first-last` or `bytes=-suffix` range")),
              answers={**AUDIO_ANSWERS, 302: Answer("a short-lived read-only link to the audio", raw={
                  "description": "a short-lived read-only link to the audio",
                  "headers": {"Location": {"required": True, "schema": {"type": "string", "format": "uri"}}}})},
              errors=(MessageNotFound, AudioNotFound, MessageProcessing, RangeNotSatisfiable),
              audited=PLATFORM_OR_SUBSCRIBER)  # every audio read, every link minted
def get_message_audio(call: Call) -> func.HttpResponse:
    req = call.req
    answer = call.app.messages.audio(call.principal, call.mailbox, call.message, choice(req, "format", AUDIO_FORMATS),
                                     req.headers.get("range"), bool(flag(req, "redirect")))
    return audio_response(answer)


@ROUTES.route("PATCH", MESSAGE, tag="messages", summary="Mark heard, urgent, or move between folders",
              principals=PLATFORM_OR_SUBSCRIBER, parameters=(param_ref("ifMatch"),), request=PatchMessage,
              at_least_one=True,
              description="Give at least one of heard, folder, urgent; moving to `trash` is undone by moving back.",
              answers={200: MESSAGE_ANSWER}, errors=(MessageNotFound, MailboxNotFound, EtagMismatch, TooManyRequests))
def patch_message(call: Call) -> func.HttpResponse:
    message = call.app.messages.patch(call.principal, call.mailbox, call.message, call.body, if_match(call.req))
    return _message_response(call, message)


@ROUTES.route("DELETE", MESSAGE, tag="messages", summary="Move to trash, or purge", principals=PLATFORM_OR_SUBSCRIBER,
              parameters=(query("purge", BOOLEAN, "delete for good, audio included"),),
              answers={204: Answer("trashed (or purged)")},
              errors=(MessageNotFound, MailboxNotFound, EtagMismatch, TooManyRequests, Held))
def delete_message(call: Call) -> func.HttpResponse:
    call.app.messages.delete(call.principal, call.mailbox, call.message, purge=bool(flag(call.req, "purge")))
    return func.HttpResponse(status_code=204, headers={"Cache-Control": "no-store"})


@ROUTES.route("POST", f"{MESSAGE}/forward", tag="messages", summary="Forward a copy to another mailbox",
              principals=PLATFORM_OR_SUBSCRIBER, request=ForwardMessage,
              description="Forwarding the same message to the same mailbox again yields the same copy. A forward "
                          "never takes the last 20 % of the target's `maxMessages` (kept for callers), and a "
                          "subscriber forwards at most 20 messages an hour. Every refusal (target unknown, full "
                          "or refusing; the hourly limit) answers the same 409 `forward-refused`, never another "
                          "mailbox's counts.",
              answers={202: Answer("the new message in the target mailbox", Message, ("ETag", "Location"),
                                   MESSAGE_LINKS)},
              errors=(MessageNotFound, AudioNotFound, MailboxNotFound, MessageProcessing, ForwardRefused,
                      TooManyRequests))
def forward_message(call: Call) -> func.HttpResponse:
    return _message_response(call, call.app.messages.forward(call.principal, call.mailbox, call.message, call.body),
                             status=202)
