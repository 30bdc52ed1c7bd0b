"""The SLOs and their alerts, read statically (there is no workspace here to run the queries in):
every SLO of docs/slo.md has its multi-window burn-rate rules in infra/modules/alerts.bicep and
states its target and budget; every alert rule names a runbook that exists in docs/operations.md
and notifies the one action group; the rules use a current API version; and every KQL query (the
rules' and docs/slo.md's) names only telemetry that exists: metric and span names and dimensions
from shared/telemetry.py or infra/monitoring/, functions the app declares, log lines the app (or,
for the host's, infra/monitoring/) writes, and tables the stamps send to the workspace.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.infra import bicep_text as bicep

ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "infra" / "modules" / "alerts.bicep"
MAIN = ROOT / "infra" / "main.bicep"
PARAMETERS = ROOT / "infra" / "main.parameters.json"
SLO_DOC = ROOT / "docs" / "slo.md"
OPERATIONS = ROOT / "docs" / "operations.md"
TELEMETRY = ROOT / "shared" / "telemetry.py"
MONITORING = sorted((ROOT / "infra" / "monitoring").glob("*.kql"))
SOURCES = sorted(p for folder in ("shared", "functions") for p in (ROOT / folder).rglob("*.py")
                 if "__pycache__" not in p.parts)
ALERT_TYPES = ("Microsoft.Insights/scheduledQueryRules", "Microsoft.Insights/metricAlerts")
# The issue's five SLOs.
SLOS = {"deposit-success", "deposit-latency", "read-latency", "notification-delay", "replication-lag"}
# The workspace tables the queries may read: Application Insights' (infra/monitoring/README.md) and
# the queue service's logs, which every stamp's diagnostic setting sends there (stamp.bicep).
TABLES = {"AppRequests", "AppDependencies", "AppTraces", "AppMetrics", "StorageQueueLogs"}
# Literals that are Azure's, not the app's: the Storage log's operation for a message written, and
# the suffix the Functions host gives the queues it moves poison messages to.
PLATFORM_LITERALS = {"PutMessage", "-poison"}


def _alert_resources() -> dict[str, str]:
    text = bicep.text(ALERTS)
    names = re.findall(rf"^resource (\w+) '(?:{'|'.join(ALERT_TYPES)})@", text, re.MULTILINE)
    return {name: bicep.declaration(text, f"resource {name} ") for name in names}


def _var_entries(name: str) -> list[dict[str, str]]:
    """The `key: 'value'` (or number) lines of each object of an array variable of alerts.bicep."""
    block = bicep.declaration(bicep.text(ALERTS), f"var {name} = [")
    return [dict(re.findall(r"^\s{4}(\w+): '?([^'\n]*)'?$", entry, re.MULTILINE))
            for entry in re.split(r"^\s{2}\{$", block, flags=re.MULTILINE)[1:]]


def _slugs(markdown: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped (but - and _), spaces to -."""
    return {re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
            for heading in re.findall(r"^#{1,6} (.+)$", markdown, re.MULTILINE)}


def _doc_slos() -> dict[str, str]:
    """docs/slo.md's table: SLO id -> its 30-day target column."""
    return dict(re.findall(r"^\| `([a-z-]+)` \| [^|]+ \| ([^|]+) \|", bicep.text(SLO_DOC), re.MULTILINE))


# --- SLOs and their burn-rate rules ---------------------------------------------------------------

def test_every_slo_of_the_doc_has_its_burn_rate_rules():
    documented, slos = _doc_slos(), _var_entries("slos")
    assert set(documented) == SLOS, sorted(documented)
    assert {slo["id"] for slo in slos} == set(documented)
    rules = _alert_resources()["burnRateRules"]
    # One rule per SLO and window: the loop covers slos x windows, and each name carries both.
    assert "range(0, length(slos) * length(windows))" in rules
    assert "slos[i / length(windows)]" in rules and "windows[i % length(windows)]" in rules
    assert re.search(r"name: '\$\{namePrefix\}-slo-\$\{slos\[i / length\(windows\)\]\.id\}-"
                     r"\$\{windows\[i % length\(windows\)\]\.id\}'", rules)
    assert "query: '${regionOf}${slos[i / length(windows)].sli}${format(burnTail" in rules
    for slo in slos:
        assert slo["sli"] in {f"sli{''.join(part.title() for part in slo['id'].split('-'))}"}, slo
        assert f"var {slo['sli']} = '''" in bicep.text(ALERTS)


