"""Issue 26, read as an Azure engineer would: every role id is Azure's, nothing holds more than it
uses, the defaults deploy in every region, and what azd leaves behind does not break the next run.
Static, like test_infra.py: no Bicep CLI, no azd, no subscription here. The last test runs
azure-functions-doctor (from .venv-infra, as test_infra.py runs checkov) on the repository."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from shared.config import DEFAULTS
from tests.infra import bicep_text as bicep

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
MAIN = INFRA / "main.bicep"
RBAC = INFRA / "modules" / "rbac.bicep"
STAMP = INFRA / "modules" / "stamp.bicep"
COMMUNICATION = INFRA / "modules" / "communication.bicep"
BICEP_FILES = sorted(INFRA.rglob("*.bicep"))
INFRA_BIN = ROOT / ".venv-infra" / "bin"
GUID = re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b")

# Azure built-in roles: https://learn.microsoft.com/azure/role-based-access-control/built-in-roles
# (each id as that page and its per-category pages under built-in-roles/ give it).
BUILT_IN_ROLES = {
    "Owner": "8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
    "Contributor": "b24988ac-6180-42a0-ab88-20f7382dd24c",
    "Reader": "acdd72a7-3385-48ef-bd42-f606fba81ae7",
    "Storage Blob Data Owner": "b7e6dc6d-f1e8-4753-8033-0f276bb0955b",
    "Storage Blob Data Contributor": "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
    "Storage Blob Data Reader": "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1",
    "Storage Blob Delegator": "db58b8e5-c6ad-4a2a-8342-4190687cbf4a",
    "Storage Queue Data Contributor": "974c5e8b-45b9-4653-ba55-5f855dd0fb88",
    "Storage Table Data Contributor": "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3",
    "Key Vault Secrets User": "4633458b-17de-408a-b874-0445c86b69e6",
    "Key Vault Secrets Officer": "b86a8fe4-44ce-4948-aee5-eccb2c155cd7",
    "Monitoring Metrics Publisher": "3913510d-42f4-4e42-8a64-420c390055eb",
    "Monitoring Reader": "43d0d8ad-25c7-4714-9337-8ba259a9fe05",
    "Cognitive Services Speech User": "f2dc8367-1007-4938-bd23-fe263f013447",
    "AcrPull": "7f951dda-4ed3-4680-a7ca-43fe172d538d",
    "Cosmos DB Operator": "230815da-be43-4aae-9cb4-875f7bd000aa",
    "Website Contributor": "de139f84-1756-47ae-9be6-808fbbe84772",
}
# Cosmos DB's own data-plane roles (sqlRoleDefinitions, not Azure RBAC):
# https://learn.microsoft.com/azure/cosmos-db/nosql/security/reference-data-plane-roles
COSMOS_DATA_PLANE_ROLES = {
    "Cosmos DB Built-in Data Reader": "00000000-0000-0000-0000-000000000001",
    "Cosmos DB Built-in Data Contributor": "00000000-0000-0000-0000-000000000002",
}
DOCUMENTED = {**BUILT_IN_ROLES, **COSMOS_DATA_PLANE_ROLES}
# Roles that may list a Communication Services resource's keys (Communication and Email Service Owner
# holds Microsoft.Communication/CommunicationServices/ListKeys/action).
KEY_LISTING_ROLES = {BUILT_IN_ROLES["Owner"], BUILT_IN_ROLES["Contributor"], "09976791-48a7-449e-bb21-39d1a415f350"}
# What Microsoft documents for sending e-mail with an Entra ID identity (Communication Services docs,
# "Use a custom role to limit permissions granted to the Microsoft Entra application").
ACS_SEND_ACTIONS = {"Microsoft.Communication/CommunicationServices/Read",
                    "Microsoft.Communication/CommunicationServices/Write",
                    "Microsoft.Communication/EmailServices/write"}


def _resources(text: str, type_: str) -> dict[str, tuple[str, str]]:
    """symbolic name -> (API version, whole declaration) of each resource of the type."""
    found = {}
    for match in re.finditer(rf"^resource (\w+) '{re.escape(type_)}@([\w-]+)'", text, re.MULTILINE):
        found[match.group(1)] = (match.group(2), bicep.balanced(text, match.start(), from_at=True))
    return found


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


# --- 1. role definition ids ---------------------------------------------------------------------

def test_every_role_id_in_infra_is_azures_documented_one():
    assert BICEP_FILES
    unknown = {f"{path.relative_to(ROOT)}: {guid}" for path in BICEP_FILES for guid in GUID.findall(bicep.text(path))
               if guid.lower() not in DOCUMENTED.values()}
    assert not unknown, f"not a documented built-in role id (add it here with its docs page, or fix it): {unknown}"
    assert "b24988ac-6182-4e48" not in "".join(bicep.text(p) for p in BICEP_FILES)  # the wrong Contributor of issue 26


def test_each_named_role_id_is_the_role_its_name_says():
    """`roles.storageBlobDelegator: '<guid>'`: the GUID is that role's, not another documented one."""
    by_name = {_norm(name): guid for name, guid in DOCUMENTED.items()}
    checked = 0
    for path in BICEP_FILES:
        for key, guid in re.findall(r"^\s*(\w+): '(" + GUID.pattern[2:-2] + r")'", bicep.text(path), re.MULTILINE):
            if _norm(key) in by_name:
                assert guid.lower() == by_name[_norm(key)], f"{path.name}: {key} is {guid}"
                checked += 1
    assert checked >= 10


