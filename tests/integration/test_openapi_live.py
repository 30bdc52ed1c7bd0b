"""The live API against its own OpenAPI document: schemathesis generates requests for every operation
(valid ones, and ones that break the document's rules), sends them to a local host with the platform
key, and checks each answer: no 5xx, a documented status, a documented content type, a body and
headers that match the document.

Generated ids rarely name a mailbox or message that exists, so in valid cases the path (and a
forward's target, an audio request's format and range) is often steered to a few that the test
provisions first; the rest stay as generated. Operations that destroy those (message delete,
mailbox delete) run last. Every failing case is collected (not just the first per operation) and
reported together, each with a curl command that reproduces it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import httpx
import hypothesis
import pytest
import requests
import schemathesis
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.support import PLATFORM_KEY, HostProcess, product_env, random_name

pytestmark = pytest.mark.integration

AUTH = {"x-api-key": PLATFORM_KEY}
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          response_headers_conformance]
# Per operation: this many valid cases, and this many that break the document (types, patterns,
# missing or extra fields): 13 operations x 42, and 1 each for the 3 with nothing to vary = 549.
POSITIVE_EXAMPLES = 30
NEGATIVE_EXAMPLES = 12
MIN_CASES = 300
# Run last: they take away the mailboxes and messages the other operations are steered to.
DESTRUCTIVE_LAST = ("delete_message", "delete_mailbox")
PIN = "2468"
AUDIO = b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(range(64))

# The document says `audio/*` (any audio type is accepted); a concrete one has to go on the wire.
schemathesis.serializer.alias("audio/wav", "application/octet-stream")


@dataclass
class Known:
    """What the test provisioned, for steering generated cases towards resources that exist."""

    mailboxes: list[str]
    messages: dict[str, list[str]]


@dataclass
class Findings:
    cases: int = 0
    per_operation: dict[str, int] = field(default_factory=dict)
    statuses: dict[str, dict[int, int]] = field(default_factory=dict)  # operation -> status -> answers
    failures: dict[tuple[str, str], str] = field(default_factory=dict)  # (operation, failure kinds) -> report

    def record(self, operation: str, kinds: str, report: str) -> None:
        self.failures.setdefault((operation, kinds), report)


@pytest.fixture(scope="module")
def host(stack, tmp_path_factory):
    with HostProcess(product_env(random_name("r")), tmp=tmp_path_factory.mktemp("openapi-live")) as process:
        yield process


def provision(base_url: str) -> Known:
    mailboxes = [f"+1555{random_name('')[:7].translate(str.maketrans('abcdef', '123456'))}", random_name("st-")]
    messages: dict[str, list[str]] = {}
    with httpx.Client(base_url=f"{base_url}/api", headers=AUTH, timeout=10) as client:
        for mailbox in mailboxes:
            answer = client.put(f"/mailboxes/{mailbox}", json={"displayName": f"schemathesis {mailbox}",
                                                                "pin": PIN})
            assert answer.status_code == 201, answer.text
            messages[mailbox] = []
            for index in range(3):
                answer = client.post(f"/mailboxes/{mailbox}/messages", content=AUDIO,
                                     params={"from": "+15550100", "urgent": str(index == 0).lower()},
                                     headers={"Content-Type": "audio/wav"})
                assert answer.status_code == 202, answer.text
                messages[mailbox].append(answer.json()["id"])
    return Known(mailboxes, messages)


def often(data: st.DataObject, label: str) -> bool:
    """True about three times in four (Hypothesis leans to 0, so 0 is the common answer)."""
    return data.draw(st.integers(0, 3), label=label) != 3


def steer(case, data: st.DataObject, operation_id: str, known: Known) -> None:
    """Point a valid case at provisioned resources most of the time (drawn, so runs repeat)."""
    params = case.path_parameters
    if params and "mailboxId" in params and often(data, "known mailbox"):
        mailbox = data.draw(st.sampled_from(known.mailboxes), label="mailbox")
        params["mailboxId"] = mailbox
        if "messageId" in params and often(data, "known message"):
            params["messageId"] = data.draw(st.sampled_from(known.messages[mailbox]), label="message")
    body = case.body if isinstance(case.body, dict) else {}
    if operation_id in ("put_mailbox", "create_session") and body.get("pin") is not None and often(data, "pin"):
        body["pin"] = PIN  # keep the provisioned PIN, so logins can succeed (and still fail sometimes)
    if operation_id == "list_messages" and case.query and "continuation" in case.query and often(data, "first page"):
        del case.query["continuation"]  # a made-up token is always 400
    if operation_id == "forward_message" and body and often(data, "known target"):
        body["to"] = data.draw(st.sampled_from(known.mailboxes), label="target")
    if operation_id == "get_message_audio":
        if often(data, "original"):  # the provisioned messages stay `processing`: only the original plays
            case.query = {**(case.query or {}), "format": "original"}
        if data.draw(st.sampled_from([None, "true"]), label="redirect"):
            case.query = {**(case.query or {}), "redirect": "true"}
        if data.draw(st.booleans(), label="range"):
            case.headers = {**(case.headers or {}), "Range": data.draw(
                st.sampled_from(["bytes=0-9", "bytes=-4", "bytes=5-", "bytes=9999-", "bytes=0-1,3-4"]), label="r")}


def exercise(operation, operation_id: str, mode: GenerationMode, examples: int, known: Known, session,
             findings: Findings) -> None:
    strategy = operation.as_strategy(generation_mode=mode)

    @hypothesis.settings(max_examples=examples, deadline=None, derandomize=True, database=None,
                         phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
                         suppress_health_check=list(hypothesis.HealthCheck), print_blob=False)
    @hypothesis.given(data=st.data())
    def run(data: st.DataObject) -> None:
        case = data.draw(strategy, label="case")
        if mode is GenerationMode.POSITIVE:
            steer(case, data, operation_id, known)
        findings.cases += 1
        findings.per_operation[operation_id] = findings.per_operation.get(operation_id, 0) + 1
        try:
            response = case.call(session=session, headers=AUTH, timeout=30)
            seen = findings.statuses.setdefault(operation_id, {})
            seen[response.status_code] = seen.get(response.status_code, 0) + 1
            case.validate_response(response, checks=CHECKS, headers=AUTH)
        except FailureGroup as group:
            kinds = ", ".join(sorted({failure.title for failure in group.exceptions}))
            findings.record(operation.label, kinds, f"[{mode.value}] {group.message}")
        except requests.RequestException as error:  # e.g. the host dropped the connection
            findings.record(operation.label, f"transport error {type(error).__name__}",
                            f"[{mode.value}] {error!r}\n{case.as_curl_command(headers=AUTH)}")

    run()


def test_live_api_conforms_to_its_openapi_document(host):
    known = provision(host.base_url)
    answer = httpx.get(f"{host.base_url}/api/openapi.json", timeout=10)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/json")

    schema = schemathesis.openapi.from_dict(answer.json(), config=schemathesis.Config(seed=20261127))
    schema.config.update(base_url=host.base_url)
    schema.validate()
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 23
    operations.sort(key=lambda op: DESTRUCTIVE_LAST.index(op.definition.raw["operationId"]) + 1
                    if op.definition.raw["operationId"] in DESTRUCTIVE_LAST else 0)

    findings = Findings()
    started = time.monotonic()
    with requests.Session() as session:
        for operation in operations:
            operation_id = operation.definition.raw["operationId"]
            exercise(operation, operation_id, GenerationMode.POSITIVE, POSITIVE_EXAMPLES, known, session, findings)
            # Nothing to break in an operation without parameters or body (beyond the security
            # header, which the platform key always fills): health, health/ready, openapi.json.
            if operation.path_parameters or operation.query or operation.headers or operation.body:
                exercise(operation, operation_id, GenerationMode.NEGATIVE, NEGATIVE_EXAMPLES, known, session,
                         findings)
    elapsed = time.monotonic() - started
    summary = (f"{findings.cases} cases in {elapsed:.1f} s: "
               + "; ".join(f"{name} {count} {dict(sorted(findings.statuses.get(name, {}).items()))}"
                           for name, count in findings.per_operation.items()))
    print(summary)  # shown with -s or -rP: how much ran, and what the answers were

    assert findings.cases >= MIN_CASES, summary
    assert not findings.failures, (
        f"{len(findings.failures)} distinct failure(s); {summary}\n\n"
        + "\n\n".join(f"=== {operation}: {kinds}\n{report}" for (operation, kinds), report in findings.failures.items())
        + f"\n\nhost log:\n{host.log()[-4000:]}")


# -- regressions: bugs found while writing the document (not by the generated cases above) -------


def _limit_with_a_superscript_digit(client: httpx.Client, mailbox: str) -> None:
    # "²".isdigit() is True but int("²") raises: was a 500.
    assert client.get(f"/mailboxes/{mailbox}/messages", params={"limit": "²"}).status_code == 400


def _time_at_the_edge_of_the_calendar(client: httpx.Client, mailbox: str) -> None:
    # Converting to UTC overflowed (OverflowError, not ValueError): was a 500.
    for name, value in (("since", "0001-01-01T00:00:00+01:00"), ("until", "9999-12-31T23:59:59-01:00")):
        assert client.get(f"/mailboxes/{mailbox}/messages", params={name: value}).status_code == 400, name
    assert client.get(f"/mailboxes/{mailbox}/messages", params={"since": "2026-01-01t00:00:00z"}).status_code == 200


def _mailbox_id_with_a_trailing_newline(client: httpx.Client, mailbox: str) -> None:
    # `$` also matches before a final newline: "x\n" passed, was stored, then failed with a 500.
    assert client.put(f"/mailboxes/{mailbox}nl%0A", json={"displayName": "newline"}).status_code == 400
    assert client.get(f"/mailboxes/{mailbox}nl%0A").status_code == 400


def _caller_number_with_a_trailing_newline(client: httpx.Client, mailbox: str) -> None:
    answer = client.post(f"/mailboxes/{mailbox}/messages", content=AUDIO, params={"from": "123\n"},
                         headers={"Content-Type": "audio/wav"})
    assert answer.status_code == 400


def _upload_of_something_that_is_not_audio(client: httpx.Client, mailbox: str) -> None:
    # Whatever is deposited is served back from our origin: only audio types may be declared.
    page = b"<script>alert(1)</script>"
    answer = client.post(f"/mailboxes/{mailbox}/messages", json={"contentType": "text/html", "sizeBytes": len(page)})
    assert answer.status_code == 400
    inline = client.post(f"/mailboxes/{mailbox}/messages", content=page, headers={"Content-Type": "text/html"})
    assert inline.status_code == 415


def _deposit_with_an_empty_audio_subtype(client: httpx.Client, mailbox: str) -> None:
    answer = client.post(f"/mailboxes/{mailbox}/messages", content=AUDIO, headers={"Content-Type": "audio/"})
    assert answer.status_code == 415


def _range_with_underscores(client: httpx.Client, mailbox: str) -> None:
    message = client.post(f"/mailboxes/{mailbox}/messages", content=AUDIO, headers={"Content-Type": "audio/wav"})
    served = client.get(f"/mailboxes/{mailbox}/messages/{message.json()['id']}/audio",
                        params={"format": "original"}, headers={"Range": "bytes=0-1_0"})
    assert served.status_code == 416


@pytest.mark.parametrize("reproduce", [
    pytest.param(bug, id=bug.__name__.strip("_").replace("_", "-"))
    for bug in (_limit_with_a_superscript_digit, _time_at_the_edge_of_the_calendar,
                _mailbox_id_with_a_trailing_newline, _caller_number_with_a_trailing_newline,
                _upload_of_something_that_is_not_audio, _deposit_with_an_empty_audio_subtype,
                _range_with_underscores)
])
def test_fixed_app_bug_stays_fixed(host, reproduce):
    mailbox = random_name("bug")
    with httpx.Client(base_url=f"{host.base_url}/api", headers=AUTH, timeout=10) as client:
        assert client.put(f"/mailboxes/{mailbox}", json={"displayName": "bug"}).status_code == 201
        reproduce(client, mailbox)
