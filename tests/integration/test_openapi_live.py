"""The live API against its own OpenAPI document: schemathesis generates requests for every operation
(valid ones, and ones that break the document's rules), sends them to a local host with the platform
key, and checks each answer: no 5xx, a documented status, a documented content type, a body and
headers that match the document.

Generated ids rarely name a mailbox or message that exists, so in valid cases the path (and a
forward's target, an audio request's format and range) is often steered to a few that the test
provisions first; the rest stay as generated. Operations that destroy those (message delete,
mailbox delete) run last. Every failing case is collected (not just the first per operation) and
reported together, each with a curl command that reproduces it.

A second, stateful run follows the document's OpenAPI links (put mailbox → read, list, deposit,
log in; deposit or forward → read, change, delete, forward, play that message; start a sweep → its
status), so generated sequences act on ids the API itself handed out, sometimes with the session
token a login gave. Both runs also require every 4xx/5xx to be problem+json with a stable `type`.
Seeds are fixed (derandomized per operation; seed SEED + n for the n-th stateful run), so a run
repeats as far as a live host's timing lets it.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import re
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx
import hypothesis
import pytest
import requests
import schemathesis
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, get_state_machine_test, initialize
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.generation.stateful.state_machine import StepInput, StepOutput
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ensure_resource_availability,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from functions.catalog import ROUTES
from tests.integration.api_support import new_mailbox_id
from tests.support import PLATFORM_KEY, HostProcess, product_env, random_name

pytestmark = pytest.mark.integration

AUTH = {"x-api-key": PLATFORM_KEY}
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          response_headers_conformance]
# Per operation: this many valid cases, and this many that break the document (types, patterns,
# missing or extra fields): 20 operations x 56, and 1 each for the 3 with nothing to vary = 1123.
POSITIVE_EXAMPLES = 40
NEGATIVE_EXAMPLES = 16
MIN_CASES = 900
SEED = 20261127
# The stateful run: at least this many scenarios (Hypothesis runs a few more) of up to this many
# steps, each starting from a fresh mailbox.
SCENARIOS = 30
STEPS_PER_SCENARIO = 12
MAX_STATEFUL_RUNS = 10
STATEFUL_CHECKS = [*CHECKS, ensure_resource_availability]  # a message just deposited or forwarded is there
# Links the stateful run must have followed (values substituted, and answered 2xx) at least once.
MUST_FOLLOW = {
    "put_mailbox -> get_mailbox", "put_mailbox -> list_messages", "put_mailbox -> deposit_message",
    "put_mailbox -> create_session", "deposit_message -> get_message", "deposit_message -> patch_message",
    "deposit_message -> delete_message", "deposit_message -> get_message_audio",
    "create_session -> get_mailbox", "start_sweep -> sweep_status",
}
SLUG = re.compile(r"^[a-z][a-z0-9-]*$")
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
    scenarios: int = 0  # stateful scenarios run
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
    mailboxes = [new_mailbox_id(), random_name("st-")]
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


def load_schema(base_url: str):
    answer = httpx.get(f"{base_url}/api/openapi.json", timeout=10)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/json")
    schema = schemathesis.openapi.from_dict(answer.json(), config=schemathesis.Config(seed=SEED))
    schema.config.update(base_url=base_url)
    schema.config.phases.stateful.inference.algorithms = []  # the document's own links, nothing guessed
    schema.validate()
    return schema


def operation_id(case) -> str:
    return case.operation.definition.raw["operationId"]


def not_a_problem(operation: str, response) -> str | None:
    """Why a 4xx/5xx answer is not an RFC 9457 problem with a stable type; None when it is (or is
    not an error). The readiness probe's 503 is its documented probe body, not a problem."""
    if response.status_code < 400 or operation == "health_ready":
        return None
    content_type = response.headers.get("content-type") or response.headers.get("Content-Type") or ""
    content_type = content_type[0] if isinstance(content_type, list) else content_type
    if not content_type.startswith("application/problem+json"):
        return f"{response.status_code} answered with {content_type!r}, not application/problem+json"
    try:
        body = json.loads(response.content)
    except ValueError:
        return f"{response.status_code} answered a problem that is not JSON: {response.content[:200]!r}"
    if not (isinstance(body, dict) and {"type", "title", "status", "detail"} <= body.keys()
            and isinstance(body["type"], str) and SLUG.fullmatch(body["type"])
            and body["status"] == response.status_code):
        return f"{response.status_code} answered a malformed problem: {body!r:.300}"
    if response.status_code == 503 and not response.headers.get("retry-after"):
        return "503 without Retry-After"
    return None


