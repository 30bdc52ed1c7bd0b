"""How long backups keep a deleted copy is set once, in shared/backups.json: the Bicep loads it for
blob soft delete, container soft delete, the lifecycle rule that deletes old versions and Cosmos DB's
continuous backup tier, and the app reads it for an erasure's `backupsExpireAt`. No number of these
is written anywhere else."""

from __future__ import annotations

import json
import re
from pathlib import Path

from shared import backups
from tests.infra import bicep_text as bicep

ROOT = Path(__file__).resolve().parents[2]
STAMP = ROOT / "infra" / "modules" / "stamp.bicep"
GLOBAL = ROOT / "infra" / "modules" / "global.bicep"
LOAD = "loadJsonContent('../../shared/backups.json')"


def test_the_stamp_takes_every_blob_retention_from_the_one_source():
    stamp = bicep.text(STAMP)
    assert f"var backups = {LOAD}" in stamp
    service = bicep.balanced(stamp, "resource blobService 'Microsoft.Storage/storageAccounts/blobServices@")
    assert "isVersioningEnabled: true" in service
    assert re.search(r"deleteRetentionPolicy: \{\s*enabled: true\s*days: backups\.blobSoftDeleteDays\s*\}", service)
    assert re.search(r"containerDeleteRetentionPolicy: \{\s*enabled: true\s*days: backups\.containerSoftDeleteDays",
                     service)
    lifecycle = bicep.balanced(stamp, "resource lifecycle 'Microsoft.Storage/storageAccounts/managementPolicies@")
    assert re.findall(r"daysAfterCreationGreaterThan: (\S+)", lifecycle) == ["backups.blobVersionDeleteAfterDays"]


def test_cosmos_point_in_time_restore_takes_its_tier_from_the_one_source():
    account = bicep.text(GLOBAL)
    policy = bicep.balanced(account, "backupPolicy: {")
    assert "type: 'Continuous'" in policy
    assert f"tier: {LOAD}.cosmosContinuousTier" in policy
    for path in (ROOT / "infra").rglob("*.bicep"):  # no other retention of these written as a number
        assert "Continuous30Days" not in bicep.text(path) and "Continuous7Days" not in bicep.text(path), path


def test_the_app_reads_the_same_numbers():
    raw = json.loads(backups.SOURCE.read_text(encoding="utf-8"))
    windows = backups.load()
    assert windows.blob_soft_delete_days == raw["blobSoftDeleteDays"]
    assert windows.blob_version_delete_after_days == raw["blobVersionDeleteAfterDays"]
    assert raw["cosmosContinuousTier"] in ("Continuous7Days", "Continuous30Days")  # Azure's two tiers
    tier_days = int(raw["cosmosContinuousTier"].removeprefix("Continuous").removesuffix("Days"))
    assert windows.cosmos_restore_days == tier_days
    # Soft delete is 1 to 365 days in Azure.
    assert 1 <= windows.blob_soft_delete_days <= 365 and 1 <= windows.container_soft_delete_days <= 365
