"""Blob and queue storage: clients built once per process, the audio store, MWI events, readiness."""

from __future__ import annotations

import contextlib
import json
import logging
import re
import threading
import time
from collections import OrderedDict
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from azure.core.exceptions import AzureError, HttpResponseError, ResourceNotFoundError
from azure.storage.blob import (
    BlobClient,
    BlobSasPermissions,
    BlobServiceClient,
    ContentSettings,
    LinearRetry,
    generate_blob_sas,
)
from azure.storage.queue import QueueServiceClient, TextBase64EncodePolicy

from shared.adapters.errors import missing, translated
from shared.adapters.http_pool import pooled_transport
from shared.config import Settings
from shared.domain.blobpaths import join, split
from shared.domain.errors import AudioNotFound, Unavailable
from shared.domain.transcripts import TranscriptionJob
from shared.telemetry import trace_headers

OPS_CONTAINER = "ops"
# An operator drains a region by creating the blob `ops/drain/{region}` in its storage account
# (and undrains by deleting it): no redeploy, no restart, seen within one readiness cache period.
DRAIN_PREFIX = "drain/"
# Links (read and upload) never outlive this, whatever a caller asks for (API.md: at most 15 minutes).
MAX_LINK_TTL = timedelta(minutes=15)
_CONTENT_TYPES_KEPT = 4096  # blob path -> stored content type, as read by size(): read links reuse it
_UNSAFE_FILENAME = re.compile(r"[^A-Za-z0-9._+-]")

logger = logging.getLogger(__name__)


def _client_options(settings: Settings) -> dict[str, object]:
    # Requests wait on these calls: a few quick retries, not the SDK's default 15 s+ back-off, so a
    # failing account answers 503 within seconds and the client moves on to another region.
    retry = LinearRetry(backoff=0.5, random_jitter_range=0.25, retry_total=2)
    return {"connection_timeout": settings.sdk_timeout_s, "read_timeout": settings.sdk_timeout_s,
            "retry_policy": retry, "user_agent": f"voicemail/{settings.version} {settings.region}"}


def make_blob_service(settings: Settings, credential: object | None) -> BlobServiceClient:
    storage = settings.storage
    options = {**_client_options(settings), "transport": pooled_transport()}
    if storage.connection_string:
        return BlobServiceClient.from_connection_string(storage.connection_string, **options)
    return BlobServiceClient(storage.blob_uri, credential=credential, **options)


def make_peer_blob_service(settings: Settings, value: str, credential: object | None) -> BlobServiceClient:
    """Another region's account: a connection string (emulators) or its blob URL (identity)."""
    options = {**_client_options(settings), "transport": pooled_transport()}
    if value.startswith(("https://", "http://")):
        return BlobServiceClient(value, credential=credential, **options)
    return BlobServiceClient.from_connection_string(value, **options)


def make_queue_service(settings: Settings, credential: object | None) -> QueueServiceClient:
    storage = settings.storage
    options = {**_client_options(settings), "transport": pooled_transport()}
    if storage.connection_string:
        return QueueServiceClient.from_connection_string(storage.connection_string, **options)
    return QueueServiceClient(storage.queue_uri, credential=credential, **options)