# RFC 9110: a field name is a token; a field value has no control characters (h11 refuses the rest,
# with a plain-text 400 of the HTTP server's own, before any application sees the request).
FIELD_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
FIELD_VALUE = re.compile(r"[\t\x20-\x7e\x80-\xff]*")


def sendable_headers(headers: dict | None) -> bool:
    return all(FIELD_NAME.fullmatch(str(name)) and FIELD_VALUE.fullmatch(str(value))
               for name, value in (headers or {}).items())


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
        if not sendable_headers(case.headers):
            hypothesis.reject()  # not HTTP: a server's parser answers it (uvicorn's, Azure's front end), no app
        if mode is GenerationMode.POSITIVE:
            steer(case, data, operation_id, known)
        findings.cases += 1
        findings.per_operation[operation_id] = findings.per_operation.get(operation_id, 0) + 1
        try:
            response = case.call(session=session, headers=AUTH, timeout=30)
            seen = findings.statuses.setdefault(operation_id, {})
            seen[response.status_code] = seen.get(response.status_code, 0) + 1
            if (reason := not_a_problem(operation_id, response)) is not None:
                findings.record(operation.label, "not a problem", f"[{mode.value}] {reason}\n"
                                + case.as_curl_command(headers=AUTH))
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
    schema = load_schema(host.base_url)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == len(list(ROUTES))  # every operation of the table, none skipped
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


