"""Tenants and their keys, with in-memory ports: the operator manages them; a tenant key is its
tenant's platform key and nobody else's; a revoked key stops within the cache's time; and the same
mailbox id in two tenants shares nothing (documents, counts, lockouts, forwards, audio)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from shared.domain import tenancy
from shared.domain.commands import CreateSession, ForwardMessage, PutMailbox
from shared.domain.errors import (
    Forbidden,
    ForwardRefused,
    InvalidCredentials,
    MailboxNotFound,
    NotFound,
    PinLocked,
    TenantNotFound,
    TooManyKeys,
    Unauthorized,
)
from shared.domain.model import ListQuery
from shared.domain.principal import OPERATOR, PLATFORM, Principal
from shared.domain.security import hash_api_key
from shared.domain.tenants import MAX_LIVE_KEYS, PutTenant, parse_key
from shared.services.auth import Authenticator
from shared.services.messages import Sender
from shared.services.tenants import TenantKeys
from tests.unit.fakes import fake_app
from tests.unit.fakes_tenants import FakeTenants

SENDER = Sender("+15550001111", "Bob", urgent=False)
ACME = Principal("platform", key_id="0123456789ab", tenant="acme")


@pytest.fixture
def region():
    region = fake_app(OPERATOR_KEY_HASHES=hash_api_key("operator"))
    region.app.tenants.put(OPERATOR, "acme", PutTenant(displayName="Acme Mobile"))
    return region


def test_the_operator_creates_a_tenant_issues_keys_and_a_key_is_that_tenants_platform_key(region):
    tenants, auth = region.app.tenants, region.app.auth
    assert auth.authenticate({"x-api-key": "operator"}).kind == "operator"
    created, new = tenants.put(OPERATOR, "beta", PutTenant(displayName="Beta", budgets={"requestsPerSecond": 50}))
    assert new and created["budgets"] == {"requestsPerSecond": 50}
    assert tenants.put(OPERATOR, "beta", PutTenant(displayName="Beta Telecom"))[1] is False
    issued = tenants.issue_key(OPERATOR, "acme")
    assert parse_key(issued["key"]) == ("acme", issued["keyId"])
    listed = tenants.list_keys(OPERATOR, "acme")["items"]
    assert listed == [{"keyId": issued["keyId"], "createdAt": issued["createdAt"]}]  # never the key again
    who = auth.authenticate({"x-api-key": issued["key"]})
    assert (who.kind, who.tenant, who.key_id) == ("platform", "acme", issued["keyId"])
    forged = issued["key"][:-4] + "AAAA"
    with pytest.raises(Unauthorized):
        auth.authenticate({"x-api-key": forged})


def test_only_the_operator_manages_tenants_and_an_unknown_tenant_gets_no_key(region):
    for who in (PLATFORM, ACME):
        with pytest.raises(Forbidden):
            region.app.tenants.issue_key(who, "acme")
        with pytest.raises(Forbidden):
            region.app.tenants.put(who, "acme", PutTenant(displayName="mine now"))
    with pytest.raises(TenantNotFound):
        region.app.tenants.issue_key(OPERATOR, "nobody")
    with pytest.raises(Forbidden):  # tenant default's keys are configured, not issued
        region.app.tenants.issue_key(OPERATOR, "default")
    with pytest.raises(NotFound):
        region.app.tenants.revoke_key(OPERATOR, "acme", "0" * 12)


def test_several_keys_are_live_at_once_up_to_a_limit(region):
    keys = [region.app.tenants.issue_key(OPERATOR, "acme")["key"] for _ in range(MAX_LIVE_KEYS)]
    with pytest.raises(TooManyKeys):
        region.app.tenants.issue_key(OPERATOR, "acme")
    assert {region.app.auth.authenticate({"x-api-key": key}).tenant for key in keys} == {"acme"}


def test_a_revoked_key_stops_at_once_here_and_within_the_cache_time_elsewhere():
    store, now = FakeTenants(), [100.0]
    here_keys, there_keys = (TenantKeys(store.get_key_hash, ttl_s=2.0, clock=lambda: now[0]) for _ in range(2))
    from shared.services.tenants import TenantService

    here, there = TenantService(store, here_keys), (Authenticator(("a" * 64,), (b"k" * 32,), 900, epochs=None,
                                                                  tenant_keys=there_keys))
    auth_here = Authenticator(("a" * 64,), (b"k" * 32,), 900, epochs=None, tenant_keys=here_keys)
    here.put(OPERATOR, "acme", PutTenant(displayName="Acme"))
    key = here.issue_key(OPERATOR, "acme")
    for auth in (auth_here, there):
        assert auth.authenticate({"x-api-key": key["key"]}).tenant == "acme"
    reads = store.reads
    there.authenticate({"x-api-key": key["key"]})
    assert store.reads == reads  # within the cache time: no read
    here.revoke_key(OPERATOR, "acme", key["keyId"])
    with pytest.raises(Unauthorized):  # the process that revoked it: at once
        auth_here.authenticate({"x-api-key": key["key"]})
    assert there.authenticate({"x-api-key": key["key"]}).tenant == "acme"  # another process: for now
    now[0] += 2.0
    with pytest.raises(Unauthorized):
        there.authenticate({"x-api-key": key["key"]})


def test_the_same_mailbox_id_in_two_tenants_shares_nothing(region):
    mailboxes, messages = region.app.mailboxes, region.app.messages
    ours, theirs = "+15551234567", tenancy.key("acme", "+15551234567")
    mailboxes.put(PLATFORM, ours, PutMailbox(displayName="Default's", pin="2468"))
    mailboxes.put(ACME, theirs, PutMailbox(displayName="Acme's", pin="1357"))
    messages.deposit(ACME, theirs, b"RIFF", "audio/wav", SENDER, None)
    assert mailboxes.get(PLATFORM, ours)["counts"]["new"] == 0
    acme_view = mailboxes.get(ACME, theirs)
    assert acme_view["counts"]["new"] == 1 and acme_view["id"] == "+15551234567"
    assert acme_view["displayName"] == "Acme's"
    assert [m["mailboxId"] for m in messages.list(ACME, theirs, ListQuery(), None)["items"]] == ["+15551234567"]
    assert messages.list(PLATFORM, ours, ListQuery(), None)["items"] == []
    assert all(path.split("/")[1] == theirs for path in region.audio.blobs)  # audio under acme's key only
    # Lockouts: acme's wrong PINs never lock default's mailbox.
    for _ in range(5):
        with pytest.raises(InvalidCredentials):
            mailboxes.login(theirs, CreateSession(pin="0000"))
    with pytest.raises(PinLocked):
        mailboxes.login(theirs, CreateSession(pin="1357"))
    assert mailboxes.login(ours, CreateSession(pin="2468"))["token"]


def test_a_forward_stays_in_its_tenant(region):
    mailboxes, messages, store = region.app.mailboxes, region.app.messages, region.store
    source, target = tenancy.key("acme", "+1555"), tenancy.key("acme", "+1666")
    for mailbox in (source, target):
        mailboxes.put(ACME, mailbox, PutMailbox(displayName="A"))
    mailboxes.put(PLATFORM, "+1777", PutMailbox(displayName="default's"))
    message = messages.deposit(ACME, source, b"RIFF", "audio/wav", SENDER, None)[0]["id"]
    store.messages[(source, message)] = replace(store.messages[(source, message)], status="ready", formats=("opus",))
    copy = messages.forward(ACME, source, message, ForwardMessage(to="+1666"))
    assert copy["mailboxId"] == "+1666" and (target, copy["id"]) in store.messages
    with pytest.raises(ForwardRefused):  # default's +1777 is not acme's: as unknown
        messages.forward(ACME, source, message, ForwardMessage(to="+1777"))
    with pytest.raises(MailboxNotFound):
        mailboxes.get(ACME, tenancy.key("acme", "+1777"))
