"""How long a deleted copy stays recoverable in Azure's backups: read from `shared/backups.json`,
the one source of these numbers, which the Bicep also loads (`infra/modules/stamp.bicep`: blob soft
delete, container soft delete, the lifecycle rule that deletes old blob versions;
`infra/modules/global.bicep`: Cosmos DB continuous backup, i.e. point-in-time restore).

A deleted blob becomes a previous version (versioning is on); the lifecycle rule deletes versions
older than `blobVersionDeleteAfterDays`, but runs about once a day (`lifecycleRunDays` allows for its
lag), and a version it deletes is then soft-deleted for `blobSoftDeleteDays` more. A deleted
document can be restored for the continuous backup tier's days."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

SOURCE = Path(__file__).with_name("backups.json")


@dataclass(frozen=True)
class BackupWindows:
    blob_soft_delete_days: int
    container_soft_delete_days: int
    blob_version_delete_after_days: int
    lifecycle_run_days: int
    cosmos_restore_days: int

    @property
    def blob_days(self) -> int:
        """At most this long after a blob's deletion, no copy of it is left in the account."""
        return self.blob_version_delete_after_days + self.lifecycle_run_days + self.blob_soft_delete_days

    def expire_at(self, deleted_at: datetime) -> datetime:
        """When the last backup copy (blob versions, soft delete, point-in-time restore) of what was
        deleted at `deleted_at` is gone."""
        return deleted_at + timedelta(days=max(self.blob_days, self.container_soft_delete_days,
                                               self.cosmos_restore_days))


def load(path: Path = SOURCE) -> BackupWindows:
    raw = json.loads(path.read_text(encoding="utf-8"))
    tier = re.fullmatch(r"Continuous(\d+)Days", raw["cosmosContinuousTier"])
    if tier is None:
        raise ValueError(f"{path.name}: cosmosContinuousTier {raw['cosmosContinuousTier']!r} is not ContinuousNDays")
    return BackupWindows(int(raw["blobSoftDeleteDays"]), int(raw["containerSoftDeleteDays"]),
                         int(raw["blobVersionDeleteAfterDays"]), int(raw["lifecycleRunDays"]), int(tier.group(1)))
