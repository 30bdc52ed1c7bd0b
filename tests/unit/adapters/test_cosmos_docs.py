"""Documents as stored, read back: what a newer version (a rolling release, a region ahead) wrote must
not make this version fail every read of the mailbox."""

from shared.adapters.cosmos_docs import mailbox_from_doc, mailbox_to_doc
from shared.domain.model import Mailbox, MailboxSettings


def test_a_setting_this_version_does_not_know_is_skipped_and_the_rest_is_read():
    doc = mailbox_to_doc(Mailbox(id="+15551230001", display_name="Alice",
                                 settings=MailboxSettings(maxMessages=7, language="fr")))
    doc["settings"]["aSettingFromTheFuture"] = "Europe/Paris"

    mailbox = mailbox_from_doc(doc)

    assert mailbox.settings.maxMessages == 7
    assert mailbox.settings.language == "fr"
    assert "aSettingFromTheFuture" not in mailbox.settings.model_dump()
