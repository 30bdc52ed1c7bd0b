"""A webhook endpoint on 127.0.0.1 for local runs: the notification tests and the notification
benchmark point targets at it and read back what it was sent.

    with WebhookReceiver() as receiver:
        receiver.failing["/flaky"] = "first"   # 500 to the first attempt of each event, then 204
        url = receiver.url("/flaky")
        ...
        receiver.received("/flaky", "message.ready")   # every attempt, oldest first

Per path it answers 500 to every request ("always"), to the first attempt of each event (by
`webhook-id`, "first") or to none (the default). Each request is kept with its path, headers, raw
body, the status answered and when it came (`time.perf_counter()`).
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class WebhookReceiver:
    def __init__(self) -> None:
        self.calls: list[dict] = []
        self.failing: dict[str, str] = {}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                at = time.perf_counter()
                body = self.rfile.read(int(self.headers["content-length"]))
                first = not [c for c in receiver.calls if c["headers"]["webhook-id"] == self.headers["webhook-id"]]
                status = 500 if receiver.failing.get(self.path) == "always" or (
                    receiver.failing.get(self.path) == "first" and first) else 204
                receiver.calls.append({"path": self.path, "headers": dict(self.headers.items()), "body": body,
                                       "status": status, "at": at})
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_port}{path}"

    def received(self, path: str, event_type: str | None = None) -> list[dict]:
        calls = [c for c in self.calls if c["path"] == path]
        return [c for c in calls if event_type is None or json.loads(c["body"])["type"] == event_type]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> WebhookReceiver:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