def test_every_role_assignment_names_a_documented_or_defined_role():
    for path in BICEP_FILES:
        text = bicep.text(path)
        custom = set(_resources(text, "Microsoft.Authorization/roleDefinitions"))
        for name, (_, block) in _resources(text, "Microsoft.Authorization/roleAssignments").items():
            role = re.search(r"roleDefinitionId: (.+)", block).group(1)
            named = re.search(r"roleDefinitions', (?:roles\.(\w+)|(\w+)\.name)\)", role)
            assert named, f"{path.name} {name}: roleDefinitionId {role}"
            if named.group(1):
                key = named.group(1)
                assert re.search(rf"^\s*{key}: '", text, re.MULTILINE), f"{path.name}: roles.{key}"
            else:
                assert named.group(2) in custom, f"{path.name} {name}: {named.group(2)} is not a role defined here"


def test_custom_roles_hold_no_wildcard_and_no_key_listing():
    roles = 0
    for path in BICEP_FILES:
        for name, (_, block) in _resources(bicep.text(path), "Microsoft.Authorization/roleDefinitions").items():
            roles += 1
            assert "type: 'CustomRole'" in block
            actions = re.findall(r"^\s*'(Microsoft\.[^']+|\*)'$",
                                 bicep.balanced(block, block.index("actions:"), from_at=True), re.MULTILINE)
            assert actions, name
            assert not [a for a in actions if "*" in a or re.search(r"listkeys|regeneratekey", a, re.IGNORECASE)]
            assert re.search(r"assignableScopes: \[\s*resourceGroup\(\)\.id\s*\]", block), f"{name}: beyond its group"
    assert roles >= 1


# --- 2. Flex Consumption's lowest maximum instance count ------------------------------------------

FLEX_LOWEST_MAXIMUM = 40  # learn.microsoft.com/azure/azure-functions/flex-consumption-plan, "Considerations"


