"""The message use cases and an announcing ledger wired on fakes, as shared/composition.py wires them,
for tests that build a few services by hand rather than the whole app (tests/unit/fakes.fake_app)."""

from __future__ import annotations

from shared.ports import AudioStore, EventPublisher, MessageRepository
from shared.services.admission import Admission
from shared.services.events import MWI_QUEUE, Announcer
from shared.services.forwards import ForwardQuota
from shared.services.ledger import Ledger
from shared.services.mailboxes import MailboxService
from shared.services.messages import Change, Deposit, Forward, MessageQueries, Messages, Trash, UploadLink
from shared.services.mwi import Mwi
from shared.services.renditions import Renditions
from shared.services.replication import Regions
from shared.telemetry import Telemetry
from tests.unit.fakes import CONTAINERS


def announcing_ledger(store: MessageRepository, region: str, events: EventPublisher) -> Ledger:
    """A ledger whose batches post the lamp to events, as the app's does."""
    return Ledger(store, region, Announcer({MWI_QUEUE: Mwi(store, events).post}))


def message_use_cases(store: MessageRepository, audio: AudioStore, mailboxes: MailboxService, ledger: Ledger,
                      regions: Regions | None = None, telemetry: Telemetry | None = None) -> Messages:
    region = ledger.region
    regions = regions or Regions(region, audio, {})
    telemetry = telemetry or Telemetry(region)
    admission = Admission(store, ledger)
    return Messages(
        Deposit(store, audio, mailboxes, admission, region, CONTAINERS, telemetry, None, 4.0),
        UploadLink(store, audio, mailboxes, admission, region, CONTAINERS, telemetry),
        Change(store, mailboxes, ledger), Trash(store, mailboxes, ledger, regions),
        Forward(store, audio, mailboxes, admission, ForwardQuota(store, region), regions, CONTAINERS),
        MessageQueries(store, mailboxes, Renditions(regions, None, False, None, telemetry), telemetry))
