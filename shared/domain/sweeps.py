"""The maintenance sweeps' deterministic plan: what state a sweep carries between batches."""

from __future__ import annotations

SWEEPS = ("retention", "replication")  # the only orchestrations the admin routes and timers may start
BATCH = 100  # documents per page: each page fans out to one activity per document
PAGES_PER_EXECUTION = 10  # blob pages per execution before continue-as-new keeps history small
FAILED_IDS_KEPT = 500


def instance_id(kind: str, region: str) -> str:
    """One per sweep and region: a fixed id makes the sweep a singleton."""
    return f"{kind}-{region}"


def new_totals() -> dict[str, int]:
    return {"examined": 0, "deleted": 0, "copied": 0, "failed": 0, "blobsExamined": 0, "orphansDeleted": 0,
            "takenOver": 0, "classMailboxes": 0}
