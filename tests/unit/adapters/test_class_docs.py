"""A class of service's document and a mailbox's class fields, both ways (shared/adapters)."""

from __future__ import annotations

from shared.adapters.cosmos_docs import mailbox_from_doc, mailbox_to_doc
from shared.adapters.tenants import class_from_doc, class_to_doc
from shared.domain.classes import ClassOfService, ClassRecord
from shared.domain.model import Mailbox, MailboxSettings, utcnow
from shared.domain.tenancy import tenant_partition


def test_a_class_lives_in_its_tenants_partition_and_reads_back_whole():
    rules = ClassOfService.model_validate({"defaults": {"maxMessages": 20}, "limits": {"retentionDays": 60},
                                           "allow": {"sms": False}, "pin": {"minLength": 6, "refuseWeak": True}})
    now = utcnow()
    doc = class_to_doc(ClassRecord("acme", "basic", rules, now, now))
    assert (doc["id"], doc["mailboxId"], doc["type"]) == ("class-basic", tenant_partition("acme"), "class")
    back = class_from_doc({**doc, "_etag": "e1"})
    assert (back.tenant, back.name, back.rules, back.etag) == ("acme", "basic", rules, "e1")
    assert not back.retention_pending
    changed = class_from_doc(class_to_doc(ClassRecord("acme", "basic", rules, now, now, retention_changed_at=now)))
    assert changed.retention_changed_at == now and changed.retention_pending


def test_a_mailbox_keeps_its_class_and_the_names_of_its_own_settings():
    mailbox = Mailbox(id="+1555", display_name="Ann", settings=MailboxSettings(retentionDays=45),
                      class_of_service="basic", settings_set=("retentionDays",))
    back = mailbox_from_doc(mailbox_to_doc(mailbox))
    assert (back.class_of_service, back.settings_set) == ("basic", ("retentionDays",))


def test_a_mailbox_stored_before_classes_is_standard_with_no_list():
    doc = mailbox_to_doc(Mailbox(id="+1555", display_name="Ann", settings=MailboxSettings()))
    del doc["classOfService"], doc["settingsSet"]
    back = mailbox_from_doc(doc)
    assert (back.class_of_service, back.settings_set) == ("standard", None)
