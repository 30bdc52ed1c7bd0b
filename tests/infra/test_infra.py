"""Static checks of infra/ (there is no Bicep CLI or Azure subscription here): every Bicep file
parses with pycep-parser (the parser checkov uses), checkov reports no failed check and every skip
says why, no secret is written down, and the app settings a stamp sets are the ones
shared/config.py and the bindings read.

pycep-parser and checkov live in their own venv, `.venv-infra` (`make install` builds it), because
checkov pins many packages tightly; they run here in a subprocess.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from shared.config import DEFAULTS, HOST_RESOLVED, ConfigError, load_settings
from tests.infra import bicep_text as bicep

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
INFRA_PYTHON = ROOT / ".venv-infra" / "bin" / "python"
BICEP_FILES = sorted(INFRA.rglob("*.bicep"))
STAMP = INFRA / "modules" / "stamp.bicep"
FUNCTION_APP = INFRA / "modules" / "functionapp.bicep"  # each stamp's two apps and their plans
MAIN = INFRA / "main.bicep"

PARSE = ("import sys; from pathlib import Path; from pycep import BicepParser; "
         "BicepParser().parse(file_path=Path(sys.argv[1]))")


def _infra_python() -> Path:
    if not INFRA_PYTHON.exists():
        pytest.fail(f"{INFRA_PYTHON.relative_to(ROOT)} is missing: run `make install` (it builds .venv-infra)")
    return INFRA_PYTHON


def _infra_files() -> list[Path]:
    return sorted(p for p in INFRA.rglob("*") if p.is_file() and ".azure" not in p.parts)


def test_infra_has_bicep_files():
    assert MAIN in BICEP_FILES and STAMP in BICEP_FILES and INFRA / "modules" / "rbac.bicep" in BICEP_FILES


@pytest.mark.parametrize("path", BICEP_FILES, ids=[str(p.relative_to(INFRA)) for p in BICEP_FILES])
def test_bicep_file_parses(path: Path):
    done = subprocess.run([_infra_python(), "-c", PARSE, path], capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, f"{path.relative_to(ROOT)} does not parse:\n{done.stderr[-3000:]}"


def test_checkov_reports_no_failed_check():
    # bicep: the templates; secrets: keys or tokens in any file of infra/. --skip-download: no network.
    command = [_infra_python(), "-m", "checkov.main", "--directory", "infra", "--framework", "bicep", "secrets",
               "--quiet", "--compact", "--skip-download", "--output", "json"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    try:
        output = json.loads(done.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"checkov gave no JSON (exit {done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
    reports = output if isinstance(output, list) else [output]
    summaries = {r["check_type"]: r["summary"] for r in reports}
    failed = [f"{c['check_id']} {c['resource']} ({c['file_path']}): {c['check_name']}"
              for r in reports for c in r.get("results", {}).get("failed_checks", [])]
    assert not failed, "checkov failed checks:\n" + "\n".join(failed)
    assert all(s["failed"] == 0 and s["parsing_errors"] == 0 for s in summaries.values()), summaries
    assert summaries["bicep"]["passed"] > 0, summaries
    print(summaries)


def test_every_checkov_skip_gives_a_reason():
    skips = 0
    for path in BICEP_FILES:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if "checkov:skip" not in line:
                continue
            skips += 1
            match = re.search(r"//\s*checkov:skip=(CKV2?_[A-Z]+_\d+):(.*)$", line)
            assert match, f"{path.relative_to(ROOT)}:{number}: not `// checkov:skip=CKV_AZURE_n: reason`"
            assert len(match.group(2).strip()) >= 10, f"{path.relative_to(ROOT)}:{number}: the skip gives no reason"
    assert skips > 0


SECRET_LITERALS = re.compile(r"AccountKey=|SharedAccessSignature|SharedAccessKey=|password|[?&]sig=", re.IGNORECASE)


@pytest.mark.parametrize("path", _infra_files(), ids=[str(p.relative_to(INFRA)) for p in _infra_files()])
def test_no_secret_literal_in_infra(path: Path):
    text = path.read_text(encoding="utf-8")
    assert not SECRET_LITERALS.search(text), f"{path.relative_to(ROOT)}: {SECRET_LITERALS.search(text).group(0)!r}"
    # Keys are never read at deploy time, except the blobs extension's system key (Event Grid's webhook).
    for call in re.finditer(r"list(Keys|ConnectionStrings|AccountSas|ServiceSas)\((.{0,80})", text):
        assert call.group(1) == "Keys" and "Microsoft.Web/sites/host" in call.group(2), call.group(0)


# --- the app settings a stamp sets ----------------------------------------------------------------

def _stamp_settings() -> dict[str, str]:
    """`{ name: '...', value: ... }` of the stamp's baseSettings, name -> the Bicep value expression."""
    text = STAMP.read_text(encoding="utf-8")
    block = re.search(r"^var baseSettings = \[\n(.*?)^\]", text, re.MULTILINE | re.DOTALL)
    assert block, "stamp.bicep: var baseSettings not found"
    return dict(re.findall(r"\{ name: '([A-Za-z0-9_]+)', value: (.+) \}", block.group(1)))


