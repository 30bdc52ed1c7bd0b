"""devstack/hosting.py's list of background functions is the app's: every function a timer, a queue,
a blob or the change feed starts (read from the decorators in functions/), so a new trigger is not left running in the
hosts that must leave shared emulators alone (it was once: `transcription_requested`)."""

from __future__ import annotations

import re

from devstack.hosting import BACKGROUND_FUNCTIONS, ROOT, disabled

TRIGGER = re.compile(r"@bp\.(?:timer|queue|blob|cosmos_db)_trigger\((?:.|\n)*?\n(?:async )?def (\w+)\(")


def test_the_background_functions_are_every_timer_queue_blob_and_change_feed_trigger_of_the_app():
    found = {name for path in (ROOT / "functions").rglob("*.py") for name in TRIGGER.findall(path.read_text())}
    assert found == set(BACKGROUND_FUNCTIONS)


def test_disabled_switches_each_named_function_off_as_the_host_reads_it():
    assert disabled("a", "b") == {"AzureWebJobs.a.Disabled": "true", "AzureWebJobs.b.Disabled": "true"}