def test_the_budget_of_each_rule_is_the_documented_target():
    documented = _doc_slos()
    for slo in _var_entries("slos"):
        target = float(re.match(r"\s*([\d.]+) %", documented[slo["id"]]).group(1))
        assert abs(float(slo["budget"]) - (1 - target / 100)) < 1e-9, (slo["id"], slo["budget"], target)


def test_the_windows_are_the_workbooks_multi_window_burn_rates():
    windows = {(w["long"], w["short"], w["factor"]): w for w in _var_entries("windows")}
    # Google SRE workbook: 14.4x over 1 h and 5 min, 6x over 6 h and 30 min, 1x over 3 days and 6 h;
    # Azure Monitor queries at most two days, so 2 days here (docs/slo.md says so).
    assert set(windows) == {("1h", "5m", "14.4"), ("6h", "30m", "6"), ("2d", "6h", "1")}
    iso = {"1h": "PT1H", "6h": "PT6H", "2d": "P2D"}
    for (long, _, _), window in windows.items():
        assert window["range"] == iso[long], "the query time range must hold the long window"
    assert [windows[key]["severity"] for key in sorted(windows, key=lambda k: -float(k[2]))] == ["1", "2", "3"]
    doc = bicep.text(SLO_DOC)
    for factor, pair in (("14.4", "1 h and 5 min"), ("6", "6 h and 30 min"), ("1", "2 days and 6 h")):
        assert re.search(rf"^\| {pair} \| {re.escape(factor)} \|", doc, re.MULTILINE), pair
    tail = bicep.declaration(bicep.text(ALERTS), "var burnTail = '''")
    assert "sli({0})" in tail and "sli({1})" in tail and "let budget = {2};" in tail and "let factor = {3};" in tail
    assert "LongBurn >= factor and ShortBurn >= factor" in tail


def test_the_slo_doc_gives_each_slo_its_section_budget_and_query():
    doc = bicep.text(SLO_DOC)
    sections = re.split(r"^### ", doc, flags=re.MULTILINE)[1:]
    by_id = {section.split("\n", 1)[0].strip(): section for section in sections}
    for slo in SLOS:
        assert slo in by_id, f"docs/slo.md has no section for {slo}"
        assert "```kusto" in by_id[slo], f"{slo}: no SLI query"
    for row in re.findall(r"^\| `[a-z-]+` \|.*$", doc, re.MULTILINE):
        assert re.search(r"\d+(\.\d+)? % of [a-z]+; [\d.]+ (min|h)", row), f"no budget in requests and time: {row}"
    assert "voicemail.notifications" in by_id["notification-delay"], "measured by the app's own counter"


# --- every rule: a runbook, the action group, a current API ---------------------------------------

def test_every_alert_rule_names_a_runbook_that_exists():
    anchors = _slugs(bicep.text(OPERATIONS))
    assert "alerts-and-runbooks" in anchors
    text = bicep.text(ALERTS)
    assert "var runbooks = 'docs/operations.md'" in text
    resources = _alert_resources()
    assert set(resources) >= {"burnRateRules", "operationalRules", "routerReadinessFrontDoor",
                              "routerReadinessTrafficManager"}
    for name, block in resources.items():
        description = re.search(r"^\s{4}description: '(.*)'$", block, re.MULTILINE)
        assert description, f"{name}: no description"
        literal = re.findall(r"Runbook: \$\{runbooks\}#([a-z0-9-]+)'?$", description.group(1))
        looped = re.search(r"Runbook: \$\{runbooks\}#\$\{(\w+)(?:\[[^\]]+\])?\.runbook\}'?$", description.group(1))
        assert literal or looped, f"{name}: its description names no runbook"
        for anchor in literal:
            assert anchor in anchors, f"{name}: docs/operations.md has no #{anchor}"
    for array in ("slos", "operational"):
        entries = _var_entries(array)
        assert entries and all(entry.get("runbook") in anchors for entry in entries), \
            [entry.get("runbook") for entry in entries if entry.get("runbook") not in anchors]