def _required_settings() -> set[str]:
    """The settings shared/config.py cannot do without (in Azure, where storage is identity-based):
    what it names missing when nothing else is set but the blob service URI (then it names the others)."""
    identity = {"AzureWebJobsStorage__blobServiceUri": "https://st.blob.core.windows.net"}
    with pytest.raises(ConfigError) as raised:
        load_settings(identity)
    return {p.setting for p in raised.value.problems if p.problem == "missing"} | set(identity)


def test_required_settings_are_found_in_config():
    # Guards the parser above: these are required today.
    assert {"REGION", "COSMOS_ENDPOINT", "PLATFORM_KEY_HASHES", "TOKEN_SIGNING_KEY",
            "AzureWebJobsStorage__blobServiceUri"} <= _required_settings()


def test_stamp_sets_every_required_setting():
    missing = _required_settings() - set(_stamp_settings())
    assert not missing, f"stamp.bicep does not set {sorted(missing)}"


def test_stamp_sets_every_setting_a_binding_names():
    # %NAME% in a binding is resolved by the host from app settings: config.py's defaults do not apply.
    sources = [*sorted((ROOT / "functions").glob("*.py")), ROOT / "host.json"]
    names = {n for path in sources for n in re.findall(r"%([A-Za-z0-9_]+)%", path.read_text(encoding="utf-8"))}
    assert names, "no %SETTING% found in the bindings"
    missing = names - set(_stamp_settings())
    assert not missing, f"stamp.bicep does not set {sorted(missing)}"


def test_stamp_is_identity_based_and_secrets_come_from_key_vault():
    settings = _stamp_settings()
    assert settings["AzureWebJobsStorage__credential"] == "'managedidentity'"
    assert "identity.properties.clientId" in settings["AzureWebJobsStorage__clientId"]
    assert "identity.properties.clientId" in settings["AZURE_CLIENT_ID"]
    for secret in ("PLATFORM_KEY_HASHES", "OPERATOR_KEY_HASHES", "TOKEN_SIGNING_KEY", "TOKEN_SIGNING_KEY_PREVIOUS",
                   "PIN_PEPPER"):
        assert settings[secret].startswith("'@Microsoft.KeyVault(SecretUri="), settings[secret]
    assert not {"AzureWebJobsStorage", "COSMOS_KEY"} & set(settings), "a key-based connection setting"
    # Each other region's storage: its blob service URL, as config.py's PEER_STORAGE__<region> reads it.
    assert re.search(r"name: 'PEER_STORAGE__\$\{peer\.region\}'\n\s+value: 'https://\$\{peer\.storageAccountName\}\.blob\.",
                     STAMP.read_text(encoding="utf-8"))