def test_maximum_instance_count_defaults_to_what_every_region_accepts():
    from ops.capacity import FLEX_MIN_MAXIMUM_INSTANCES, Inputs, parameters, size

    main = bicep.text(MAIN)
    default = int(re.search(r"^param maximumInstanceCount int = (\d+)$", main, re.MULTILINE).group(1))
    assert default >= FLEX_LOWEST_MAXIMUM
    parameters_file = json.loads(bicep.text(INFRA / "main.parameters.json"))["parameters"]
    azd_default = re.fullmatch(r"\$\{MAXIMUM_INSTANCE_COUNT=(\d+)\}", parameters_file["maximumInstanceCount"]["value"])
    assert azd_default and int(azd_default.group(1)) >= FLEX_LOWEST_MAXIMUM
    assert FLEX_MIN_MAXIMUM_INSTANCES == FLEX_LOWEST_MAXIMUM
    # The model never asks for less, whatever the peak and the number of regions.
    for peak in (10.0, 1500.0, 60000.0):
        for regions in (2, 3, 5):
            deployed = parameters(size(Inputs(peak_rps=peak, regions=regions)))["maximumInstanceCount"]
            assert deployed >= FLEX_LOWEST_MAXIMUM, (peak, regions)
    # The README's example regions get the default: no per-region override exists.
    readme = bicep.text(INFRA / "README.md")
    assert "westeurope,northeurope,swedencentral" in readme
    assert "| 40, 3, 15000 RU/s" in readme


# --- 3. Communication Services: keys off for real, no key-listing role -----------------------------

# The first stable API version whose CommunicationServiceProperties have disableLocalAuth
# (azure-rest-api-specs: Microsoft.Communication/stable/2025-09-01/CommunicationServices.json; 2023-04-01
# and 2025-05-01 lack it, and ARM drops a property the version doesn't have).
ACS_DISABLE_LOCAL_AUTH_SINCE = "2025-09-01"


def test_disable_local_auth_is_sent_on_an_api_version_that_has_it():
    resources = _resources(bicep.text(COMMUNICATION), "Microsoft.Communication/communicationServices")
    assert resources
    for name, (version, block) in resources.items():
        assert "disableLocalAuth: true" in block, name
        assert not version.endswith("preview") and version >= ACS_DISABLE_LOCAL_AUTH_SINCE, version


def test_no_role_on_communication_services_can_list_its_keys():
    text = bicep.text(RBAC)
    assert not KEY_LISTING_ROLES & {g.lower() for p in BICEP_FILES for g in GUID.findall(bicep.text(p))}
    custom = _resources(text, "Microsoft.Authorization/roleDefinitions")
    on_acs = [block for _, block in _resources(text, "Microsoft.Authorization/roleAssignments").values()
              if re.search(r"^\s*scope: communication$", block, re.MULTILINE)]
    assert on_acs, "the stamps need a role to send with their identity"
    for block in on_acs:
        role = re.search(r"roleDefinitions', (\w+)\.name\)", block)
        assert role and role.group(1) in custom, block
        actions = set(re.findall(r"'(Microsoft\.Communication/[^']+)'", custom[role.group(1)][1]))
        assert actions == ACS_SEND_ACTIONS, actions
    assert not re.search(r"^\s*contributor: '", text, re.MULTILINE)


# --- 4. peers: the shared containers only ---------------------------------------------------------

def _container_attributes_peers_address() -> set[str]:
    """`containers.<name>` in the blob paths of the audio a region reads and copies (blobpaths.py)."""
    return set(re.findall(r"join\(containers\.(\w+),", bicep.text(ROOT / "shared" / "domain" / "blobpaths.py")))