def test_every_alert_rule_notifies_the_action_group():
    for name, block in _alert_resources().items():
        assert re.search(r"actionGroups: \[\s+actionGroup\.id\s+\]|actionGroupId: actionGroup\.id", block), name
    group = bicep.declaration(bicep.text(ALERTS), "resource actionGroup ")
    assert "emailReceivers: empty(alertEmail) ? [] : [" in group and "emailAddress: alertEmail" in group
    main = bicep.text(MAIN)
    assert "param alertEmail string = ''" in main
    module = bicep.declaration(main, "module alerts 'modules/alerts.bicep'")
    assert "alertEmail: alertEmail" in module
    assert "workspaceId: global.outputs.logAnalyticsWorkspaceId" in module
    assert json.loads(bicep.text(PARAMETERS))["parameters"]["alertEmail"]["value"] == "${ALERT_EMAIL=}"


def test_log_rules_use_a_current_api_version_and_split_by_region():
    text = bicep.text(ALERTS)
    versions = re.findall(r"'Microsoft\.Insights/scheduledQueryRules@([\d-]+)(-preview)?'", text)
    assert versions and all(v >= "2023-12-01" and not preview for v, preview in versions), versions
    for name in ("burnRateRules", "operationalRules"):
        block = _alert_resources()[name]
        assert "scopes: [\n      workspaceId\n    ]" in block, name
        assert "timeAggregation: 'Count'" in block and "operator: 'GreaterThan'" in block and "threshold: 0" in block
        assert "skipQueryValidation: true" in block


def test_the_operational_alerts_the_issue_asks_for():
    operational = {entry["id"]: entry for entry in _var_entries("operational")}
    assert set(operational) >= {"poison-messages", "notification-dead-letters", "conflicts-backlog",
                                "readiness-failures"}
    block = bicep.declaration(bicep.text(ALERTS), "var operational = [")
    assert 'ObjectKey contains "-poison"' in block and 'Message has "poison"' in block
    assert 'matches regex @"\\bhealth_ready\\b"' in block and 'ResultCode == "503"' in block
    # The drain switch (a release) is not a readiness failure for the log rule.
    assert '"not ready: failed=[] drained=True"' in block
    router = _alert_resources()
    assert "metricName: 'OriginHealthPercentage'" in router["routerReadinessFrontDoor"]
    assert "if (routing == 'frontdoor')" in router["routerReadinessFrontDoor"]
    assert "metricName: 'ProbeAgentCurrentEndpointStateByProfileResourceId'" in router["routerReadinessTrafficManager"]
    assert "if (routing == 'trafficmanager')" in router["routerReadinessTrafficManager"]


# --- the queries name only telemetry that exists ---------------------------------------------------

def _queries() -> dict[str, str]:
    alerts = {f"alerts.bicep #{i}": q for i, q in enumerate(re.findall(r"'''(.*?)'''", bicep.text(ALERTS), re.DOTALL))}
    docs = {f"slo.md #{i}": q for i, q in enumerate(re.findall(r"```kusto\n(.*?)```", bicep.text(SLO_DOC), re.DOTALL))}
    assert len(alerts) >= 10 and len(docs) == len(SLOS)
    return {**alerts, **docs}


def _quoted(text: str) -> set[str]:
    return set(re.findall(r'"([^"\n]+)"', text))


def _telemetry_names() -> set[str]:
    """Metric, span and dimension names: the string literals of shared/telemetry.py and of
    infra/monitoring/*.kql, and the span names the services pass to Telemetry.span."""
    names = _quoted(bicep.text(TELEMETRY)) | {n for path in MONITORING for n in _quoted(bicep.text(path))}
    spans = {n for path in SOURCES for n in re.findall(r'\.span\(\s*"([^"]+)"', bicep.text(path))}
    return names | spans


def _monitoring_properties() -> set[str]:
    found = set()
    for path in MONITORING:
        text = bicep.text(path)
        found |= set(re.findall(r'(?:Properties|props)\["([^"]+)"\]', text))
        found |= set(re.findall(r"Properties\.(\w+)", text))
    return found


def _log_formats() -> list[str]:
    """Every logger call's format string in the app."""
    return [f for path in SOURCES for f in re.findall(r'logger\.\w+\(\s*"([^"]+)"', bicep.text(path))]


def _is_log_fragment(fragment: str, formats: list[str]) -> bool:
    """A piece of a line the app logs: inside one literal part of a format, or starting with a
    format's first literal part (what follows it is then values)."""
    for fmt in formats:
        parts = re.split(r"%[sdr]", fmt)
        if any(fragment in part for part in parts) or (parts[0] and fragment.startswith(parts[0])):
            return True
    return False