# A value like each one the stamp sets in Azure (Key Vault references resolved).
SAMPLE_VALUES = {
    "AzureWebJobsStorage__blobServiceUri": "https://stabc.blob.core.windows.net/",
    "AzureWebJobsStorage__queueServiceUri": "https://stabc.queue.core.windows.net/",
    "AzureWebJobsStorage__tableServiceUri": "https://stabc.table.core.windows.net/",
    "AzureWebJobsStorage__credential": "managedidentity",
    "AzureWebJobsStorage__clientId": "00000000-0000-0000-0000-000000000001",
    "AZURE_CLIENT_ID": "00000000-0000-0000-0000-000000000001",
    "APPLICATIONINSIGHTS_CONNECTION_STRING": "InstrumentationKey=00000000-0000-0000-0000-000000000002",
    "APPLICATIONINSIGHTS_AUTHENTICATION_STRING": "ClientId=00000000-0000-0000-0000-000000000001;Authorization=AAD",
    "PYTHON_ENABLE_OPENTELEMETRY": "true",
    "PYTHON_THREADPOOL_THREAD_COUNT": "16",
    "REGION": "westeurope",
    "REGIONS": "westeurope,northeurope",
    "COSMOS_ENDPOINT": "https://cosmos-abc.documents.azure.com:443/",
    "COSMOS_DATABASE": "voicemail",
    "COSMOS_CONTAINER": "mailboxes",
    "DURABLE_TASK_HUB": "voicemail",
    "PLATFORM_KEY_HASHES": "a" * 64,
    "OPERATOR_KEY_HASHES": "b" * 64,
    "TOKEN_SIGNING_KEY": "A1b2" * 11,  # what azd generates: 44 alphanumerics, base64 of 33 bytes
    "TOKEN_SIGNING_KEY_PREVIOUS": "A1b2" * 11,  # outside a rotation, the current key again
    "PIN_PEPPER": "P3pr" * 11,  # azd generates it as it does the signing key
    "REPLICA_COUNT": "2",
    "INCOMING_CONTAINER": "incoming",
    "AUDIO_CONTAINER": "audio",
    "JOURNAL_CONTAINER": "journal",
    "MWI_QUEUE": "mwi-events",
    "REPLICATION_QUEUE": "replication-requests",
    "TRANSCRIPTION_QUEUE": "transcription-requests",
    "TRANSCRIPTION_ENGINE": "azure",
    "SPEECH_ENDPOINT": "https://spch-abc-westeurope.cognitiveservices.azure.com/",
    "RETENTION_SCHEDULE": "0 30 2 * * *",
    "REPLICATION_SCHEDULE": "0 */15 * * * *",
    "ACS_EMAIL_ENDPOINT": "https://acs-abc.unitedstates.communication.azure.com",
    "ACS_EMAIL_SENDER": "DoNotReply@0000.azurecomm.net",
    "ACS_SMS_ENDPOINT": "https://acs-abc.unitedstates.communication.azure.com",
    "ACS_SMS_FROM": "+18005550100",
    "CONFLICTS_SCHEDULE": "0 */1 * * * *",
    "NOTIFICATIONS_SWEEP_SCHEDULE": "0 */1 * * * *",
    "COSMOS__accountEndpoint": "https://cosmos-abc.documents.azure.com:443/",
    "COSMOS__credential": "managedidentity",
    "COSMOS__clientId": "00000000-0000-0000-0000-000000000001",
    "COSMOS_LEASE_CONTAINER": "leases",
    "COSMOS_LEASE_PREFIX": "westeurope",
    "FRONT_DOOR_ID": "3f2504e0-4f89-41d3-9a0c-0305e82c3301",
    "TRUSTED_PROXY_RANGES": "10.80.0.0/23",
}


def test_settings_load_from_what_the_stamp_sets():
    names = set(_stamp_settings())
    unknown = names - set(SAMPLE_VALUES)
    assert not unknown, f"add a sample value for {sorted(unknown)}"
    env = {name: SAMPLE_VALUES[name] for name in names}
    env["PEER_STORAGE__northeurope"] = "https://stdef.blob.core.windows.net/"
    settings = load_settings(env)
    assert settings.storage.uses_identity and not settings.is_emulated
    assert settings.regions == ("westeurope", "northeurope")
    assert settings.replication.peer_storage == {"northeurope": "https://stdef.blob.core.windows.net/"}
    assert settings.transcripts.engine == "azure"  # Azure AI Speech, not the local one
    assert settings.transcripts.speech_endpoint
    assert settings.notifications.acs_email_endpoint and settings.notifications.acs_sms_from  # ACS, not the sinks
    assert not settings.notifications.allow_loopback
    assert settings.auth.front_door_id == SAMPLE_VALUES["FRONT_DOOR_ID"]  # forwarded addresses trusted beside it