def test_peers_hold_blob_roles_on_the_shared_containers_only():
    main = bicep.text(MAIN)
    rbac_call = bicep.balanced(main, main.index("module rbac 'modules/rbac.bicep'"), from_at=True)
    peer_vars = re.findall(r"^\s+(\w+)$", bicep.balanced(rbac_call, rbac_call.index("peerContainers:"), from_at=True),
                           re.MULTILINE)
    peer_names = {re.search(rf"^var {var} = '([^']+)'$", main, re.MULTILINE).group(1) for var in peer_vars}
    # Exactly the containers the app addresses in another region's account (shared/services/replication.py
    # Regions: replication, fall-back reads, renditions, takeover and retention use these paths).
    assert _container_attributes_peers_address() == {"incoming", "audio"}
    assert peer_names == {DEFAULTS["INCOMING_CONTAINER"], DEFAULTS["AUDIO_CONTAINER"]}
    assert not peer_names & {"ops", "app-package", "journal", "eventgrid-deadletter"}

    rbac = bicep.text(RBAC)
    assert re.search(r"resource sharedContainers 'Microsoft.Storage/storageAccounts/blobServices/containers@[\w-]+' "
                     r"existing = \[for k in range\(0, stampCount \* peerContainerCount\)", rbac)
    peer_assignments = {name: block for name, (_, block)
                        in _resources(rbac, "Microsoft.Authorization/roleAssignments").items()
                        if re.search(r"if \(k / .+ != .+\)", block.splitlines()[0])}
    assert set(peer_assignments) == {"peerBlob", "peerDelegator"}, set(peer_assignments)
    for name, block in peer_assignments.items():
        scope = re.search(r"^\s*scope: (\w+)\[", block, re.MULTILINE).group(1)
        role = re.search(r"roleDefinitions', roles\.(\w+)\)", block).group(1)
        if scope == "storageAccounts":  # the whole account: the user delegation key and nothing else
            assert role == "storageBlobDelegator", name
        else:
            assert (scope, role) == ("sharedContainers", "storageBlobDataContributor"), name
    # Each (stamp, other account, container) once, never a stamp's own account.
    peer_blob = peer_assignments["peerBlob"].splitlines()[0]
    assert "range(0, stampCount * stampCount * peerContainerCount)" in peer_blob
    assert "if (k / (stampCount * peerContainerCount) != (k / peerContainerCount) % stampCount)" in peer_blob


# --- 5. storage account names, unique per region ---------------------------------------------------

def _unique_string(*parts: str) -> str:
    """A stand-in for Bicep's uniqueString (13 lowercase base32 characters of a hash of the parts)."""
    digest = hashlib.sha256("|".join(parts).encode()).digest()
    return base64.b32encode(digest).decode().lower()[:13]


def _storage_name(expression: str, token: str, region: str) -> str:
    """Evaluates main.bicep's storageAccountName:
    'st${take(uniqueString(token, region), N)}${toLower(take(replace(region, '-', ''), M))}'."""
    match = re.fullmatch(r"'st\$\{take\(uniqueString\(([\w, ]+)\), (\d+)\)\}"
                         r"\$\{toLower\(take\(replace\(region, '-', ''\), (\d+)\)\)\}'", expression)
    assert match, f"main.bicep's storage name changed shape: {expression}"
    args = [a.strip() for a in match.group(1).split(",")]
    assert "region" in args, "the hash does not include the region"
    values = {"token": token, "region": region}
    return f"st{_unique_string(*(values[a] for a in args))[:int(match.group(2))]}" \
           f"{region.replace('-', '').lower()[:int(match.group(3))]}"


# Regions whose first 10 characters agree got one name from the old 'st' + 10 of the token + 10 of
# the region; eastus2 / eastus2euap share a prefix too.
@pytest.mark.parametrize("pair", [("southafricanorth", "southafricawest"), ("switzerlandnorth", "switzerlandwest"),
                                  ("westeurope", "westeurope2"), ("eastus2", "eastus2euap")])
def test_storage_names_are_unique_per_region_and_valid(pair):
    expression = re.search(r"^\s*storageAccountName: (.+)$", bicep.text(MAIN), re.MULTILINE).group(1)
    token = _unique_string("subscription", "voicemail-prod")
    names = [_storage_name(expression, token, region) for region in pair]
    assert names[0] != names[1], names
    for name in names:
        assert re.fullmatch(r"[a-z0-9]{3,24}", name), name
    # The longest region name still fits (24 characters at most).
    assert len(_storage_name(expression, token, "germanywestcentral")) <= 24


# --- 6. what Azure installs: no local-only package -------------------------------------------------

def _pins(name: str) -> dict[str, str]:
    pins = {}
    for raw in bicep.text(ROOT / name).splitlines():
        line = raw.split("#")[0].strip()
        if line and not line.startswith("-"):
            package, _, version = line.partition("==")
            pins[package.strip().lower()] = version.strip()
    return pins


