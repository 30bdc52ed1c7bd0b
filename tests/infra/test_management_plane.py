"""The management plane in Azure (issue 26): each stamp runs the one package as two Flex Consumption
apps from one module (infra/modules/functionapp.bicep), `api` and `management` by APP_ROLE; the
management app's change-feed trigger has its connection, lease container and per-region prefix;
the schedules are Azure's; Python 3.12; no setting Flex does not take; and the rolling release
deploys each stamp's management app after its API app."""

from __future__ import annotations

import inspect
import json
import re
from pathlib import Path

import yaml

from tests.infra import bicep_text as bicep
from tests.infra.test_infra import _stamp_settings

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
MAIN = INFRA / "main.bicep"
STAMP = INFRA / "modules" / "stamp.bicep"
FUNCTION_APP = INFRA / "modules" / "functionapp.bicep"
GLOBAL = INFRA / "modules" / "global.bicep"
RBAC = INFRA / "modules" / "rbac.bicep"


def _app_modules() -> dict[str, str]:
    """stamp.bicep's instances of functionapp.bicep, by their APP_ROLE."""
    text = bicep.text(STAMP)
    found = {}
    for match in re.finditer(r"^module (\w+) 'functionapp\.bicep' = \{", text, re.MULTILINE):
        block = bicep.balanced(text[match.start():], "{")
        role = re.search(r"^    role: '(\w+)'$", block, re.MULTILINE).group(1)
        found[role] = block
    return found


def _param(block: str, name: str) -> str:
    match = re.search(rf"^    {name}: (.+)$", block, re.MULTILINE)
    assert match, f"{name} is not passed"
    return match.group(1)


# --- two apps per stamp, one module ----------------------------------------------------------------

def test_each_stamp_runs_two_apps_from_the_one_module():
    apps = _app_modules()
    assert set(apps) == {"api", "management"}
    stamp = bicep.text(STAMP)
    assert "'Microsoft.Web/sites@" not in stamp and "'Microsoft.Web/serverfarms@" not in stamp, \
        "a site or plan outside functionapp.bicep"
    api, management = apps["api"], apps["management"]
    assert _param(api, "name") == "functionAppName" and _param(management, "name") == "managementAppName"
    # One plan each (Flex takes one app per plan); one package container each (one package per app).
    assert _param(api, "planName") == "planName" and _param(management, "planName") == "'${planName}-mgmt'"
    assert _param(api, "deploymentContainer") != _param(management, "deploymentContainer")
    containers = bicep.balanced(stamp, "var blobContainers = [")
    for app in (api, management):
        assert re.search(rf"^  {_param(app, 'deploymentContainer')}$", containers, re.MULTILINE)
    # The same identity, storage and settings (APP_ROLE apart); azd finds each by its own service tag.
    for name in ("identityId", "blobEndpoint", "appSettings", "region", "maximumInstanceCount", "instanceMemoryMB"):
        assert _param(api, name) == _param(management, name), name
    assert _param(api, "serviceName") == "isPrimary ? 'api' : ''"
    assert _param(management, "serviceName") == "isPrimary ? 'management' : ''"
    # The API app keeps its always-ready HTTP instances; the management app's are a parameter (none by default).
    assert "name: 'http'" in _param(api, "alwaysReady") + api and "alwaysReadyHttpInstances" in api
    assert _param(management, "alwaysReady") == "managementAlwaysReady"
    assert re.search(r"^param managementAlwaysReady array = \[\]$", bicep.text(MAIN), re.MULTILINE)


def test_app_role_is_the_only_setting_that_differs():
    text = bicep.text(FUNCTION_APP)
    assert re.search(r"@allowed\(\[\s*'api'\s*'management'\s*\]\)\s*@description\([^\n]*\)\s*param role string", text)
    assert "{ name: 'APP_ROLE', value: role }" in text
    site = bicep.balanced(text, "resource site 'Microsoft.Web/sites@")
    assert re.search(r"appSettings: concat\(appSettings, roleSettings\)\n", site)
    # One module, no other site: the settings can't drift between the two apps.
    assert len(re.findall(r"'Microsoft\.Web/sites@", text)) == 1


