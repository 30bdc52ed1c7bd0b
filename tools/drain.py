"""Flip the drain switch of a region: `drain` makes its readiness answer 503, `undrain` undoes it.

The switch is the blob `ops/drain/{REGION}` in the region's storage account. In Azure an operator
does the same with `az storage blob upload|delete --auth-mode login`.
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
    if len(argv) != 1 or argv[0] not in ("drain", "undrain"):
        print("usage: drain.py drain|undrain", file=sys.stderr)
        return 2
    values = json.loads((ROOT / "local.settings.json").read_text())["Values"]
    region = os.environ.get("REGION", values["REGION"])
    service = BlobServiceClient.from_connection_string(os.environ.get("AzureWebJobsStorage",
                                                                      values["AzureWebJobsStorage"]))
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
