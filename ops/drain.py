"""Flip the drain switch of a region: `drain` makes its readiness answer 503, `undrain` undoes it.

    python ops/drain.py drain|undrain [REGION]

The switch is the blob `ops/drain/{REGION}` in the region's storage account (REGION and
AzureWebJobsStorage from the environment, else local.settings.json). In Azure an operator does the
same with `az storage blob upload|delete --auth-mode login`; ops/release.py does it per stamp.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.storage.blob import BlobServiceClient

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str]) -> int:
    if len(argv) not in (1, 2) or argv[0] not in ("drain", "undrain"):
        print("usage: drain.py drain|undrain [REGION]", file=sys.stderr)
        return 2
    settings = ROOT / "local.settings.json"
    values = json.loads(settings.read_text())["Values"] if settings.exists() else {}
    region = argv[1] if len(argv) == 2 else os.environ.get("REGION", values.get("REGION"))
    service = BlobServiceClient.from_connection_string(os.environ.get("AzureWebJobsStorage")
                                                       or values["AzureWebJobsStorage"])
    container = service.get_container_client("ops")
    blob = container.get_blob_client(f"drain/{region}")
    if argv[0] == "drain":
        with contextlib.suppress(ResourceExistsError):
            container.create_container()
        blob.upload_blob(b"drained by operator", overwrite=True)
    else:
        with contextlib.suppress(ResourceNotFoundError):
            blob.delete_blob()
    print(f"{region}: {argv[0]}ed (readiness follows within one cache period)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