def test_only_the_api_app_is_behind_the_router_and_the_blob_trigger():
    stamp = bicep.text(STAMP)
    assert "output apiEndpoint string = 'https://${api.outputs.hostName}/api'" in stamp
    assert "endpointUrl: 'https://${api.outputs.hostName}/runtime/webhooks/blobs" in stamp
    main = bicep.text(MAIN)
    assert "appHostNames: [for stamp in stampNames: stamp.hostName]" in main  # Front Door / Traffic Manager
    names = re.search(r"^var stampNames = \[for region in regionList: \{(.*?)^\}\]", main, re.MULTILINE | re.DOTALL)
    assert "managementAppName: 'func-${take(token, 8)}-${region}-mgmt'" in names.group(1)
    assert re.search(r"^    managementAppName: stamp\.managementAppName$", main, re.MULTILINE)


def _host_ids(api_name: str) -> tuple[str, str]:
    """The API app's host id (the platform's: the first 32 characters of the name) and the
    management app's, as stamp.bicep sets it: take(toLower(functionAppName), 27) + '-mgmt'."""
    return api_name.lower()[:32], api_name.lower()[:27] + "-mgmt"


def test_the_two_apps_never_share_a_host_id_on_their_one_storage_account():
    stamp = bicep.text(STAMP)
    assert _param(_app_modules()["management"], "hostId") == "'${take(toLower(functionAppName), 27)}-mgmt'"
    assert re.search(r"@maxLength\(32\)\nparam hostId string = ''", bicep.text(FUNCTION_APP))
    assert "{ name: 'AzureFunctionsWebHost__hostid', value: hostId }" in bicep.text(FUNCTION_APP)
    assert "hostId" not in _app_modules()["api"]  # the API app keeps the id it has always had
    for region in ("westeurope", "australiasoutheast", "germanywestcentral", "southcentralus"):
        api, management = _host_ids(f"func-abcdefgh-{region}")
        assert api != management and len(management) <= 32 and re.fullmatch(r"[a-z0-9-]+[a-z0-9]", management)
    assert "functionAppName" in stamp


def test_python_is_3_12_everywhere_azure_runs_the_app():
    text = bicep.text(FUNCTION_APP)
    assert "var pythonVersion = '3.12'" in text
    assert re.search(r"runtime: \{\s*name: 'python'\s*version: pythonVersion\s*\}", text)
    for path in INFRA.rglob("*.bicep"):
        assert "3.11" not in bicep.text(path), path
    assert "function app (Python 3.12, HTTPS only" in bicep.text(INFRA / "README.md")


def test_no_setting_flex_consumption_does_not_take():
    """Flex has no FTP, needs no worker-indexing flag, and takes the runtime and scale from
    functionAppConfig, not from app settings or siteConfig."""
    stale = ("EnableWorkerIndexing", "AzureWebJobsFeatureFlags", "ftpsState", "FUNCTIONS_WORKER_RUNTIME",
             "FUNCTIONS_EXTENSION_VERSION", "WEBSITE_RUN_FROM_PACKAGE", "WEBSITE_CONTENTSHARE", "linuxFxVersion",
             "functionAppScaleLimit", "alwaysOn", "use32BitWorkerProcess")
    for path in INFRA.rglob("*.bicep"):
        found = [name for name in stale if name in bicep.text(path)]
        assert not found, f"{path.relative_to(ROOT)}: {found}"
    log_levels = json.loads(bicep.text(ROOT / "host.json"))["logging"]["logLevel"]
    assert "azure" not in log_levels, "not a category the Functions host logs under"
    assert "EnableWorkerIndexing" not in bicep.text(ROOT / "local.settings.example.json")


# --- the change feed, its leases and the schedules ---------------------------------------------------

