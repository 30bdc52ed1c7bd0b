"""How long a notification takes: from the deposit's answer to the webhook's first attempt, to the
retry after a 500, and to the e-mail in the SMTP sink; with the dispatcher's sweep alone (the
change-feed trigger switched off, as the dispatcher was before it) and with the change feed, in
the same run: the ratio of the first attempts' medians is the change feed's gain.

    .venv/bin/python -m bench.notify_latency [--messages 10]

One product host on the shared local stack (its SMTP sink on a free port of this run, its own
region, so its dispatcher sends only this run's events), with the local run's retry schedule
(`NOTIFY_FIRST_RETRY_SECONDS=5`, as `local.settings.example.json`). A webhook receiver in this
process answers 500 to the first attempt of each event and 204 to the next. Each message is
deposited (a 1 s speech-like WAV) and followed until its `message.ready` webhook is taken and its
e-mail is kept; one message at a time.

What bounds the figures: the transcoder (blob trigger), then the change feed (the local host polls
it every second) or, without it, the dispatcher's sweep (every 5 s); for the retry the backoff drawn
from [2.5 s, 5 s] and the next sweep.
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
from devstack.hosting import free_port, random_name
from devstack.mail_sink import MailSink
from devstack.make_sample_wav import speech_like_wav
from devstack.webhook_receiver import WebhookReceiver

NAME = "notify_latency"


def main(argv: list[str] | None = None) -> None:
    parser = argument_parser(NAME, __doc__)
    parser.add_argument("--messages", type=int, default=10, help="messages per mode")
    args = parser.parse_args(argv)
    began = time.perf_counter()
    result = new_result(NAME, argv, {"messages": args.messages})
    results = results_path(NAME)
    sink_dir, smtp_port = Path(tempfile.mkdtemp(prefix="bench-mail-")), free_port()
    audio = speech_like_wav(1.0)
    with saved_on_failure(result, began, results), local_stack(), MailSink(sink_dir, smtp_port) as sink, \
            WebhookReceiver() as receiver:
        result["figures"] = {}
        for mode, switched in (("sweep only", ("notifications_changed",)), ("change feed", ())):
            env = host_env(random_name("nl"), switched, NOTIFY_FIRST_RETRY_SECONDS="5", NOTIFY_MAX_RETRY_SECONDS="60",
                           SMTP_PORT=str(smtp_port), SMS_SINK_DIR=str(sink_dir / "sms"))
            with running_host(env) as host:
                figures = follow(host.base_url, receiver, sink, audio, args.messages)
            result["figures"].update({f"{mode}: {name}": latency_summary(values, (50, 90))
                                      for name, values in figures.items()})
        base, feed = (result["figures"][f"{mode}: first attempt"]["p50_ms"] for mode in ("sweep only", "change feed"))
        result["ratio"] = {"first attempt p50, change feed / sweep only": round(feed / base, 2)}
    rows = [f"{name:32} " + "  ".join(f"{k} {v}" for k, v in summary.items())
            for name, summary in result["figures"].items()]
    rows += [f"{name}: {value}" for name, value in result["ratio"].items()]
    finish(result, began, results, "\n".join(rows))


def follow(base_url: str, receiver: WebhookReceiver, sink: MailSink, audio: bytes, messages: int) -> dict:
    """Deposit `messages` one at a time into a fresh mailbox with a webhook and an e-mail target:
    each one's seconds from the deposit's answer to the webhook's first attempt, to the retry taken
    after a 500, and to the e-mail kept."""
    api = httpx.Client(base_url=f"{base_url}/api", headers=PLATFORM, timeout=30)
    mailbox = "+1555" + random_name("")[:7].translate(str.maketrans("abcdef", "123456"))
    api.put(f"/mailboxes/{mailbox}", json={"displayName": "Bench", "pin": "1234"}).raise_for_status()
    address = f"bench{mailbox.lstrip('+')}@example.com"
    api.put(f"/mailboxes/{mailbox}/notifications", json={"targets": [
        {"kind": "webhook", "url": receiver.url(f"/{mailbox}")},
        {"kind": "email", "address": address, "attach": "mp3"}]}).raise_for_status()
    receiver.failing[f"/{mailbox}"] = "first"  # 500 to each event's first attempt, 204 to the retry
    first, taken, mailed = [], [], []
    for _ in range(messages):
        mails_before = len(sink.mails())
        answer = api.post(f"/mailboxes/{mailbox}/messages", params={"from": "+15557654321"}, content=audio,
                          headers={"content-type": "audio/wav"})
        answer.raise_for_status()
        deposited, message_id = time.perf_counter(), answer.json()["id"]
        deadline = deposited + 120
        done_mail = None
        while time.perf_counter() < deadline:
            ready = [c for c in receiver.received(f"/{mailbox}", "message.ready") if c["at"] > deposited]
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
    return {"first attempt": first, "taken after a 500": taken, "e-mail kept": mailed}


if __name__ == "__main__":
    main()
