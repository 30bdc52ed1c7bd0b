"""Message routes: deposit, list, get, audio, update, delete, forward."""

from __future__ import annotations

import re
from urllib.parse import quote

import azure.functions as func

from functions.http import (
    body,
    choice,
    endpoint,
    flag,
    if_match,
    integer,
    json_response,
    mailbox_id,
    message_id,
    principal,
    timestamp,
)
from shared.bootstrap import App
from shared.domain.commands import (
    AUDIO_CONTENT_TYPE,
    PHONE,
    ForwardMessage,
    PatchMessage,
    RequestUpload,
    caller_name,
)
from shared.domain.errors import InvalidAudio, PayloadTooLarge, ValidationFailed
from shared.domain.model import AUDIO_FORMATS, FOLDERS, MAX_INLINE_AUDIO_BYTES, ListQuery
from shared.services.audio_answers import AudioAnswer
from shared.services.messages import Sender, received_between

bp = func.Blueprint()
MESSAGES = "mailboxes/{mailboxId}/messages"
MESSAGE = "mailboxes/{mailboxId}/messages/{messageId}"
IDEMPOTENCY_KEY_MAX = 200


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


def _location(message: dict) -> str:
    return f"/api/mailboxes/{quote(message['mailboxId'])}/messages/{message['id']}"


def _message_response(message: dict, status: int = 200) -> func.HttpResponse:
    # A deposit journaled through a database outage has no document yet, so no ETag.
    etag = {"ETag": message["etag"]} if message.get("etag") else {}
    return json_response(message, status=status, headers={**etag, "Location": _location(message)})


@bp.function_name("deposit_message")
@bp.route(route=MESSAGES, methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@endpoint
def deposit_message(req: func.HttpRequest, app: App) -> func.HttpResponse:
    """Audio body → 202 message; JSON body → 201 message and a write-only upload link."""
    who, mailbox, key = principal(req, app), mailbox_id(req), _idempotency_key(req)
    if _content_type(req) == "application/json":
        result = app.messages.request_upload(who, mailbox, body(req, RequestUpload), key)
        return json_response(result, status=201, headers={"Location": _location(result["message"])})
    audio, content_type = audio_upload(req)
    message, _ = app.messages.deposit(who, mailbox, audio, content_type, _sender(req), key)
    return _message_response(message, status=202)


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


@bp.function_name("list_messages")
@bp.route(route=MESSAGES, methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@endpoint
def list_messages(req: func.HttpRequest, app: App) -> func.HttpResponse:
    who, mailbox = principal(req, app), mailbox_id(req)
    since, until = timestamp(req, "since"), timestamp(req, "until")
    received_between(since, until)
    query = ListQuery(folder=choice(req, "folder", FOLDERS), heard=flag(req, "heard"), urgent=flag(req, "urgent"),
                      since=since, until=until, descending=choice(req, "order", ("asc", "desc"), "desc") == "desc",
                      limit=integer(req, "limit", 50, 1, 200))
    continuation = req.params.get("continuation") or None
    return json_response(app.messages.list(who, mailbox, query, continuation))


@bp.function_name("get_message")
@bp.route(route=MESSAGE, methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@endpoint
def get_message(req: func.HttpRequest, app: App) -> func.HttpResponse:
    return _message_response(app.messages.get(principal(req, app), mailbox_id(req), message_id(req)))


@bp.function_name("get_message_audio")
@bp.route(route=f"{MESSAGE}/audio", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@endpoint
def get_message_audio(req: func.HttpRequest, app: App) -> func.HttpResponse:
    who, mailbox, message = principal(req, app), mailbox_id(req), message_id(req)
    answer = app.messages.audio(who, mailbox, message, choice(req, "format", AUDIO_FORMATS),
                                req.headers.get("range"), bool(flag(req, "redirect")))
    return audio_response(answer)


@bp.function_name("patch_message")
@bp.route(route=MESSAGE, methods=["PATCH"], auth_level=func.AuthLevel.ANONYMOUS)
@endpoint
def patch_message(req: func.HttpRequest, app: App) -> func.HttpResponse:
    who, mailbox, message = principal(req, app), mailbox_id(req), message_id(req)
    return _message_response(app.messages.patch(who, mailbox, message, body(req, PatchMessage), if_match(req)))


@bp.function_name("delete_message")
@bp.route(route=MESSAGE, methods=["DELETE"], auth_level=func.AuthLevel.ANONYMOUS)
@endpoint
def delete_message(req: func.HttpRequest, app: App) -> func.HttpResponse:
    who, mailbox, message = principal(req, app), mailbox_id(req), message_id(req)
    app.messages.delete(who, mailbox, message, purge=bool(flag(req, "purge")))
    return func.HttpResponse(status_code=204, headers={"Cache-Control": "no-store"})


@bp.function_name("forward_message")
@bp.route(route=f"{MESSAGE}/forward", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@endpoint
def forward_message(req: func.HttpRequest, app: App) -> func.HttpResponse:
    who, mailbox, message = principal(req, app), mailbox_id(req), message_id(req)
    return _message_response(app.messages.forward(who, mailbox, message, body(req, ForwardMessage)), status=202)