def _function_names() -> set[str]:
    """The triggers' functions (blueprints) and the HTTP routes' (the operation table)."""
    from functions.catalog import ROUTES

    return {name for path in (ROOT / "functions").rglob("*.py")
            for name in re.findall(r'function_name\("(\w+)"\)', bicep.text(path))} | {op.name for op in ROUTES}


def _check_pattern(where: str, pattern: str, functions: set[str], sources: str) -> None:
    """A verbatim string of a query: the functions a request record is matched to, a key of the
    totals the dispatcher and the conflicts resolver log, or the function apps' naming."""
    if pattern.startswith(r"\b("):
        for function in pattern[3:-3].split("|"):
            assert function in functions, f"{where}: no function {function!r}"
    elif pattern.startswith(r"\b"):
        assert pattern[2:-2] in functions, f"{where}: no function {pattern[2:-2]!r}"
    elif pattern.startswith("'"):
        key = re.fullmatch(r"'([a-z ]+)': \(\\d\+\)", pattern).group(1)
        assert f'"{key}"' in sources, f"{where}: no outcome {key!r} in the app's totals"
    else:
        assert pattern == r"^func-[a-z0-9]+-(.+?)(-mgmt)?$", f"{where}: unexplained pattern {pattern!r}"


def test_every_query_reads_only_known_tables():
    for where, query in _queries().items():
        tables = set(re.findall(r"\b(App[A-Z][a-z]+|Storage[A-Z][a-z]+Logs)\b", query))
        assert tables <= TABLES, f"{where}: {sorted(tables - TABLES)}"
    monitoring_readme = bicep.text(ROOT / "infra" / "monitoring" / "README.md")
    assert all(f"`{t}`" in monitoring_readme for t in TABLES if t.startswith("App"))
    stamp_bicep = "\n".join(bicep.text(p) for p in (ROOT / "infra" / "modules").glob("*.bicep"))
    assert re.search(r"scope: queueService\b", stamp_bicep), "no stamp sends its queue logs to the workspace"


def test_every_query_names_only_real_telemetry():
    names, properties = _telemetry_names(), _telemetry_names() | _monitoring_properties()
    formats, functions = _log_formats(), _function_names()
    monitoring = {n for path in MONITORING for n in _quoted(bicep.text(path))}
    sources = "\n".join(bicep.text(p) for p in SOURCES)
    for where, query in _queries().items():
        plain = re.sub(r'@"[^"]*"', "", query)  # verbatim strings (patterns) are checked below
        known: set[str] = set()
        for group in re.findall(r'\bName (?:==|in) \(?((?:"[^"]+"(?:, )?)+)', plain):
            for name in re.findall(r'"([^"]+)"', group):
                assert name in names, f"{where}: no metric or span named {name!r}"
                known.add(name)
        for prop in re.findall(r'(?:Properties|props)\["([^"]+)"\]', plain) + re.findall(r"Properties\.(\w+)", plain):
            assert prop in properties, f"{where}: no dimension {prop!r}"
            known.add(prop)
        for fragment in re.findall(r'\bMessage (?:has|contains|startswith) "([^"]+)"', plain):
            assert _is_log_fragment(fragment, formats) or fragment in monitoring, \
                f"{where}: nothing logs {fragment!r}"
            known.add(fragment)
        for group in re.findall(r'\bOutcome (?:==|in) \(?((?:"[^"]+"(?:, )?)+)', plain):
            for outcome in re.findall(r'"([^"]+)"', group):
                assert f'"{outcome}"' in bicep.text(TELEMETRY), f"{where}: no outcome {outcome!r}"
                known.add(outcome)
        unexplained = _quoted(plain) - known - PLATFORM_LITERALS - monitoring
        assert not unexplained, f"{where}: literals that are not telemetry: {sorted(unexplained)}"
        for pattern in re.findall(r'@"([^"]*)"', query):
            _check_pattern(where, pattern, functions, sources)
    # The app names its function apps so: func-<token8>-<region> and func-<token8>-<region>-mgmt.
    main = bicep.text(MAIN)
    assert "functionAppName: 'func-${take(token, 8)}-${region}'" in main
    assert "managementAppName: 'func-${take(token, 8)}-${region}-mgmt'" in main