def test_each_stamp_has_a_keyless_speech_account_its_identity_may_transcribe_with():
    stamp = STAMP.read_text(encoding="utf-8")
    speech = bicep.balanced(stamp, "resource speech 'Microsoft.CognitiveServices/accounts@")
    assert "kind: 'SpeechServices'" in speech and "disableLocalAuth: true" in speech
    assert "customSubDomainName: speechAccountName" in speech  # token auth needs the custom subdomain
    assert _stamp_settings()["SPEECH_ENDPOINT"] == "speech.properties.endpoint"
    rbac = (INFRA / "modules" / "rbac.bicep").read_text(encoding="utf-8")
    assignment = bicep.balanced(rbac, "resource speechUser 'Microsoft.Authorization/roleAssignments@")
    assert "scope: speechAccounts[i]" in assignment and "principalId: stamp.principalId" in assignment
    assert "cognitiveServicesSpeechUser: 'f2dc8367-1007-4938-bd23-fe263f013447'" in rbac


def test_main_passes_the_names_the_app_expects():
    """main.bicep names containers, queues, the task hub and schedules: config.py's DEFAULTS are the
    one source (local runs use them), so a region deployed by Bicep and one run locally agree."""
    text = MAIN.read_text(encoding="utf-8")

    def passed(param: str) -> str:
        match = re.search(rf"^\s*(?:var )?{param}(?::| =) '([^']*)'", text, re.MULTILINE)
        assert match, f"main.bicep does not set {param}"
        return match.group(1)

    by_param = {"cosmosDatabase": "COSMOS_DATABASE", "cosmosContainer": "COSMOS_CONTAINER",
                "incomingContainer": "INCOMING_CONTAINER", "audioContainer": "AUDIO_CONTAINER",
                "journalContainer": "JOURNAL_CONTAINER", "mwiQueue": "MWI_QUEUE",
                "replicationQueue": "REPLICATION_QUEUE", "transcriptionQueue": "TRANSCRIPTION_QUEUE",
                "durableTaskHub": "DURABLE_TASK_HUB",
                "retentionSchedule": "RETENTION_SCHEDULE", "replicationSchedule": "REPLICATION_SCHEDULE"}
    assert {param: passed(param) for param in by_param} == {param: DEFAULTS[name] for param, name in by_param.items()}
    # A value azd passes with a default of its own: the same default.
    assert re.search(rf"^param replicaCount int = {DEFAULTS['REPLICA_COUNT']}$", text, re.MULTILINE)
    parameters = json.loads((INFRA / "main.parameters.json").read_text(encoding="utf-8"))["parameters"]
    assert parameters["replicaCount"]["value"] == f"${{REPLICA_COUNT={DEFAULTS['REPLICA_COUNT']}}}"
    # What the host resolves itself is set on every stamp, whatever the app's defaults.
    assert set(HOST_RESOLVED) <= set(_stamp_settings())


def test_outputs_are_named_as_the_app_and_client_read_them():
    outputs = set(re.findall(r"^output (\w+) ", MAIN.read_text(encoding="utf-8"), re.MULTILINE))
    assert {"COSMOS_ENDPOINT", "REGIONS", "AZURE_FUNCTION_APP_NAMES", "API_ENDPOINTS", "FRONT_DOOR_ENDPOINT",
            "VOICEMAIL_ENDPOINTS", "STORAGE_ACCOUNT_NAMES", "AZURE_RESOURCE_GROUP"} <= outputs


def test_parameters_file_uses_azd_substitutions():
    parameters = json.loads((INFRA / "main.parameters.json").read_text(encoding="utf-8"))["parameters"]
    assert parameters["environmentName"]["value"] == "${AZURE_ENV_NAME}"
    assert parameters["location"]["value"] == "${AZURE_LOCATION}"
    declared = set(re.findall(r"^param (\w+) ", MAIN.read_text(encoding="utf-8"), re.MULTILINE))
    assert set(parameters) <= declared, f"not parameters of main.bicep: {sorted(set(parameters) - declared)}"
    for name, entry in parameters.items():
        assert re.fullmatch(r"\$\{[A-Z_]+(=[^}]*)?\}", entry["value"]), f"{name}: a literal value, not ${{VAR}}"