def test_azure_data_tables_is_a_local_tool_not_deployed():
    assert "azure-data-tables" not in _pins("requirements.txt")
    assert _pins("requirements-dev.txt")["azure-data-tables"] == _pins("constraints.txt")["azure-data-tables"]
    product = [ROOT / "function_app.py", *(ROOT / "functions").rglob("*.py"), *(ROOT / "shared").rglob("*.py")]
    assert not [p for p in product if re.search(r"^\s*(from|import) azure\.data\.tables", bicep.text(p), re.MULTILINE)]
    # The comment in requirements.txt names the test that checks it, and that test exists.
    for test in re.findall(r"tests/[\w/]+\.py", bicep.text(ROOT / "requirements.txt")):
        assert (ROOT / test).is_file(), test


# --- 7. azd down resets the switch the next azd up needs off ---------------------------------------

def test_postdown_hook_turns_the_event_subscriptions_switch_off(tmp_path):
    project = yaml.safe_load(bicep.text(ROOT / "azure.yaml"))
    hook = project["hooks"]["postdown"]
    assert hook["posix"]["shell"] == "sh" and hook["windows"]["shell"] == "pwsh"
    posix, windows = ROOT / hook["posix"]["run"], ROOT / hook["windows"]["run"]
    assert "azd env set EVENT_SUBSCRIPTION_ENABLED false" in bicep.text(windows)
    assert os.access(posix, os.X_OK)
    # Run the posix hook against a stand-in azd that records its arguments.
    record = tmp_path / "azd-calls"
    fake = tmp_path / "bin" / "azd"
    fake.parent.mkdir()
    fake.write_text(f'#!/bin/sh\necho "$@" >> "{record}"\n')
    fake.chmod(0o755)
    env = {**os.environ, "PATH": f"{fake.parent}:{os.environ['PATH']}", "EVENT_SUBSCRIPTION_ENABLED": "true"}
    done = subprocess.run(["sh", posix], cwd=ROOT, env=env, capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    assert record.read_text().splitlines() == ["env set EVENT_SUBSCRIPTION_ENABLED false"]


# --- 8. Event Grid: retries, then dead letters ------------------------------------------------------

def test_event_subscriptions_retry_then_dead_letter_to_a_container_of_the_stamp():
    stamp = bicep.text(STAMP)
    subscriptions = _resources(stamp, "Microsoft.EventGrid/systemTopics/eventSubscriptions")
    assert subscriptions
    containers = bicep.balanced(stamp, stamp.index("var blobContainers = ["), from_at=True)
    topic = _resources(stamp, "Microsoft.EventGrid/systemTopics")["systemTopic"][1]
    for name, (_, block) in subscriptions.items():
        retry = re.search(r"retryPolicy: \{\s*maxDeliveryAttempts: (\d+)\s*eventTimeToLiveInMinutes: (\d+)\s*\}", block)
        assert retry and 1 <= int(retry.group(1)) <= 30 and 1 <= int(retry.group(2)) <= 1440, name
        dead = bicep.balanced(block, block.index("deadLetterWithResourceIdentity:"), from_at=True)
        identity = re.search(r"type: 'UserAssigned'\s*userAssignedIdentity: (\S+)", dead).group(1)
        assert re.search(r"endpointType: 'StorageBlob'\s*properties: \{\s*resourceId: storage\.id", dead), name
        container = re.search(r"blobContainerName: (\w+)", dead).group(1)
        assert re.search(rf"^\s+{container}$", containers, re.MULTILINE), f"{container} is not created"
        # Event Grid writes the dead letters as the topic's identity: shared keys are off.
        assert identity == "identity.id" and "'${identity.id}': {}" in topic
    # That identity holds Blob Data Owner on its own account (rbac.bicep ownBlob).
    own = _resources(bicep.text(RBAC), "Microsoft.Authorization/roleAssignments")["ownBlob"][1]
    assert "scope: storageAccounts[i]" in own and "roles.storageBlobDataOwner" in own


# --- 9. e-mail quotas are written down ---------------------------------------------------------------

def test_readme_gives_the_email_quotas_and_the_way_to_a_custom_domain():
    readme = bicep.text(INFRA / "README.md")
    section = readme.split("## E-mail quotas and a custom domain\n", 1)[1].split("\n## ", 1)[0]
    assert "| Azure-managed" in section and "| 5 | 10 |" in section and "| 30 | 100 |" in section
    assert "custom domain" in section and "support request" in section
    assert readme.count("Role assignments propagate") == 1


def test_no_comment_points_to_a_file_that_is_not_in_the_repository():
    for path in BICEP_FILES:
        for reference in re.findall(r"\b((?:[\w.-]+/)*[\w-]+\.(?:md|py))\b", bicep.text(path)):
            candidates = [ROOT / reference, INFRA / reference, path.parent / reference, ROOT / "docs" / reference]
            assert any(c.exists() for c in candidates), f"{path.relative_to(ROOT)} names {reference}"


# --- 10. azure-functions-doctor ----------------------------------------------------------------------

# Its warnings that are not problems here, each with the reason.
DOCTOR_ALLOWED_WARNINGS = {
    # numpy and av ship manylinux wheels; azd deploys with a remote build on Linux (Oryx runs pip on
    # requirements.txt with the lock), so the wheels match the Functions host.
    "check_native_dependency_risk",
    # APPLICATIONINSIGHTS_CONNECTION_STRING is an app setting set in Bicep from the component's
    # ConnectionString; the doctor's Bicep scan reads only literal `name: '…'` / `value: '…'` pairs.
    "check_app_insights",
    # Checked below instead: each connection it could not resolve must be an identity-based group
    # (`<NAME>__…`) set in Bicep, which its Bicep scan cannot read (values there are expressions).
    "check_binding_connection_resolution",
}


def _python_version_deployed() -> str:
    for path in BICEP_FILES:
        found = re.search(r"runtime: \{\s*name: 'python'\s*version: '(\d+\.\d+)'", bicep.text(path))
        if found:
            return found.group(1)
    return "3.11"


def test_azure_functions_doctor_reports_no_failure(tmp_path):
    doctor = INFRA_BIN / "azure-functions-doctor"
    if not doctor.exists():
        pytest.fail(f"{doctor.relative_to(ROOT)} is missing: run `make install` (it builds .venv-infra)")
    command = [doctor, "doctor", "--path", str(ROOT), "--format", "json", "--profile", "deploy",
               "--hosting-plan", "flex-consumption", "--target-python", _python_version_deployed(),
               "--output", str(tmp_path / "doctor.json")]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
                          env={**os.environ, "NO_COLOR": "1"})
    assert (tmp_path / "doctor.json").exists(), f"exit {done.returncode}:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    report = json.loads((tmp_path / "doctor.json").read_text())
    items = [item for section in report["results"] for item in section["items"]]
    failed = [f"{i['rule_id']}: {i['value']}" for i in items if i["status"] == "fail"]
    assert not failed, "azure-functions-doctor failed checks:\n" + "\n".join(failed)
    warned = {i["rule_id"]: i["value"] for i in items if i["status"] == "warn"}
    assert not set(warned) - DOCTOR_ALLOWED_WARNINGS, {k: warned[k] for k in set(warned) - DOCTOR_ALLOWED_WARNINGS}
    settings = "".join(bicep.text(p) for p in BICEP_FILES)
    unresolved = warned.get("check_binding_connection_resolution", "")
    for connection in re.findall(r"^\s+- (\w+) \(", unresolved, re.MULTILINE):
        assert f"name: '{connection}__" in settings, f"binding connection {connection}: no {connection}__* app setting"
    assert "APPLICATIONINSIGHTS_CONNECTION_STRING" in settings
    passed = {i["rule_id"] for i in items if i["status"] == "pass"}
    assert {"check_programming_model_v2", "check_extension_bundle"} & passed, sorted(passed)