def test_a_stateful_run_follows_the_documents_links(host):
    """Scenarios start from a freshly provisioned mailbox and follow the links from there; now and
    then a start of the (one-region, so harmless) replication sweep gives the sweep link something."""
    schema = load_schema(host.base_url)
    put_mailbox = next(op.ok() for op in schema.get_all_operations()
                       if op.ok().definition.raw["operationId"] == "put_mailbox")
    # The twins under tenants/{tenantId}/ are the same handlers (functions/table.py): the conformance
    # run above covers them; here they would only dilute the links to follow.
    workflow = schema.exclude(path_regex=r"^/api/tenants/").as_state_machine()
    findings = Findings()
    followed: Counter[str] = Counter()  # "source -> target": links whose values were used and answered 2xx
    prefix, numbers = random_name("sf-"), itertools.count()
    sweep = f"/api/admin/sweeps/replication-{httpx.get(f'{host.base_url}/api/health', timeout=10).json()['region']}"
    session = requests.Session()

    class Scenario(workflow):  # type: ignore[misc, valid-type]
        headers = AUTH

        @initialize(target=Bundle("catch_all"), case=put_mailbox.as_strategy(generation_mode=GenerationMode.POSITIVE))
        def provision(self, case) -> StepOutput:
            """Every scenario starts with a mailbox of its own (schemathesis starts only from POSTs)."""
            case.path_parameters = {"mailboxId": f"{prefix}-{next(numbers)}"}
            step = StepInput.initial(case)
            self.recorder.record_case(case=case)
            self.control.record_step(step, self.recorder)
            return self._step(step)

        def step(self, input: StepInput) -> StepOutput:
            edge, self.headers = None, AUTH
            if input.transition is not None and input.is_applied:
                parent = self.recorder.cases[input.transition.parent_id].value
                edge = f"{operation_id(parent)} -> {operation_id(input.case)}"
                answer = self.recorder.interactions[parent.id].response
                if operation_id(parent) == "create_session" and answer is not None and answer.status_code == 201:
                    # Follow the login as its subscriber: the token, and no platform key.
                    self.headers = {"Authorization": f"Bearer {json.loads(answer.content)['token']}"}
                    input.case.headers = {name: value for name, value in (input.case.headers or {}).items()
                                          if name.lower() not in ("x-api-key", "authorization")}
            output = super().step(input)
            if edge is not None and output.response.status_code < 300:
                followed[edge] += 1
            return output

        def before_call(self, case) -> None:
            # Steered by what was drawn (never by a clock or a counter), so a choice sequence always
            # meets the same answers: Hypothesis refuses runs whose rules see different bundles.
            body = case.body if isinstance(case.body, dict) else {}
            if operation_id(case) == "forward_message" and "to" in body:
                body["to"] = case.path_parameters["mailboxId"]  # one that exists
            if operation_id(case) == "get_message_audio" and (case.query or {}).get("format") != "mp3":
                case.query = {**(case.query or {}), "format": "original"}  # the one playable while processing
            if operation_id(case) == "start_sweep" and len(case.path_parameters["kind"]) % 4 == 1:
                case.path_parameters = {"kind": "replication"}
                wait_for_sweep_to_finish(session, host.base_url + sweep)  # so the start is a 202, not a 409

        def get_call_kwargs(self, case) -> dict:
            return {"session": session, "headers": self.headers, "timeout": 30}

        def validate_response(self, response, case, additional_checks=None, **kwargs) -> None:
            name = operation_id(case)
            findings.cases += 1
            findings.per_operation[name] = findings.per_operation.get(name, 0) + 1
            seen = findings.statuses.setdefault(name, {})
            seen[response.status_code] = seen.get(response.status_code, 0) + 1
            if (reason := not_a_problem(name, response)) is not None:
                findings.record(case.operation.label, "not a problem",
                                f"[stateful] {reason}\n{case.as_curl_command(headers=self.headers)}")
            try:
                case.validate_response(response, checks=STATEFUL_CHECKS, headers=self.headers,
                                       recorder=self.recorder)
            except FailureGroup as group:
                kinds = ", ".join(sorted({failure.title for failure in group.exceptions}))
                findings.record(case.operation.label, kinds, f"[stateful] {group.message}")

        def teardown(self) -> None:
            findings.scenarios += 1

    started, runs = time.monotonic(), 0
    with session:
        # One Hypothesis run per seed. A run ends early (Flaky) when a live answer differs from the
        # one an earlier scenario of the run got at the same point (a sweep still running, say):
        # the next seed carries on, as schemathesis's own runner does.
        # Which links a run follows depends on live answers (a sweep still running, say): runs go on
        # until every required link was followed too.
        while ((findings.scenarios < SCENARIOS or MUST_FOLLOW - followed.keys())
               and runs < MAX_STATEFUL_RUNS):
            test = get_state_machine_test(Scenario, _min_steps=2, settings=hypothesis.settings(
                max_examples=max(10, SCENARIOS - findings.scenarios), stateful_step_count=STEPS_PER_SCENARIO,
                deadline=None,
                database=None, phases=[hypothesis.Phase.generate], suppress_health_check=list(hypothesis.HealthCheck),
                print_blob=False))
            hypothesis.seed(SEED + runs)(test)
            runs += 1
            with contextlib.suppress(hypothesis.errors.Flaky):
                test()
    elapsed = time.monotonic() - started
    summary = (f"stateful: {findings.scenarios} scenarios, {findings.cases} calls in {elapsed:.1f} s ({runs} runs); "
               "links followed: "
               + ", ".join(f"{edge} {count}" for edge, count in sorted(followed.items())) + "; answers: "
               + "; ".join(f"{name} {dict(sorted(statuses.items()))}" for name, statuses in findings.statuses.items()))
    print(summary)

    assert findings.scenarios >= SCENARIOS, summary
    missing = sorted(MUST_FOLLOW - followed.keys())
    assert not missing, f"links never followed: {missing}; {summary}"
    assert not findings.failures, (
        f"{len(findings.failures)} distinct failure(s); {summary}\n\n"
        + "\n\n".join(f"=== {operation}: {kinds}\n{report}" for (operation, kinds), report in findings.failures.items())
        + f"\n\nhost log:\n{host.log()[-4000:]}")


def wait_for_sweep_to_finish(session: requests.Session, status_url: str, timeout: float = 15) -> None:
    """Until the sweep at status_url (if there is one) has finished."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = session.get(status_url, headers=AUTH, timeout=10)
        if answer.status_code == 404 or answer.json()["runtimeStatus"] not in ("Pending", "Running", "ContinuedAsNew"):
            return
        time.sleep(0.1)


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