def test_the_container_declares_the_conflict_policy_the_app_resolves():
    """Custom: conflicts reach the feed that functions/conflicts.py merges (the emulator gets the same)."""
    from shared.adapters.cosmos_client import CONFLICT_POLICY

    text = (INFRA / "modules" / "global.bicep").read_text()
    block = re.search(r"conflictResolutionPolicy: \{(.*?)\}", text, re.S)
    assert block, "global.bicep declares no conflictResolutionPolicy"
    declared = dict(re.findall(r"(\w+): '([^']*)'", block.group(1)))
    assert declared == CONFLICT_POLICY


# --- Front Door WAF: logins rate-limited per client at the edge ----------------------------------

FRONT_DOOR = INFRA / "modules" / "frontdoor.bicep"


def _login_rule() -> tuple[str, str]:
    text = FRONT_DOOR.read_text(encoding="utf-8")
    assert "'Microsoft.Network/FrontDoorWebApplicationFirewallPolicies@" in text, "frontdoor.bicep has no WAF policy"
    policy = bicep.balanced(text, "resource waf 'Microsoft.Network/FrontDoorWebApplicationFirewallPolicies@")
    rules = bicep.balanced(policy, "rules: [")
    named = re.search(r"name: 'LoginRateLimit'", rules)
    assert named, "the WAF policy has no LoginRateLimit rule"
    # The rule object is the innermost `{ ... }` around its name.
    start = rules.rindex("{", 0, named.start())
    return policy, bicep.balanced(rules[start:], "{")


def test_front_door_waf_rate_limits_logins_per_client_ip():
    text = FRONT_DOOR.read_text(encoding="utf-8")
    policy, rule = _login_rule()
    assert re.search(r"ruleType: 'RateLimitRule'", rule) and re.search(r"action: 'Block'", rule)
    assert re.search(r"enabledState: 'Enabled'", rule)
    assert re.search(r"rateLimitDurationInMinutes: 1\n", rule)
    threshold = re.search(r"rateLimitThreshold: (\w+)", rule).group(1)
    if not threshold.isdigit():  # a parameter: its default is what deploys
        threshold = re.search(rf"^param {threshold} int = (\d+)$", text, re.MULTILINE).group(1)
    # API.md: a client under 30 logins a minute is never refused; the app's own limit answers first.
    assert 30 <= int(threshold) <= 120, threshold
    assert re.search(r"groupBy: \[\s*\{\s*variableName: 'SocketAddr'\s*\}\s*\]", rule), "not grouped by client IP"
    conditions = bicep.balanced(rule, "matchConditions: [")
    assert re.search(r"matchVariable: 'RequestMethod'\s+operator: 'Equal'\s+negateCondition: false\s+"
                     r"matchValue: \[\s*'POST'\s*\]", conditions), "does not match POST"
    uri = re.search(r"matchVariable: 'RequestUri'\s+operator: 'Contains'\s+negateCondition: false\s+"
                    r"matchValue: \[\s*'/sessions'\s*\]\s+transforms: \[([^\]]*)\]", conditions)
    assert uri, "does not match a URI containing /sessions"
    assert {"'Lowercase'", "'UrlDecode'"} <= set(uri.group(1).split()), "an encoded or upper-case path slips by"
    # Enforcing (not only logging), and on the profile's own SKU.
    assert re.search(r"policySettings: \{\s*enabledState: 'Enabled'\s*mode: 'Prevention'", policy)
    skus = re.findall(r"sku: \{\s*name: (\S+)\s*\}", text)
    assert len(skus) == 2 and len(set(skus)) == 1, skus
    assert re.search(r"^var skuName = '(Standard|Premium)_AzureFrontDoor'$", text, re.MULTILINE)


def test_front_door_waf_is_attached_to_the_endpoint():
    text = FRONT_DOOR.read_text(encoding="utf-8")
    security = bicep.balanced(text, "resource securityPolicy 'Microsoft.Cdn/profiles/securityPolicies@")
    assert re.search(r"parent: profile\n", security)
    assert re.search(r"type: 'WebApplicationFirewall'\s+wafPolicy: \{\s*id: waf\.id\s*\}", security)
    associations = bicep.balanced(security, "associations: [")
    assert re.search(r"domains: \[\s*\{\s*id: endpoint\.id\s*\}\s*\]", associations), "not on the endpoint"
    assert re.search(r"patternsToMatch: \[\s*'/\*'\s*\]", associations), "not on every path"


