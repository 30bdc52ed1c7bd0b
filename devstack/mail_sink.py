"""The local SMTP sink: accepts every mail on 127.0.0.1:1025 and keeps each as one `.eml` file.

    python -m devstack.mail_sink [--port 1025] [--dir .localstack/mail]

`devstack/localstack.py` starts it (so `make run` and `make test` have it) unless something already
answers SMTP on the port. Tests may start their own on a free port with `MailSink(...)`.
"""

from __future__ import annotations

import argparse
import signal
import socket
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from aiosmtpd.controller import Controller

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DIR = ROOT / ".localstack" / "mail"
HOST = "127.0.0.1"
PORT = 1025


class _Keeper:
    def __init__(self, folder: Path):
        self.folder = folder

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd calls it by this name
        self.folder.mkdir(parents=True, exist_ok=True)
        name = f"{datetime.now(UTC).strftime('%Y%m%dT%H%M%S%f')}-{uuid.uuid4().hex[:8]}.eml"
        partial = self.folder / f".{name}.part"  # written aside, then renamed: a reader never sees half a mail
        partial.write_bytes(envelope.original_content or envelope.content)
        partial.rename(self.folder / name)
        return "250 OK"


class MailSink:
    """An SMTP server in a thread of this process (aiosmtpd), keeping mail in folder."""

    def __init__(self, folder: Path = DEFAULT_DIR, port: int = PORT, host: str = HOST):
        self.folder = Path(folder)
        self.port = port
        self._controller = Controller(_Keeper(self.folder), hostname=host, port=port)

    def start(self) -> MailSink:
        self.folder.mkdir(parents=True, exist_ok=True)
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def mails(self) -> list[Path]:
        return sorted(self.folder.glob("*.eml"))

    def __enter__(self) -> MailSink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def answers(port: int = PORT, host: str = HOST) -> bool:
    """Something on the port greets as an SMTP server does (220)."""
    try:
        with socket.create_connection((host, port), timeout=1.0) as sock:
            sock.settimeout(1.0)
            return sock.recv(64).startswith(b"220")
    except OSError:
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=PORT)
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR)
    args = parser.parse_args(argv)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    with MailSink(args.dir, args.port):
        print(f"SMTP sink on {HOST}:{args.port}, mail kept in {args.dir}", flush=True)
        try:
            while not stopped.is_set():
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
