"""Notifications: a mailbox's targets, and the dispatcher that runs the durable handlers of the
outbox's events (which ones: `HANDLERS` in shared/services/events.py).

Events are recorded by the writes that cause them (the audio pipeline's final status, the
ledger's count changes), in the same batch, so none is lost. A timer runs `dispatch` every few
seconds in each region: it claims each due event it owns (an ETag-guarded write that also pushes
`dueAt` out, a lease should the instance die), sends it to every target that does not have it yet,
and records per target the attempts, the next attempt and the last error. An event whose owner has
left it undelivered for `takeover_after` is claimed by another region (its owner may be gone).
After the retry horizon an event is dead-lettered (`status: dead`), listed and replayed by admin
routes with the same id (`webhook-id`).

`message.ready` waits for the message's transcript: it is due at once when transcription is off,
else when `message_settled` is called (the transcript service's hook) or `transcript_wait` after
the message became ready, whichever comes first.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from shared.domain import tenancy
from shared.domain.audio import RENDITION_CONTENT_TYPES
from shared.domain.errors import (
    EtagMismatch,
    EventNotDeadLettered,
    Forbidden,
    InvalidWebhookUrl,
    MailboxNotFound,
    NotAllowed,
    VerificationFailed,
)
from shared.domain.fairness import fair_share, lamp_states
from shared.domain.model import Mailbox, Message, utcnow
from shared.domain.notifications import (
    ON_TIME_S,
    Delivery,
    Event,
    Mail,
    NotificationConfig,
    PutNotifications,
    Schedule,
    awaiting_transcript,
    configure,
    dead_letter_api,
    email_for,
    envelope,
    event_id,
    replayed,
    settle,
    sms_for,
    target_key,
    url_problem,
)
from shared.domain.principal import Principal, require_mailbox, require_platform
from shared.domain.verification import VerifyTarget, code_message, confirm, require_proof
from shared.ports import DeliveryFailed, MailboxRepository, Mailer, MessageRepository, Outbox, SmsSender, WebhookSender
from shared.services.budgets import TenantBudgets
from shared.services.events import DELETE_AFTER_EMAIL, delivers_to, runs
from shared.services.renditions import Renditions
from shared.services.replication import Regions
from shared.services.writes import WriteBudget
from shared.telemetry import Telemetry, in_tenant

logger = logging.getLogger(__name__)
LEASE = timedelta(seconds=120)  # a claimed event comes back after this if its dispatcher died
_RETRIES = 5
DUE_PAGE = 100  # due events a round (every 5 s): twice the first version's, at fewer operations each
PARALLEL_MAILBOXES = 2  # mailboxes whose events a round sends side by side
_EXTENSIONS = {"mp3": "mp3", "wav": "wav", "opus": "ogg"}


class Store(MailboxRepository, MessageRepository, Protocol):
    """What the dispatcher reads besides the outbox."""


class NotificationService:
    def __init__(self, outbox: Outbox, store: Store, regions: Regions, webhooks: WebhookSender, mailer: Mailer,
                 sms: SmsSender, region: str, schedule: Schedule, *, transcript_wait: timedelta,
                 takeover_after: timedelta, allow_loopback: bool,
                 trash: Callable[[str, str], None], renditions: Renditions, telemetry: Telemetry,
                 writes: WriteBudget, budgets: TenantBudgets):
        self._telemetry = telemetry
        self._budgets = budgets  # tenants' notificationsPerHour: beyond it an event waits
        self._renditions = renditions  # makes an MP3 not made yet
        self._outbox = outbox
        self._store = store
        self._regions = regions
        self._webhooks = webhooks
        self._mailer = mailer
        self._sms = sms
        self._region = region
        self._schedule = schedule
        self._transcript_wait = transcript_wait
        self._takeover_after = takeover_after
        self._allow_loopback = allow_loopback
        self._trash = trash  # (mailbox id, message id): moves a message to the trash (deleteAfterEmail)
        self._writes = writes  # a subscriber's 60 writes a minute

    # -- targets ------------------------------------------------------------------------------

    def _mailbox(self, mailbox_id: str) -> Mailbox:
        mailbox = self._store.get_mailbox(mailbox_id)
        if mailbox is None or not mailbox.active:
            raise MailboxNotFound("no such mailbox")
        return mailbox

    def configure(self, principal: Principal, mailbox_id: str, command: PutNotifications) -> dict[str, object]:
        """Replace the mailbox's targets; the answer shows the secrets of webhooks created now."""
        require_mailbox(principal, mailbox_id)
        if not principal.is_platform and any(t.kind == "webhook" for t in command.targets):
            raise Forbidden("webhook targets are managed by the platform")
        for target in command.targets:
            problem = url_problem(target.url, self._allow_loopback) if target.kind == "webhook" else None
            if problem:
                raise InvalidWebhookUrl(f"targets: {problem}")
        mailbox = self._mailbox(mailbox_id)
        if refused := sorted({t.kind for t in command.targets if not mailbox.allows(t.kind)}):
            raise NotAllowed(f"this mailbox's class of service does not allow {', '.join(refused)} notifications")
        self._writes.take(principal, mailbox_id)
        for _ in range(_RETRIES):
            current = self._outbox.get_config(mailbox_id)
            wanted, created = configure(current, command, principal.is_platform)
            wanted, codes = require_proof(current, wanted, principal.is_platform, utcnow())
            try:
                stored = self._outbox.save_config(wanted)
            except EtagMismatch:
                continue
            self._send_codes(mailbox_id, codes.values())
            return self._visible(stored, principal, created)
        raise EtagMismatch("the notification targets kept changing; try again")

    def _send_codes(self, mailbox_id: str, codes: Iterable[tuple[dict[str, str], str]]) -> None:
        """The one message an unverified target gets before it is confirmed: its code. A send that
        fails leaves it unverified; setting it again sends another (3 a day)."""
        for target, code in codes:
            subject, text = code_message(target["kind"], code)
            try:
                if target["kind"] == "email":
                    self._mailer.send(Mail(target["address"], subject, text))
                else:
                    self._sms.send(target["number"], text)
            except Exception:
                logger.exception("verification code for a %s target of %s not sent", target["kind"], mailbox_id)

    def verify(self, principal: Principal, mailbox_id: str, body: VerifyTarget) -> None:
        """Confirm an e-mail or SMS target with the code it got; a wrong code counts (5 a code)."""
        require_mailbox(principal, mailbox_id)
        self._mailbox(mailbox_id)
        self._writes.take(principal, mailbox_id)
        for _ in range(_RETRIES):
            current = self._outbox.get_config(mailbox_id)
            changed, failure = confirm(current, body, utcnow())
            try:
                if changed is not current:
                    self._outbox.save_config(changed)
            except EtagMismatch:
                continue
            if failure:
                raise VerificationFailed(failure)
            return
        raise EtagMismatch("the notification targets kept changing; try again")

    def show(self, principal: Principal, mailbox_id: str) -> dict[str, object]:
        require_mailbox(principal, mailbox_id)
        self._mailbox(mailbox_id)
        return self._visible(self._outbox.get_config(mailbox_id), principal, frozenset())

    @staticmethod
    def _visible(config: NotificationConfig, principal: Principal, created: frozenset[str]) -> dict[str, object]:
        """A subscriber sees its own e-mail and SMS targets; the platform's webhooks are not theirs."""
        shown = config if principal.is_platform else replace(
            config, targets=tuple(t for t in config.targets if t["kind"] != "webhook"))
        return shown.as_api(created)

    # -- the transcript hook ------------------------------------------------------------------

    def message_settled(self, mailbox_id: str, message_id: str) -> bool:
        """The message's transcript is ready or failed: its `message.ready` is due now (it waited
        for the transcript). Idempotent; False when there is no such event waiting."""
        for _ in range(_RETRIES):
            event = self._outbox.get_event(mailbox_id, event_id(mailbox_id, "message.ready", message_id, "ready"))
            now = utcnow()
            if event is None or event.status != "pending" or event.due_at <= now:
                return False
            try:
                self._outbox.save_event(replace(event, due_at=now))
                return True
            except EtagMismatch:
                continue
        return False

    # -- dispatch -----------------------------------------------------------------------------

    def dispatch(self, limit: int = DUE_PAGE) -> dict[str, int]:
        """The sweep: up to `limit` due events this region dispatches (one query: it is a
        cross-partition scan), and those another region left undelivered; each mailbox's lamp
        states coalesced and its share capped (`shared/domain/fairness.py`). When a mailbox had
        more than its share of a full page, a second query, past those mailboxes, takes the others'
        oldest `limit`, so a backlog never hides them (at most twice `limit` a round). Totals by outcome."""
        now = utcnow()
        stale = now - self._takeover_after
        found = self._outbox.due(self._region, now, stale, limit)
        crowded = fair_share(found)[1]
        if crowded and len(found) >= limit:
            found = [e for e in found if e.mailbox_id in crowded] + self._outbox.due(
                self._region, now, stale, limit, excluding=sorted(crowded))
        events, superseded = lamp_states(found)
        return self._dispatch_all(fair_share(events)[0], superseded)

    def dispatch_changed(self, documents: Iterable[Mapping[str, Any]]) -> dict[str, int]:
        """What the change feed just brought: this region's events among the documents that are
        pending and due now are sent at once (lamp states coalesced). The others wait for the sweep
        (`dispatch`): those due later, another region's (until it is late), and older versions
        (their ETag no longer matches, so a claim of one fails and nothing is sent twice)."""
        now = utcnow()
        return self._dispatch_all(*lamp_states([e for e in self._outbox.events_in(documents)
                                                if e.status == "pending" and e.due_at <= now
                                                and e.owner == self._region]))

    def _dispatch_all(self, events: Iterable[Event], superseded: Iterable[Event] = ()) -> dict[str, int]:
        """A mailbox's events go one after another, in order, its mailbox and targets read once;
        PARALLEL_MAILBOXES mailboxes' go side by side, so one slow target does not hold up every
        other. Superseded lamp states are settled first, nothing sent. Totals by outcome."""
        by_mailbox: dict[str, tuple[list[Event], list[Event]]] = {}
        for event in events:
            by_mailbox.setdefault(event.mailbox_id, ([], []))[0].append(event)
        for event in superseded:
            by_mailbox.setdefault(event.mailbox_id, ([], []))[1].append(event)
        totals: dict[str, int] = {}
        if not by_mailbox:
            return totals
        with ThreadPoolExecutor(max_workers=PARALLEL_MAILBOXES, thread_name_prefix="dispatch") as pool:
            for outcomes in pool.map(self._dispatch_in_order, by_mailbox.values()):
                for outcome in outcomes:
                    totals[outcome] = totals.get(outcome, 0) + 1
        return totals

    def _dispatch_in_order(self, work: tuple[list[Event], list[Event]]) -> list[str]:
        """One mailbox's events of a round, in order; its mailbox and targets read once for them all."""
        events, superseded = work
        outcomes = [self._supersede(event) for event in superseded]
        if not events:
            return outcomes
        try:
            config = self._outbox.get_config(events[0].mailbox_id)
            # The mailbox matters only to events with somewhere to go (none: each is settled unsent).
            mailbox = self._store.get_mailbox(events[0].mailbox_id) if config.targets else None
        except Exception:  # the events stay due: the next round tries again
            logger.exception("events of %s not dispatched", events[0].mailbox_id)
            return [*outcomes, *["error"] * len(events)]
        for event in events:
            try:
                outcomes.append(self._dispatch(event, mailbox, config))
            except EtagMismatch:
                outcomes.append("claimed elsewhere")
            except Exception:  # the event stays due: the next round tries again
                logger.exception("event %s of %s not dispatched", event.id, event.mailbox_id)
                outcomes.append("error")
        return outcomes

    def _supersede(self, event: Event) -> str:
        """A lamp state a later one of the same mailbox replaces: settled in one guarded write, unsent."""
        try:
            self._outbox.save_event(replace(event, owner=self._region, status="done", due_at=utcnow()))
        except EtagMismatch:
            return "claimed elsewhere"
        except Exception:  # still due: the next round settles it (or sends it, if it is the latest then)
            logger.exception("event %s of %s not settled", event.id, event.mailbox_id)
            return "error"
        return "superseded"

    def _dispatch(self, event: Event, mailbox: Mailbox | None, config: NotificationConfig) -> str:
        now = utcnow()
        if event.owner != self._region:
            logger.warning("taking over event %s of %s from %s", event.id, event.mailbox_id, event.owner)
        # Only the kinds the mailbox's class allows now (a class changed after the targets were set).
        targets = [t for t in config.targets if delivers_to(event.type, t) and mailbox.allows(t["kind"])] \
            if mailbox and mailbox.active else []
        if not targets:  # nothing to send, so nothing to lease: settled in one guarded write
            self._outbox.save_event(replace(event, owner=self._region, status="done", due_at=now))
            return "nothing to send"
        claimed = self._outbox.save_event(replace(event, owner=self._region, due_at=now + LEASE))
        data, message = event.data or {}, None
        if event.message_id is not None:
            message = self._store.get_message(event.mailbox_id, event.message_id)
            if message is None or not message.visible:
                targets = []  # purged meanwhile: nothing to tell
            else:
                data = message.as_api()
                wait_until = event.created_at + self._transcript_wait
                if event.type == "message.ready" and now < wait_until and awaiting_transcript(mailbox, data):
                    self._outbox.save_event(replace(claimed, due_at=wait_until))
                    return "waiting for transcript"
        if not targets:
            self._outbox.save_event(replace(claimed, status="done", due_at=now))
            return "nothing to send"
        due_now = [t for t in targets if not claimed.deliveries.get(target_key(t), Delivery()).done]
        wait = self._budgets.notification_wait(tenancy.tenant_of(event.mailbox_id), len(due_now))
        if wait > 0:  # the tenant's hour is full: delivered once it has room, never dropped
            self._outbox.save_event(replace(claimed, due_at=now + timedelta(seconds=wait)))
            return "over budget"
        deliveries = {}
        for target in targets:
            key = target_key(target)
            delivery = claimed.deliveries.get(key, Delivery())
            if not delivery.done and (delivery.next_at is None or delivery.next_at <= now):
                delivery = self._attempt(target, claimed, data, mailbox, message, delivery, now)
            deliveries[key] = delivery
        settled = settle(claimed, deliveries, self._schedule, now)
        self._outbox.save_event(settled)
        self._after_email(event, claimed, targets, deliveries, config)
        if settled.status == "dead":
            self._gave_up(event, targets, deliveries)
        return settled.status

    def _after_email(self, event: Event, claimed: Event, targets: list[dict[str, str]],
                     deliveries: dict[str, Delivery], config: NotificationConfig) -> None:
        """`deleteAfterEmail`: once every e-mail target has the message, it goes to the trash (once)."""
        mails = [target_key(t) for t in targets if t["kind"] == "email"]  # verified ones: the others get nothing
        emailed = bool(mails) and all(deliveries[k].done for k in mails)
        just_now = any(not claimed.deliveries.get(k, Delivery()).done for k in mails)  # not again after an undo
        if (self._trash is not None and runs(event.type, DELETE_AFTER_EMAIL) and config.delete_after_email
                and emailed and just_now):
            try:  # every e-mail target has it: to the trash (undo by PATCH folder)
                self._trash(event.mailbox_id, event.message_id or "")
            except Exception:
                logger.exception("message %s/%s not moved to the trash after e-mail", event.mailbox_id,
                                 event.message_id)

    def _gave_up(self, event: Event, targets: list[dict[str, str]], deliveries: dict[str, Delivery]) -> None:
        """Dead-lettered: each target still without it counts as a notification that never came."""
        for key, target in zip(deliveries, targets, strict=True):
            if not deliveries[key].done:
                self._count(event, target["kind"], delivered=False)
        logger.error("event %s of %s dead-lettered after %s", event.id, event.mailbox_id,
                     {k: d.last_error for k, d in deliveries.items() if not d.done})

    def _attempt(self, target: dict[str, str], event: Event, data: dict[str, object], mailbox: Mailbox | None,
                 message: Message | None, delivery: Delivery, now: datetime) -> Delivery:
        try:
            self._deliver(target, event, data, mailbox, message, now)
        except DeliveryFailed as failed:
            logger.warning("event %s to %s failed (attempt %s): %s", event.id, target["kind"],
                           delivery.attempts + 1, failed)
            return self._schedule.after_failure(event, delivery, str(failed), now)
        except Exception as error:  # a bug or an outage on our side: retried like a failed delivery
            logger.exception("event %s to %s failed", event.id, target["kind"])
            return self._schedule.after_failure(event, delivery, f"internal: {type(error).__name__}", now)
        self._count(event, target["kind"], delivered=True)
        return Delivery(delivery.attempts + 1, None, None, True, now)

    def _count(self, event: Event, kind: str, delivered: bool) -> None:
        """The notification-delay SLO's events: due at creation, or for a `message.ready` that
        waits for its transcript on purpose, at the end of that wait."""
        due = event.created_at + (self._transcript_wait if event.type == "message.ready" else timedelta(0))
        in_tenant(tenancy.tenant_of(event.mailbox_id))
        self._telemetry.notified((utcnow() - due).total_seconds(), event.type, kind, delivered=delivered,
                                 bound_s=ON_TIME_S)

    def _deliver(self, target: dict[str, str], event: Event, data: dict[str, object], mailbox: Mailbox | None,
                 message: Message | None, now: datetime) -> None:
        zone = getattr(mailbox.settings, "timeZone", "UTC") if mailbox else "UTC"
        if target["kind"] == "webhook":
            body = json.dumps(envelope(event, data, now), separators=(",", ":")).encode()
            self._webhooks.send(target["url"], target["secret"], event.id, body)
        elif target["kind"] == "email":
            subject, text = email_for(data, mailbox.display_name if mailbox else "", zone)
            self._mailer.send(Mail(target["address"], subject, text, self._attachment(message, target["attach"])))
        else:
            self._sms.send(target["number"], sms_for(data, zone))

    def _attachment(self, message: Message | None, audio_format: str) -> tuple[str, str, bytes] | None:
        if message is None or audio_format == "none" or audio_format not in message.blobs:
            return None
        path = message.blobs[audio_format]
        store, _ = self._renditions.locate(message, audio_format)
        name = f"voicemail-{message.received_at.strftime('%Y%m%d-%H%M%S')}.{_EXTENSIONS[audio_format]}"
        return name, RENDITION_CONTENT_TYPES[audio_format], store.read(path)

    # -- dead letters -------------------------------------------------------------------------

    def dead_letters(self, principal: Principal, limit: int, mailbox_id: str | None) -> dict[str, object]:
        require_platform(principal)
        return {"items": [dead_letter_api(e) for e in self._outbox.dead_letters(limit, mailbox_id)]}

    def replay(self, principal: Principal, event_id_: str) -> dict[str, object]:
        """Send a dead-lettered event again, with its id, to the targets that did not get it."""
        require_platform(principal)
        event = self._outbox.find_event(event_id_)
        if event.status != "dead":
            raise EventNotDeadLettered(f"event {event_id_} is {event.status}")
        # This region sends it now (the region that gave up on it may be the one that was lost).
        return dead_letter_api(self._outbox.save_event(replace(replayed(event, utcnow()), owner=self._region)))