# --- azd from the root; Flex Consumption sizing and zones -------------------------------------------

def test_azd_project_is_at_the_root_with_hooks_for_posix_and_powershell():
    import yaml

    assert not (INFRA / "azure.yaml").exists(), "azure.yaml belongs at the repository root"
    project = yaml.safe_load((ROOT / "azure.yaml").read_text(encoding="utf-8"))
    assert project["infra"] == {"provider": "bicep", "path": "infra", "module": "main"}
    assert project["services"]["api"] == {"project": ".", "language": "python", "host": "function"}
    assert project["services"]["management"] == project["services"]["api"]  # one package, two apps
    assert set(project["hooks"]) == {"preprovision", "predeploy", "postdeploy", "postdown"}
    for name, hook in project["hooks"].items():
        assert set(hook) == {"posix", "windows"}, name
        assert hook["posix"]["shell"] == "sh" and hook["windows"]["shell"] == "pwsh", name
        for entry in hook.values():
            script = ROOT / entry["run"]
            assert script.is_file(), f"{name}: {entry['run']} does not exist"
            assert entry["continueOnError"] is False
    # The release script the deploy hooks call exists and both shells call it the same way.
    for hook in ("predeploy", "postdeploy"):
        posix = (ROOT / project["hooks"][hook]["posix"]["run"]).read_text()
        windows = (ROOT / project["hooks"][hook]["windows"]["run"]).read_text()
        assert "ops/release.py" in posix and "ops/release.py" in windows, hook


def _site_block() -> str:
    return bicep.balanced(FUNCTION_APP.read_text(encoding="utf-8"), "resource site 'Microsoft.Web/sites@")


def test_flex_http_concurrency_is_one_parameter_with_the_worker_threads():
    scale = bicep.balanced(_site_block(), "scaleAndConcurrency: {")
    assert re.search(r"triggers: \{\s*http: \{\s*perInstanceConcurrency: httpPerInstanceConcurrency\s*\}", scale)
    assert re.search(r"maximumInstanceCount: maximumInstanceCount\n", scale)
    assert re.search(r"alwaysReady: alwaysReady\n", scale)
    api = bicep.balanced(STAMP.read_text(encoding="utf-8"), "module api 'functionapp.bicep'")
    assert re.search(r"name: 'http'\s+instanceCount: alwaysReadyHttpInstances\n", api)
    assert re.search(r"httpPerInstanceConcurrency: httpPerInstanceConcurrency\n", api)
    assert _stamp_settings()["PYTHON_THREADPOOL_THREAD_COUNT"] == "string(httpPerInstanceConcurrency)"
    main = MAIN.read_text(encoding="utf-8")
    assert re.search(r"^\s+httpPerInstanceConcurrency: httpPerInstanceConcurrency$", main, re.MULTILINE)
    # What the local host runs with unless told: the same variable (devstack/localhost/host.py).
    assert "PYTHON_THREADPOOL_THREAD_COUNT" in (ROOT / "devstack" / "localhost" / "host.py").read_text()


def test_flex_plan_is_zone_redundant_where_the_region_offers_it():
    text = FUNCTION_APP.read_text(encoding="utf-8")
    plan = bicep.balanced(text, "resource plan 'Microsoft.Web/serverfarms@")
    version = re.search(r"resource plan 'Microsoft.Web/serverfarms@(\d{4}-\d{2}-\d{2})'", text).group(1)
    assert version >= "2024-11-01", f"serverfarms@{version} has no zoneRedundant for Flex"
    assert re.search(r"sku: \{\s*name: 'FC1'\s*tier: 'FlexConsumption'\s*\}", plan)
    assert re.search(r"zoneRedundant: zoneRedundant\n", plan)
    main = MAIN.read_text(encoding="utf-8")
    assert re.search(r"zoneRedundant: flexZoneRedundantRegions == '\*' \|\| contains\(split\(", main)
    assert "list-flexconsumption-locations --zone-redundant" in (INFRA / "scripts" / "preprovision.sh").read_text()
