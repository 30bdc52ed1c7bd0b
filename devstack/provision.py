"""Create what one local region of the app needs before it starts, as the Bicep does in Azure: the
Cosmos DB database and container (partition key `/mailboxId`, the custom conflict policy), the blob
containers (`incoming`, `audio`: in the region's own account and in each peer's, where replication
copies audio to), and the queues (MWI events, replication requests, transcription jobs). Idempotent.

The product's adapters create nothing: a missing container or queue is a dependency problem that
names it. `devstack.hosting.HostProcess` calls this before starting the product's host (so the tests,
the benchmarks and `make run` all do); by hand: `python -m devstack.provision` with the region's settings
in the environment.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from collections.abc import Mapping

from azure.core.exceptions import AzureError, ResourceExistsError
from azure.cosmos import PartitionKey
from azure.storage.blob import BlobServiceClient
from azure.storage.queue import QueueServiceClient

from shared.adapters.audit_blob import AUDIT_CONTAINER
from shared.adapters.blob import make_blob_service, make_peer_blob_service, make_queue_service
from shared.adapters.cosmos_client import CONFLICT_POLICY, make_cosmos_client
from shared.config import Settings, load_settings

logger = logging.getLogger(__name__)


def provision(env: Mapping[str, str]) -> list[str]:
    """Create the region's resources named by its settings in env; what could not be reached (a
    storage account or Cosmos emulator that is down, as some drills start it) is logged and skipped:
    the app then answers 503 for it, as it would in Azure."""
    config = load_settings(env)
    skipped = []
    for what, step in (("cosmos", lambda: cosmos(config)), ("storage", lambda: storage(config))):
        try:
            step()
        except (AzureError, OSError) as error:
            logger.warning("provisioning %s for region %s skipped: %r", what, config.region, error)
            skipped.append(what)
    return skipped


def cosmos(config: Settings) -> None:
    client = make_cosmos_client(config, None)
    database = client.create_database_if_not_exists(config.cosmos.database)
    database.create_container_if_not_exists(config.cosmos.container, partition_key=PartitionKey(path="/mailboxId"),
                                            conflict_resolution_policy=CONFLICT_POLICY)


def storage(config: Settings) -> None:
    containers = (config.storage.incoming_container, config.storage.audio_container)
    # The outage journal and the audit trail are the region's own: no peer writes to them.
    blob_containers(make_blob_service(config, None), (*containers, config.storage.journal_container, AUDIT_CONTAINER))
    # Replication writes this region's paths into each peer's account.
    for value in config.replication.peer_storage.values():
        with contextlib.suppress(AzureError, OSError):  # a peer that is down gets them from its own start
            blob_containers(make_peer_blob_service(config, value, None), containers)
    names = config.storage
    queues(make_queue_service(config, None), (names.mwi_queue, names.replication_queue, names.transcription_queue))


def blob_containers(service: BlobServiceClient, names: tuple[str, ...]) -> None:
    for name in names:
        with contextlib.suppress(ResourceExistsError):
            service.create_container(name)


def queues(service: QueueServiceClient, names: tuple[str, ...]) -> None:
    for name in names:
        with contextlib.suppress(ResourceExistsError):
            service.create_queue(name)


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(description=__doc__.split("\n\n")[0]).parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    return 1 if provision(os.environ) else 0


if __name__ == "__main__":
    sys.exit(main())