def test_the_change_feed_trigger_connects_with_the_stamps_identity():
    settings = _stamp_settings()
    assert settings["COSMOS__accountEndpoint"] == "cosmosEndpoint"
    assert settings["COSMOS__credential"] == "'managedidentity'"
    assert settings["COSMOS__clientId"] == "identity.properties.clientId"
    assert {"COSMOS_DATABASE", "COSMOS_CONTAINER"} <= set(settings)
    assert not [name for name in settings if name.startswith("COSMOS__") and "key" in name.lower()]
    # Each region's management app keeps its own leases and reads its own region's copy of the feed.
    assert settings["COSMOS_LEASE_CONTAINER"] == "leaseContainer"
    assert settings["COSMOS_LEASE_PREFIX"] == "region"
    main = bicep.text(MAIN)
    assert re.search(r"^var cosmosLeaseContainer = 'leases'$", main, re.MULTILINE)
    assert re.search(r"^    leaseContainer: cosmosLeaseContainer$", main, re.MULTILINE)
    assert re.search(r"^    cosmosLeaseContainer: cosmosLeaseContainer$", main, re.MULTILINE)


def test_the_lease_container_exists_and_the_identities_may_write_it():
    text = bicep.text(GLOBAL)
    leases = bicep.balanced(text,
                            "resource leaseContainer 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@")
    assert "parent: database" in leases and "name: cosmosLeaseContainer" in leases
    assert re.search(r"partitionKey: \{\s*paths: \[\s*'/id'\s*\]", leases), "the trigger's leases need /id"
    # The stamps' Cosmos DB data-plane role is Built-in Data Contributor on the whole database, so on the
    # lease container too (the trigger reads, creates, replaces and deletes leases there).
    rbac = bicep.text(RBAC)
    assignment = bicep.balanced(rbac, "resource cosmosData 'Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments@")
    assert "var cosmosDataContributor = '00000000-0000-0000-0000-000000000002'" in rbac
    assert "scope: '${cosmos.id}/dbs/${cosmosDatabase}'" in assignment


def test_azure_runs_the_conflicts_read_and_the_dispatcher_sweep_every_minute_not_every_five_seconds():
    main = bicep.text(MAIN)
    assert re.search(r"^    conflictsSchedule: '0 \*/1 \* \* \* \*'$", main, re.MULTILINE)
    assert re.search(r"^    notificationsSweepSchedule: '0 \*/1 \* \* \* \*'  //", main, re.MULTILINE)
    settings = _stamp_settings()
    assert settings["CONFLICTS_SCHEDULE"] == "conflictsSchedule"
    assert settings["NOTIFICATIONS_SWEEP_SCHEDULE"] == "notificationsSweepSchedule"


# --- outputs, azd and the release ------------------------------------------------------------------

def test_outputs_name_each_stamps_management_app():
    outputs = dict(re.findall(r"^output (\w+) \w+ = (.+)$", bicep.text(MAIN), re.MULTILINE))
    assert outputs["AZURE_MANAGEMENT_APP_NAMES"] == "join(managementAppNames, ',')"
    assert outputs["MANAGEMENT_ENDPOINTS"] == "join(managementEndpoints, ',')"
    assert "output managementAppName string = management.outputs.name" in bicep.text(STAMP)
    assert "output managementEndpoint string = 'https://${management.outputs.hostName}/api'" in bicep.text(STAMP)


def test_azd_deploys_the_one_project_as_two_function_services():
    services = yaml.safe_load(bicep.text(ROOT / "azure.yaml"))["services"]
    assert services["api"] == services["management"] == {"project": ".", "language": "python", "host": "function"}


def test_the_release_deploys_each_stamps_management_app_after_its_api_app():
    from ops.release import Release, main

    roll = inspect.getsource(Release.roll)
    steps = [roll.index(f"self.{step}(stamp") for step in ("drain", "deploy", "undrain", "management")]
    assert steps == sorted(steps), "per stamp: drain, deploy the API app, undrain, then the management app"
    # After azd deployed the primary's two apps, the hook's undrain waits for its management app too.
    assert "release.management(stamp, deploy=False)" in inspect.getsource(main)
    for hook in ("postdeploy.sh", "postdeploy.ps1"):
        script = bicep.text(INFRA / "scripts" / hook)
        assert "ops/release.py undrain" in script and "ops/release.py roll --skip" in script, hook
