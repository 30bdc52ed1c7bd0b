"""OpenAPI links: where an id an answer creates can be used next (runtime expressions)."""

from __future__ import annotations

from functions.openapi.schemas import Schema


def link(operation_id: str, description: str, request_body: Schema | None = None, **parameters: str) -> Schema:
    link: Schema = {"operationId": operation_id, "description": description, "parameters": parameters}
    if request_body is not None:
        link["requestBody"] = request_body
    return link


THIS_MESSAGE = {"mailboxId": "$response.body#/mailboxId", "messageId": "$response.body#/id"}
MESSAGE_LINKS: dict[str, Schema] = {
    "GetMessage": link("get_message", "read this message", **THIS_MESSAGE),
    "PatchMessage": link("patch_message", "mark this message heard or urgent, or move it", **THIS_MESSAGE),
    "DeleteMessage": link("delete_message", "move this message to the trash, or purge it", **THIS_MESSAGE),
    "ForwardMessage": link("forward_message", "forward a copy of this message", **THIS_MESSAGE),
    "GetMessageAudio": link("get_message_audio", "fetch this message's audio", **THIS_MESSAGE),
}
THIS_MAILBOX = {"mailboxId": "$response.body#/id"}
MAILBOX_LINKS: dict[str, Schema] = {
    "GetMailbox": link("get_mailbox", "read this mailbox and its counts", **THIS_MAILBOX),
    "ListMessages": link("list_messages", "list this mailbox's messages", **THIS_MAILBOX),
    "DepositMessage": link("deposit_message", "deposit a message in this mailbox", **THIS_MAILBOX),
    "CreateSession": link("create_session", "log in to this mailbox with the PIN just set",
                          request_body={"pin": "$request.body#/pin"}, **THIS_MAILBOX),
}
_BEARER = "; send the session's `token` as `Authorization: Bearer <token>` (it names only this mailbox)"
SESSION_LINKS: dict[str, Schema] = {
    "GetMailbox": link("get_mailbox", "read the mailbox" + _BEARER, mailboxId="$request.path.mailboxId"),
    "ListMessages": link("list_messages", "list the mailbox's messages" + _BEARER,
                         mailboxId="$request.path.mailboxId"),
}
SWEEP_LINKS: dict[str, Schema] = {
    "GetSweepStatus": link("sweep_status", "follow this sweep (also at `statusUrl` and `Location`)",
                           instanceId="$response.body#/instanceId"),
}
