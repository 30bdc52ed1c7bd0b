"""Webhooks: signed by Standard Webhooks, sent only to safe addresses.

The host name is resolved once, every address it gives is checked (public unicast only in Azure;
loopback too in a local run), and the connection goes to the checked address (TLS still verifies
the name), so a DNS answer that changes between check and connect cannot reach an internal
address. The lookup runs in a worker with a deadline (getaddrinfo has no timeout of its own), so a
slow resolver is a failed delivery, never a stuck dispatcher. No redirect is followed, the whole
attempt is bounded (10 s) and so is what is read back.
"""

from __future__ import annotations

import socket
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import UTC, datetime
from urllib.parse import urlparse

import certifi
import urllib3
from standardwebhooks.webhooks import Webhook

from shared.domain.notifications import address_problem, url_problem
from shared.ports import DeliveryFailed

TIMEOUT_S = 10.0
DNS_TIMEOUT_S = 5.0  # of the attempt's 10 s
RESOLVERS = 4  # lookups at once; a stuck one holds a worker until the OS gives up, never a caller
MAX_ANSWER_BYTES = 64 * 1024
USER_AGENT = "voicemail-webhooks/1"


def signed_headers(secret: str, webhook_id: str, body: bytes, at: datetime) -> dict[str, str]:
    """The Standard Webhooks headers for body: id, timestamp (unix seconds) and v1 signature."""
    return {"webhook-id": webhook_id, "webhook-timestamp": str(int(at.timestamp())),
            "webhook-signature": Webhook(secret).sign(webhook_id, at, body.decode())}


class SafeWebhookSender:
    def __init__(self, allow_loopback: bool, timeout_s: float = TIMEOUT_S, dns_timeout_s: float = DNS_TIMEOUT_S):
        self._allow_loopback = allow_loopback
        self._timeout_s = timeout_s
        self._dns_timeout_s = min(dns_timeout_s, timeout_s)
        self._resolvers = ThreadPoolExecutor(RESOLVERS, thread_name_prefix="webhook-dns")  # threads start on use

    def _address(self, host: str, port: int) -> str:
        lookup = self._resolvers.submit(socket.getaddrinfo, host, port, type=socket.SOCK_STREAM)
        try:
            infos = lookup.result(timeout=self._dns_timeout_s)  # the wait in the queue counts too
        except FutureTimeout:
            lookup.cancel()
            raise DeliveryFailed(f"{host} did not resolve within {self._dns_timeout_s:g} s") from None
        except OSError as error:
            raise DeliveryFailed(f"{host} does not resolve: {error}") from None
        addresses = list(dict.fromkeys(info[4][0] for info in infos))
        for address in addresses:  # every answer must be safe: the next lookup may pick another
            problem = address_problem(address, self._allow_loopback)
            if problem:
                raise DeliveryFailed(f"refused: {problem}")
        return addresses[0]

    def send(self, url: str, secret: str, webhook_id: str, body: bytes) -> None:
        problem = url_problem(url, self._allow_loopback)
        if problem:
            raise DeliveryFailed(problem)
        parsed = urlparse(url)
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        address = self._address(parsed.hostname or "", port)
        timeout = urllib3.Timeout(total=self._timeout_s)
        if parsed.scheme == "https":
            pool: urllib3.HTTPConnectionPool = urllib3.HTTPSConnectionPool(
                address, port, timeout=timeout, retries=False, cert_reqs="CERT_REQUIRED", ca_certs=certifi.where(),
                server_hostname=parsed.hostname, assert_hostname=parsed.hostname)
        else:
            pool = urllib3.HTTPConnectionPool(address, port, timeout=timeout, retries=False)
        path = (parsed.path or "/") + (f"?{parsed.query}" if parsed.query else "")
        headers = {"host": parsed.netloc.rsplit("@", 1)[-1], "content-type": "application/json",
                   "user-agent": USER_AGENT, **signed_headers(secret, webhook_id, body, datetime.now(UTC))}
        try:
            with pool:
                answer = pool.urlopen("POST", path, body=body, headers=headers, redirect=False,
                                      preload_content=False, assert_same_host=False)
                answer.read(MAX_ANSWER_BYTES, decode_content=False)  # bounded: only the status matters
                answer.release_conn()
        except (urllib3.exceptions.HTTPError, OSError) as error:
            raise DeliveryFailed(f"{type(error).__name__}: {error}") from None
        if not 200 <= answer.status < 300:
            raise DeliveryFailed(f"answered {answer.status}")
