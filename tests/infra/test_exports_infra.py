"""Exports in Azure (issue 24): the stamp creates the container the app writes the ZIPs to (the
name the code uses), and a lifecycle rule deletes them after a day: the backstop behind the app's
own cleanup, which comes first (KEPT). Their versions go with every blob's (shared/backups.json)."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

from shared.domain.blobpaths import EXPORTS_CONTAINER
from shared.domain.exports import KEPT
from tests.infra import bicep_text as bicep

STAMP = Path(__file__).resolve().parents[2] / "infra" / "modules" / "stamp.bicep"


def test_the_stamp_creates_the_exports_container_the_code_writes_to():
    stamp = bicep.text(STAMP)
    assert f"var exportsContainer = '{EXPORTS_CONTAINER}'" in stamp
    containers = bicep.balanced(stamp, stamp.index("var blobContainers = ["), from_at=True)
    assert re.search(r"^\s+exportsContainer$", containers, re.MULTILINE)


def test_a_lifecycle_rule_deletes_exports_after_a_day():
    stamp = bicep.text(STAMP)
    rule = bicep.balanced(stamp, stamp.rindex("{", 0, stamp.index("name: 'delete-exports'")))
    assert "name: 'delete-exports'" in rule and "actions:" in rule
    assert "enabled: true" in rule and "'${exportsContainer}/'" in rule
    base = bicep.balanced(rule, rule.index("baseBlob:"))
    assert re.search(r"daysAfterModificationGreaterThan: 1\b", base)
    assert timedelta(days=1) >= KEPT  # the app deletes first; the rule only catches what it missed
