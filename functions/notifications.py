"""A mailbox's notification targets (the subscriber's and the platform's routes). The dispatcher is
the management plane's (functions/dispatcher.py), the dead letters the operators' (functions/admin.py)."""

from __future__ import annotations

import azure.functions as func

from functions.http import json_response
from functions.table import PLATFORM_OR_SUBSCRIBER, ROUTES, Answer, Call
from shared.domain.errors import (
    EtagMismatch,
    InvalidWebhookUrl,
    MailboxNotFound,
    NotAllowed,
    NotFound,
    TooManyRequests,
    VerificationFailed,
)
from shared.domain.notifications import PutNotifications
from shared.domain.verification import VerifyTarget

TARGETS = Answer("the mailbox's targets (webhook secrets only when just created)", "NotificationTargets")


@ROUTES.route("PUT", "mailboxes/{mailboxId}/notifications", tag="notifications",
              summary="Set the mailbox's notification targets", principals=PLATFORM_OR_SUBSCRIBER,
              request=PutNotifications,
              description="Webhook targets are the platform's; subscribers manage their e-mail and SMS "
                          "targets (their PUT keeps the webhooks). Events: message.ready, message.failed, "
                          "mwi.changed, signed by Standard Webhooks. An e-mail or SMS target a subscriber "
                          "sets is `verified: false` and gets one message, a 6-digit code, and nothing else "
                          "until the code is confirmed (`verify_notification_target`); at most 3 codes a "
                          "day per target (429 beyond). The platform's targets are verified.",
              answers={200: TARGETS}, errors=(MailboxNotFound, EtagMismatch, InvalidWebhookUrl, TooManyRequests,
                                              NotAllowed))
def put_notifications(call: Call) -> func.HttpResponse:
    return json_response(call.app.notifications.configure(call.principal, call.mailbox, call.body))


@ROUTES.route("GET", "mailboxes/{mailboxId}/notifications", tag="notifications",
              summary="The mailbox's notification targets, without secrets", principals=PLATFORM_OR_SUBSCRIBER,
              answers={200: TARGETS}, errors=(MailboxNotFound,))
def get_notifications(call: Call) -> func.HttpResponse:
    return json_response(call.app.notifications.show(call.principal, call.mailbox))


@ROUTES.route("POST", "mailboxes/{mailboxId}/notifications/verify", tag="notifications",
              summary="Confirm an e-mail or SMS target with its code", principals=PLATFORM_OR_SUBSCRIBER,
              request=VerifyTarget,
              description="The target then gets `message.ready`. A code lives 30 minutes and allows 5 wrong "
                          "tries; a target already verified answers 204 again.",
              answers={204: Answer("the target is verified")},
              errors=(MailboxNotFound, NotFound, EtagMismatch, VerificationFailed, TooManyRequests))
def verify_notification_target(call: Call) -> func.HttpResponse:
    call.app.notifications.verify(call.principal, call.mailbox, call.body)
    return func.HttpResponse(status_code=204, headers={"Cache-Control": "no-store"})
