"""Run the IMAP gateway:  python -m gateways.imap [--api URL] [--port N]

Settings (environment; flags override):
  IMAP_API_URL        the voicemail API it fronts (default http://127.0.0.1:7071/api)
  IMAP_HOST           listen address (default 127.0.0.1; 0.0.0.0 in a container)
  IMAP_PORT           listen port (default 1143; 993 in Azure)
  IMAP_TLS_CERT_FILE  with IMAP_TLS_KEY_FILE (PEM): the listener speaks TLS from the first byte (IMAPS)
  IMAP_HEALTH_PORT    an HTTP listener for probes: /health (alive) and /health/ready (the API is ready)
  IMAP_IDLE_POLL_SECONDS  how often an IDLE session looks for news (default 2; IDLE reports within 5 s)
  IMAP_MAX_CONNECTIONS, IMAP_CONNECTIONS_PER_CLIENT  (default 10000 and 20)
  IMAP_REGION         the stamp's region, for logs
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
from pathlib import Path

from twisted.internet import reactor, threads
from twisted.web import resource, server

from gateways.imap.api import Client
from gateways.imap.server import GatewayFactory

log = logging.getLogger("gateways.imap")


class Health(resource.Resource):
    """`/health`: the process answers. `/health/ready`: and the API behind it is ready."""

    isLeaf = True

    def __init__(self, client: Client):
        super().__init__()
        self.client = client

    def render_GET(self, request):
        path = request.path.rstrip(b"/")
        request.setHeader(b"content-type", b"application/json")
        if path == b"/health":
            return b'{"status":"ok"}'
        if path != b"/health/ready":
            request.setResponseCode(404)
            return b'{"status":"not-found"}'

        def answer(ready: bool) -> None:
            request.setResponseCode(200 if ready else 503)
            request.write(b'{"status":"ready"}' if ready else b'{"status":"unavailable"}')
            request.finish()

        threads.deferToThread(self.client.ready).addCallback(answer)
        return server.NOT_DONE_YET


def tls_options(cert_file: str, key_file: str) -> object:
    """TLS 1.2 or later, with the whole chain in the certificate file (leaf first, then intermediates)."""
    from OpenSSL import crypto
    from twisted.internet import ssl

    blocks = re.findall(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", Path(cert_file).read_bytes(), re.S)
    if not blocks:
        raise SystemExit(f"no PEM certificate in {cert_file}")
    chain = [ssl.Certificate.loadPEM(block).original for block in blocks]
    key = ssl.KeyPair.load(Path(key_file).read_bytes(), crypto.FILETYPE_PEM).original
    return ssl.CertificateOptions(privateKey=key, certificate=chain[0], extraCertChain=chain[1:],
                                  raiseMinimumTo=ssl.TLSVersion.TLSv1_2)


def _env(name: str, default: str) -> str:
    return os.environ.get(name) or default


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gateways.imap", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--api", default=_env("IMAP_API_URL", "http://127.0.0.1:7071/api"))
    parser.add_argument("--host", default=_env("IMAP_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(_env("IMAP_PORT", "1143")))
    parser.add_argument("--health-port", type=int, default=int(_env("IMAP_HEALTH_PORT", "0")))
    parser.add_argument("--idle-poll", type=float, default=float(_env("IMAP_IDLE_POLL_SECONDS", "2")))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per API call
    region = _env("IMAP_REGION", "local")

    client = Client(args.api)
    factory = GatewayFactory(client, idle_poll_s=max(0.2, args.idle_poll),
                             max_connections=int(_env("IMAP_MAX_CONNECTIONS", "10000")),
                             per_client=int(_env("IMAP_CONNECTIONS_PER_CLIENT", "20")))
    reactor.suggestThreadPoolSize(int(_env("IMAP_THREADS", "32")))
    cert, key = os.environ.get("IMAP_TLS_CERT_FILE"), os.environ.get("IMAP_TLS_KEY_FILE")
    if cert and key:
        reactor.listenSSL(args.port, factory, tls_options(cert, key), interface=args.host)
    else:
        reactor.listenTCP(args.port, factory, interface=args.host)
    if args.health_port:
        reactor.listenTCP(args.health_port, server.Site(Health(client)), interface=args.host)
    log.info("region %s: IMAP%s on %s:%d for %s", region, "S" if cert and key else "", args.host, args.port, args.api)
    print(f"imap: {'imaps' if cert and key else 'imap'}://{args.host}:{args.port} -> {args.api}", flush=True)
    reactor.addSystemEventTrigger("after", "shutdown", client.close)
    reactor.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