class BlobAudioStore:
    """Audio in the region's storage account, addressed as `container/blob`."""

    def __init__(self, service: BlobServiceClient):
        self._service = service
        self._lock = threading.Lock()
        self._delegation: tuple[Any, datetime] | None = None
        self._content_types: OrderedDict[str, str] = OrderedDict()
        self._types_lock = threading.Lock()  # not _lock: that one is held while a delegation key is fetched

    def _blob(self, path: str) -> Any:
        container, name = split(path)
        return self._service.get_blob_client(container, name)

    def _missing(self, path: str) -> Unavailable:
        return missing("blob container", split(path)[0])

    def put(self, path: str, data: bytes, content_type: str, metadata: dict[str, str]) -> None:
        with translated("storing audio"):
            try:
                self._blob(path).upload_blob(data, overwrite=True, metadata=metadata,
                                             content_settings=ContentSettings(content_type=content_type))
            except ResourceNotFoundError:  # an upload overwrites: only its container can be missing
                raise self._missing(path) from None

    def put_file(self, path: str, local: Path, content_type: str) -> None:
        with translated("storing audio"), local.open("rb") as data:
            try:
                self._blob(path).upload_blob(data, overwrite=True,
                                             content_settings=ContentSettings(content_type=content_type))
            except ResourceNotFoundError:
                raise self._missing(path) from None

    def size(self, path: str) -> int | None:
        with translated("reading audio properties"):
            try:
                properties = self._blob(path).get_blob_properties()
            except ResourceNotFoundError:
                return None
        self._remember_content_type(path, properties.content_settings.content_type)
        return properties.size

    def _remember_content_type(self, path: str, content_type: str | None) -> None:
        # Callers read a blob's size just before asking for its read link: that answer names its type too.
        if not content_type:
            return
        with self._types_lock:
            self._content_types[path] = content_type
            self._content_types.move_to_end(path)
            while len(self._content_types) > _CONTENT_TYPES_KEPT:
                self._content_types.popitem(last=False)

    def _stored_content_type(self, path: str) -> str | None:
        with self._types_lock:
            known = self._content_types.get(path)
        if known is not None:
            return known
        try:  # one metadata read; a link without a content type beats no link at all
            content_type = self._blob(path).get_blob_properties().content_settings.content_type
        except AzureError as error:
            logger.debug("no content type for %s: %s", path, type(error).__name__)
            return None
        self._remember_content_type(path, content_type)
        return content_type or None

    def read(self, path: str, offset: int = 0, length: int | None = None) -> bytes:
        with translated("reading audio"):
            try:
                return self._blob(path).download_blob(offset=offset, length=length).readall()
            except ResourceNotFoundError:
                raise AudioNotFound("the audio of this message is not in this region") from None

    def read_with_metadata(self, path: str) -> tuple[bytes, dict[str, str]]:
        with translated("reading a blob"):
            try:
                download = self._blob(path).download_blob()
                return download.readall(), dict(download.properties.metadata or {})
            except ResourceNotFoundError:
                raise AudioNotFound("no such blob in this region") from None

    def list_page(self, container: str, marker: str | None, page_size: int,
                  prefix: str = "") -> tuple[list[tuple[str, str]], str | None]:
        """One page of `container` (its names starting with prefix): (path, last-modified ISO time)
        pairs and the next marker (None: done)."""
        with translated("listing audio"):
            try:
                pages = self._service.get_container_client(container).list_blobs(
                    name_starts_with=prefix or None, results_per_page=page_size).by_page(continuation_token=marker)
                page = next(pages)
                items = [(join(container, blob.name), blob.last_modified.isoformat()) for blob in page]
                return items, pages.continuation_token
            except (ResourceNotFoundError, StopIteration):
                return [], None

    def delete(self, path: str) -> None:
        with self._types_lock:
            self._content_types.pop(path, None)
        with translated("deleting audio"), contextlib.suppress(ResourceNotFoundError):
            self._blob(path).delete_blob()

    def copy(self, source: str, target: str, timeout_s: float = 30.0) -> None:
        self.copy_from_url(self.read_url(source, timedelta(minutes=15)), target, timeout_s)

    def copy_from_url(self, source_url: str, target: str, timeout_s: float = 60.0) -> None:
        """Server-side copy into this account (from any account the link can read); waits for it."""
        with translated("copying audio"):
            target_blob = self._blob(target)
            try:
                copy = target_blob.start_copy_from_url(source_url)
            except HttpResponseError as error:
                if error.error_code == "ContainerNotFound":
                    raise self._missing(target) from None
                if error.error_code != "CannotVerifyCopySource":
                    raise
                # The target's service cannot reach the source (a firewalled account, a private
                # endpoint, another emulator process): copy through this process instead.
                self._copy_through(source_url, target_blob)
                return
            deadline = time.monotonic() + timeout_s
            status = copy.get("copy_status")
            while status == "pending":
                if time.monotonic() > deadline:
                    raise Unavailable("copying audio took too long")
                time.sleep(0.1)
                status = target_blob.get_blob_properties().copy.status
            if status != "success":
                raise Unavailable(f"copying audio ended {status}")

    def _copy_through(self, source_url: str, target_blob: Any) -> None:
        source = BlobClient.from_blob_url(source_url, retry_policy=LinearRetry(backoff=0.5, retry_total=2))
        download = source.download_blob()
        target_blob.upload_blob(download.chunks(), length=download.size, overwrite=True,
                                metadata=download.properties.metadata,  # the trace context among it
                                content_settings=ContentSettings(
                                    content_type=download.properties.content_settings.content_type))

    def _sas(self, path: str, permission: BlobSasPermissions, ttl: timedelta, **overrides: str) -> str:
        """A SAS link to that one blob; `overrides` are response headers the link imposes (rsct, rscd)."""
        container, name = split(path)
        now = datetime.now(UTC)
        # A little slack before now for clock skew; never more than MAX_LINK_TTL after it.
        start, expiry = now - timedelta(minutes=5), now + min(ttl, MAX_LINK_TTL)
        credential = self._service.credential
        account_key = getattr(credential, "account_key", None)
        if account_key:
            sas = generate_blob_sas(self._service.account_name, container, name, account_key=account_key,
                                    permission=permission, start=start, expiry=expiry, protocol=None,
                                    **overrides)
        else:  # identity: a user delegation key, fetched once and reused for hours
            sas = generate_blob_sas(self._service.account_name, container, name,
                                    user_delegation_key=self._delegation_key(now), permission=permission,
                                    start=start, expiry=expiry, protocol="https", **overrides)
        return f"{self._blob(path).url}?{sas}"

    def _delegation_key(self, now: datetime) -> Any:
        with self._lock:
            if self._delegation is None or self._delegation[1] - now < timedelta(hours=1):
                expiry = now + timedelta(hours=12)
                with translated("getting a user delegation key"):
                    key = self._service.get_user_delegation_key(now - timedelta(minutes=5), expiry)
                self._delegation = (key, expiry)
            return self._delegation[0]

    def read_url(self, path: str, ttl: timedelta, *, content_type: str | None = None) -> str:
        """A read-only link to that one blob that answers as a download: `Content-Disposition:
        attachment` and the rendition's content type (the one given, else the blob's stored one)."""
        filename = _UNSAFE_FILENAME.sub("_", path.rpartition("/")[2]) or "audio"
        overrides = {"content_disposition": f'attachment; filename="{filename}"'}
        content_type = content_type or self._stored_content_type(path)
        if content_type:
            overrides["content_type"] = content_type
        return self._sas(path, BlobSasPermissions(read=True), ttl, **overrides)

    def upload_url(self, path: str, ttl: timedelta) -> str:
        """A create-only link: `c` writes a new blob but never overwrites one (storage answers 403
        AuthorizationPermissionMismatch to a second PUT), so audio once uploaded stays as it landed."""
        return self._sas(path, BlobSasPermissions(create=True), ttl)


