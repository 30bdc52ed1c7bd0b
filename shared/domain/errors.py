"""Domain errors: each names its stable problem `type` slug and HTTP status, in one place."""

from __future__ import annotations

from shared.domain.problems import Problem


class DomainError(Exception):
    type = "internal-error"
    title = "Internal error"
    status = 500
    retry_after_s: int | None = None

    def __init__(self, detail: str = "", retry_after_s: int | None = None):
        super().__init__(detail or self.title)
        self.detail = detail
        if retry_after_s is not None:
            self.retry_after_s = retry_after_s

    def problem(self) -> Problem:
        return Problem(self.type, self.title, self.status, self.detail, self.retry_after_s)


def _error(name: str, slug: str, title: str, status: int) -> type[DomainError]:
    return type(name, (DomainError,), {"type": slug, "title": title, "status": status})


ValidationFailed = _error("ValidationFailed", "validation-failed", "Request is not valid", 400)
Unauthorized = _error("Unauthorized", "unauthorized", "Credentials are required", 401)
InvalidToken = _error("InvalidToken", "invalid-token", "Token is invalid or expired", 401)
InvalidCredentials = _error("InvalidCredentials", "invalid-credentials", "Mailbox or PIN is wrong", 401)
Forbidden = _error("Forbidden", "forbidden", "Not allowed for this principal", 403)
PinMismatch = _error("PinMismatch", "pin-mismatch", "Current PIN is wrong", 403)
NotFound = _error("NotFound", "not-found", "No such resource", 404)
MailboxNotFound = _error("MailboxNotFound", "mailbox-not-found", "Mailbox not found", 404)
MessageNotFound = _error("MessageNotFound", "message-not-found", "Message not found", 404)
TenantNotFound = _error("TenantNotFound", "tenant-not-found", "Tenant not found", 404)
AudioNotFound = _error("AudioNotFound", "audio-not-found", "Audio not available", 404)
MailboxFull = _error("MailboxFull", "mailbox-full", "Mailbox is full", 409)
ForwardRefused = _error("ForwardRefused", "forward-refused", "Forward refused", 409)
TooManyRequests = _error("TooManyRequests", "too-many-requests", "Too many requests", 429)
MailboxDeprovisioning = _error("MailboxDeprovisioning", "mailbox-deprovisioning",
                               "Mailbox is being deprovisioned", 409)
IdempotencyConflict = _error("IdempotencyConflict", "idempotency-key-reused",
                             "Idempotency-Key was used with a different request", 409)
MessageProcessing = _error("MessageProcessing", "message-processing", "Message audio is still processing", 409)
EtagMismatch = _error("EtagMismatch", "etag-mismatch", "Resource changed since it was read", 412)
PayloadTooLarge = _error("PayloadTooLarge", "payload-too-large", "Request body is too large", 413)
InvalidAudio = _error("InvalidAudio", "invalid-audio", "Body is not audio", 415)
InvalidWebhookUrl = _error("InvalidWebhookUrl", "invalid-webhook-url", "Webhook URL cannot be used", 422)
VerificationFailed = _error("VerificationFailed", "verification-failed", "Verification code is wrong or spent", 422)
RangeNotSatisfiable = _error("RangeNotSatisfiable", "range-not-satisfiable", "Range cannot be served", 416)
SweepRunning = _error("SweepRunning", "sweep-running", "Sweep already running", 409)
ConflictsPending = _error("ConflictsPending", "conflicts-pending",
                          "The mailbox's write conflicts between regions are still being merged", 409)
EventNotDeadLettered = _error("EventNotDeadLettered", "event-not-dead-lettered", "Event is not dead-lettered", 409)
TooManyKeys = _error("TooManyKeys", "too-many-keys", "The tenant has as many live keys as it may", 409)
Held = _error("Held", "held", "Mailbox is under legal hold", 409)
BeyondClass = _error("BeyondClass", "beyond-class", "Beyond the class of service's limit", 422)
NotAllowed = _error("NotAllowed", "not-allowed", "Not allowed by the class of service", 422)
WeakPin = _error("WeakPin", "weak-pin", "PIN is too easy to guess", 422)
ClassNotFound = _error("ClassNotFound", "class-not-found", "No such class of service", 422)
PinLocked = _error("PinLocked", "pin-locked", "Too many wrong PINs: logins are locked", 423)


class Unavailable(DomainError):
    """A dependency failed or timed out: retry, here after Retry-After or in another region."""

    type = "service-unavailable"
    title = "Service temporarily unavailable"
    status = 503
    retry_after_s = 2


class DatabaseUnavailable(Unavailable):
    """The metadata store (Cosmos DB) did not answer in time, or refused: the same 503 to a caller;
    a deposit journals its message instead (shared/services/journal.py)."""


class NotConfigured(Unavailable):
    """A setting is missing, malformed or an unresolved Key Vault reference: this instance cannot
    serve until it is fixed (other regions can); the detail names the setting, never its value."""

    type = "not-configured"
    title = "Instance is not configured"
    retry_after_s = 30
