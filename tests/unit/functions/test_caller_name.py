"""`fromName`, the caller's name, follows one rule on both deposit paths (inline audio, with the name
in the query; and the JSON request for an upload link): at most 100 printable characters, so no
control, line or paragraph separator, or bidi control reaches a notification, an e-mail or IMAP."""

from __future__ import annotations

import azure.functions as func
import pytest
from pydantic import ValidationError

from functions.messages import _sender
from shared.domain.commands import RequestUpload
from shared.domain.errors import ValidationFailed

REFUSED = ["Al\x00ice", "Al\x1bice", "Al\x7fice", "Al\x85ice", "Al\u2028ice", "Al\u2029ice", "\u202eecilA",
           "Al\u2066ice\u2069", "Al\u200fice", "Al\u061cice", "Al\ufeffice", "x" * 101]
ACCEPTED = ["Alice", "Zoë Ångström", "李雷", "O'Brien-Smith (cell)", "x" * 100]


def inline(name: str) -> func.HttpRequest:
    return func.HttpRequest("POST", "http://localhost/api/mailboxes/a/messages", params={"fromName": name},
                            headers={"content-type": "audio/wav"}, route_params={"mailboxId": "a"}, body=b"RIFF")


def upload(name: str) -> RequestUpload:
    return RequestUpload.model_validate({"fromName": name, "contentType": "audio/wav", "sizeBytes": 10})


@pytest.mark.parametrize("name", REFUSED)
def test_a_name_the_inline_path_refuses_the_upload_path_refuses_too(name):
    with pytest.raises(ValidationFailed):
        _sender(inline(name))
    with pytest.raises(ValidationError):
        upload(name)


@pytest.mark.parametrize("name", ACCEPTED)
def test_a_name_one_path_takes_the_other_takes_as_it_is(name):
    assert _sender(inline(name)).name == name
    assert upload(name).fromName == name


def test_an_empty_name_is_no_name_on_both_paths():
    assert _sender(inline("")).name is None
    assert upload("").fromName is None