class QueueSender:
    """JSON messages on one of the region's queues (base64, as Functions queue triggers read them)."""

    def __init__(self, service: QueueServiceClient, queue: str):
        self._queue = service.get_queue_client(queue, message_encode_policy=TextBase64EncodePolicy())

    def send(self, payload: dict[str, object], what: str, delay_s: float = 0.0) -> None:
        body = json.dumps(payload, separators=(",", ":"))
        visibility = int(delay_s) or None  # hidden that long first: a retry's back-off
        with translated(what):
            try:
                self._queue.send_message(body, visibility_timeout=visibility)
            except ResourceNotFoundError:
                raise missing("queue", self._queue.queue_name) from None


class QueueEvents:
    """MWI events on the region's MWI queue (`settings.storage.mwi_queue`)."""

    def __init__(self, service: QueueServiceClient, queue: str):
        self._sender = QueueSender(service, queue)

    def publish_mwi(self, event: dict[str, object]) -> None:
        self._sender.send(event, "publishing an MWI event")


class QueueReplicationRequests:
    """Requests to copy a message's audio to other regions, right after it is transcoded."""

    def __init__(self, service: QueueServiceClient, queue: str):
        self._sender = QueueSender(service, queue)

    def request_replication(self, mailbox_id: str, message_id: str) -> None:
        # The trace context rides along: the copy continues the deposit's trace.
        self._sender.send({"mailboxId": mailbox_id, "messageId": message_id, "trace": trace_headers()},
                          "requesting replication")


class QueueTranscriptionJobs:
    """Transcription jobs on the region's transcription queue (functions/transcripts.py reads it)."""

    def __init__(self, service: QueueServiceClient, queue: str):
        self._sender = QueueSender(service, queue)

    def submit(self, job: TranscriptionJob, delay_s: float = 0.0) -> None:
        job = job if job.trace else replace(job, trace=trace_headers())  # the transcription continues the trace
        self._sender.send(job.to_payload(), "queueing a transcription", delay_s)


class BlobProbe:
    """Readiness of the blob store: one metadata read that also reads the drain switch."""

    name = "blob"

    def __init__(self, service: BlobServiceClient, region: str):
        self._drain = service.get_blob_client(OPS_CONTAINER, f"{DRAIN_PREFIX}{region}")

    def check(self) -> dict[str, object]:
        try:
            self._drain.get_blob_properties()
        except ResourceNotFoundError:
            return {"drained": False}  # the store answered: no drain blob (or no ops container)
        return {"drained": True}
