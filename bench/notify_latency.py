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

import tempfile
import time
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
from tools.webhook_receiver import WebhookReceiver

NAME = "notify_latency"


def main(argv: list[str] | None = None) -> None:
    parser = argument_parser(NAME, __doc__)
    parser.add_argument("--messages", type=int, default=20)
    args = parser.parse_args(argv)
    began = time.perf_counter()
    result = new_result(NAME, argv, {"messages": args.messages})
    results = results_path(NAME)
    sink_dir, smtp_port = Path(tempfile.mkdtemp(prefix="bench-mail-")), free_port()
    audio = speech_like_wav(1.0)
    with saved_on_failure(result, began, results), local_stack(), MailSink(sink_dir, smtp_port) as sink, \
            WebhookReceiver() as receiver:
        receiver.failing["/hook"] = "first"  # 500 to each event's first attempt, 204 to the retry
        region = random_name("nl")
        env = host_env(region, NOTIFY_FIRST_RETRY_SECONDS="5", NOTIFY_MAX_RETRY_SECONDS="60",
                       SMTP_PORT=str(smtp_port), SMS_SINK_DIR=str(sink_dir / "sms"))
        with running_host(env) as host:
            api = httpx.Client(base_url=f"{host.base_url}/api", headers=PLATFORM, timeout=30)
            mailbox = "+1555" + random_name("")[:7].translate(str.maketrans("abcdef", "123456"))
            api.put(f"/mailboxes/{mailbox}", json={"displayName": "Bench", "pin": "1234"}).raise_for_status()
            api.put(f"/mailboxes/{mailbox}/notifications", json={"targets": [
                {"kind": "webhook", "url": receiver.url("/hook")},
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
                    ready = [c for c in receiver.received("/hook", "message.ready") if c["at"] > deposited]
                    if done_mail is None and len(sink.mails()) > mails_before:
                        done_mail = time.perf_counter()
                    if len(ready) >= 2 and done_mail is not None:
                        break
                    time.sleep(0.05)
                else:
                    raise RuntimeError(f"message {message_id}: no delivery within 120 s")
                first.append(ready[0]["at"] - deposited)
                taken.append(ready[1]["at"] - deposited)
                mailed.append(done_mail - deposited)
        result["figures"] = {name: latency_summary(values, (50, 90)) for name, values in
                             (("first attempt", first), ("taken after a 500", taken), ("e-mail kept", mailed))}
    rows = [f"{name:20} " + "  ".join(f"{k} {v}" for k, v in summary.items())
            for name, summary in result["figures"].items()]
    finish(result, began, results, "\n".join(rows))


if __name__ == "__main__":
    main()
