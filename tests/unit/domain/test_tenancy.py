"""A mailbox's key names its tenant; a client only ever sees the id and the URL under its tenant."""

from __future__ import annotations

from shared.domain import tenancy


def test_tenant_defaults_keys_are_its_ids_so_existing_data_is_read_where_it_lies():
    assert tenancy.key("default", "+15551234567") == "+15551234567"
    assert tenancy.tenant_of("+15551234567") == "default" and tenancy.local_id("+15551234567") == "+15551234567"


def test_another_tenants_key_never_collides_and_turns_back_into_the_id_and_its_url():
    acme = tenancy.key("acme", "+15551234567")
    assert acme != tenancy.key("beta", "+15551234567") != "+15551234567"
    assert (tenancy.tenant_of(acme), tenancy.local_id(acme)) == ("acme", "+15551234567")
    assert tenancy.MAILBOX_KEY.fullmatch(acme) and not tenancy.MAILBOX_KEY.fullmatch("Acme~+1555")
    assert tenancy.api_path(acme) == "/api/tenants/acme/mailboxes/%2B15551234567"
    assert tenancy.api_path("+1555") == "/api/mailboxes/%2B1555"
    assert tenancy.public(acme) == {"mailboxId": "+15551234567", "tenantId": "acme"}
    assert tenancy.public("+1555") == {"mailboxId": "+1555"}  # tenant default's events as before


def test_a_tenants_records_partition_is_no_mailbox_key():
    assert not tenancy.MAILBOX_KEY.fullmatch(tenancy.tenant_partition("acme"))
