"""How long a notification takes: from the deposit's answer to the webhook's first attempt, to the
retry after a 500, and to the e-mail in the SMTP sink.

    .venv/bin/python -m bench.notify_latency [--messages 20]

One product host on the shared local stack (its SMTP sink on a free port of this run, its own
region, so its dispatcher sends only this run's events), with the local run's retry schedule
(`NOTIFY_FIRST_RETRY_SECONDS=5`, as `local.settings.example.json`). A webhook receiver in this
process answers 500 to the first attempt of each event and 204 to the next. Each message is
deposited (a 1 s speech-like WAV) and followed until its `message.ready` webhook is taken and its
e-mail is kept; one message at a time.

What bounds the figures: the transcoder (blob trigger), then the dispatcher's timer (every 5 s),
then for the retry the backoff drawn from [2.5 s, 5 s] and the next timer tick.
"""

from __future__ import annotations

import json
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

from bench.common import (
    PLATFORM,
    argument_parser,
    finish,
    host_env,
    latency_summary,
    local_stack,
    new_result,
    results_path,
    running_host,
    saved_on_failure,
)
from tools.hosting import free_port, random_name
from tools.mail_sink import MailSink
from tools.make_sample_wav import speech_like_wav

NAME = "notify_latency"


class Receiver:
    def __init__(self) -> None:
        self.calls: list[tuple[float, str, str, int]] = []  # (time, webhook-id, type, status)
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                event_id = self.headers["webhook-id"]
                status = 204 if any(c[1] == event_id for c in outer.calls) else 500
                outer.calls.append((time.perf_counter(), event_id, body["type"], status))
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def main(argv: list[str] | None = None) -> None:
    parser = argument_parser(NAME, __doc__)
    parser.add_argument("--messages", type=int, default=20)
    args = parser.parse_args(argv)
    began = time.perf_counter()
    result = new_result(NAME, argv, {"messages": args.messages})
    results = results_path(NAME)
    sink_dir, smtp_port = Path(tempfile.mkdtemp(prefix="bench-mail-")), free_port()
    receiver = Receiver()
    audio = speech_like_wav(1.0)
    with saved_on_failure(result, began, results), local_stack(), MailSink(sink_dir, smtp_port) as sink:
        region = random_name("nl")
        env = host_env(region, NOTIFY_FIRST_RETRY_SECONDS="5", NOTIFY_MAX_RETRY_SECONDS="60",
                       SMTP_PORT=str(smtp_port), SMS_SINK_DIR=str(sink_dir / "sms"))
        with running_host(env) as host:
            api = httpx.Client(base_url=f"{host.base_url}/api", headers=PLATFORM, timeout=30)
            mailbox = "+1555" + random_name("")[:7].translate(str.maketrans("abcdef", "123456"))
            api.put(f"/mailboxes/{mailbox}", json={"displayName": "Bench", "pin": "1234"}).raise_for_status()
            api.put(f"/mailboxes/{mailbox}/notifications", json={"targets": [
                {"kind": "webhook", "url": f"http://127.0.0.1:{receiver.server.server_port}/hook"},
                {"kind": "email", "address": "bench@example.com", "attach": "mp3"}]}).raise_for_status()
            first, taken, mailed = [], [], []
            for _ in range(args.messages):
                mails_before = len(sink.mails())
                answer = api.post(f"/mailboxes/{mailbox}/messages", params={"from": "+15557654321"}, content=audio,
                                  headers={"content-type": "audio/wav"})
                answer.raise_for_status()
                deposited, message_id = time.perf_counter(), answer.json()["id"]
                deadline = deposited + 120
                done_mail = None
                while time.perf_counter() < deadline:
                    ready = [c for c in receiver.calls if c[2] == "message.ready" and c[0] > deposited]
                    if done_mail is None and len(sink.mails()) > mails_before:
                        done_mail = time.perf_counter()
                    if len(ready) >= 2 and done_mail is not None:
                        break
                    time.sleep(0.05)
                else:
                    raise RuntimeError(f"message {message_id}: no delivery within 120 s")
                first.append(ready[0][0] - deposited)
                taken.append(ready[1][0] - deposited)
                mailed.append(done_mail - deposited)
        result["figures"] = {name: latency_summary(values, (50, 90)) for name, values in
                             (("first attempt", first), ("taken after a 500", taken), ("e-mail kept", mailed))}
    rows = [f"{name:20} " + "  ".join(f"{k} {v}" for k, v in summary.items())
            for name, summary in result["figures"].items()]
    finish(result, began, results, "\n".join(rows))


if __name__ == "__main__":
    main()
