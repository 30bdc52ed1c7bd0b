"""Blob paths: what the services build, the pipeline and the retention sweep parse back; anything
else is left alone (the sweep never deletes a blob it cannot place)."""

from __future__ import annotations

import pytest

from shared.domain import blobpaths
from shared.domain.audio import Containers

C = Containers("in", "au")


@pytest.mark.parametrize(("path", "expected"), [
    (blobpaths.message_original(C, "+1555", "m1"), blobpaths.AudioPath("in", "+1555", "m1")),
    (blobpaths.message_rendition(C, "+1555", "m1", "opus"), blobpaths.AudioPath("au", "+1555", "m1", None, "opus")),
    (blobpaths.greeting_original(C, "+1555", "busy", "v1"), blobpaths.AudioPath("in", "+1555", "v1", "busy")),
    (blobpaths.greeting_rendition(C, "+1555", "busy", "v1", "mp3"),
     blobpaths.AudioPath("au", "+1555", "v1", "busy", "mp3")),
    # a mailbox may be called "greetings": its messages are still messages
    (blobpaths.message_original(C, "greetings", "m1"), blobpaths.AudioPath("in", "greetings", "m1")),
])
def test_every_path_the_services_build_parses_back(path, expected):
    assert blobpaths.parse(path) == expected
    assert blobpaths.rendition_of(C, expected, "wav").startswith("au/")


@pytest.mark.parametrize("path", ["in/+1555", "in/+1555/m1/opus/extra", "in/greetings/+1555/nokind/v1",
                                  "in/../m1", "in/+1555/m 1", "in/greetings/+1555/busy/v1/a/b", "in/+1555/m1/"])
def test_any_other_layout_is_not_ours(path):
    assert blobpaths.parse(path) is None
