"""The Chaos Studio experiment, read statically: off unless chaosEnabled; a stamp stopped (App
Service stop on both of its apps) and a Cosmos DB failover, each fault on a target and capability
created for it as extension resources, the experiment's selectors pointing at those targets; its
system-assigned identity holding exactly the built-in roles Chaos Studio documents for the two
target types, each on the one resource it acts on; and infra/README.md saying how to run it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.infra import bicep_text as bicep

ROOT = Path(__file__).resolve().parents[2]
CHAOS = ROOT / "infra" / "modules" / "chaos.bicep"
MAIN = ROOT / "infra" / "main.bicep"
PARAMETERS = ROOT / "infra" / "main.parameters.json"
INFRA_README = ROOT / "infra" / "README.md"

# learn.microsoft.com/azure/chaos-studio/chaos-studio-fault-providers (suggested role per target
# type) and the built-in roles' ids (learn.microsoft.com/azure/role-based-access-control/built-in-roles).
WEBSITE_CONTRIBUTOR = "de139f84-1756-47ae-9be6-808fbbe84772"
COSMOS_DB_OPERATOR = "230815da-be43-4aae-9cb4-875f7bd000aa"
FAULTS = {  # target type -> (capability, fault URN), as the fault library names them
    "Microsoft-AppService": ("Stop-1.0", "urn:csci:microsoft:appService:stop/1.0"),
    "Microsoft-CosmosDB": ("Failover-1.0", "urn:csci:microsoft:cosmosDB:failover/1.0"),
}


def _resources(kind: str) -> dict[str, str]:
    text = bicep.text(CHAOS)
    names = re.findall(rf"^resource (\w+) '{re.escape(kind)}@[\d-]+' =", text, re.MULTILINE)
    return {name: bicep.declaration(text, f"resource {name} ", stop_at_comments=True) for name in names}


def test_off_by_default_and_wired_from_main():
    main = bicep.text(MAIN)
    assert "param chaosEnabled bool = false" in main
    module = bicep.declaration(main, "module chaos 'modules/chaos.bicep' = if (chaosEnabled) {", stop_at_comments=True)
    assert "cosmosAccountName: global.outputs.cosmosAccountName" in module
    # The whole stamp: its API app and its management app.
    assert "stampNames[0].functionAppName" in module and "stampNames[0].managementAppName" in module
    assert "stamps" in module.split("dependsOn:", 1)[1], "the sites must exist before their targets"
    parameters = json.loads(bicep.text(PARAMETERS))["parameters"]
    assert parameters["chaosEnabled"]["value"] == "${CHAOS_ENABLED=false}"


def test_targets_and_capabilities_are_extension_resources_of_what_the_faults_act_on():
    targets = _resources("Microsoft.Chaos/targets")
    capabilities = _resources("Microsoft.Chaos/targets/capabilities")
    scopes = {}
    for name, block in targets.items():
        target_type = re.search(r"name: '([\w-]+)'", block).group(1)
        scopes[target_type] = (name, re.search(r"scope: (\w+)", block).group(1))
    assert set(scopes) == set(FAULTS)
    assert scopes["Microsoft-AppService"][1] == "sites" and scopes["Microsoft-CosmosDB"][1] == "cosmos"
    text = bicep.text(CHAOS)
    assert "resource sites 'Microsoft.Web/sites@" in text and "existing = [for siteName in stopSiteNames" in text
    assert "resource cosmos 'Microsoft.DocumentDB/databaseAccounts@" in text
    for target_type, (capability, _) in FAULTS.items():
        target = scopes[target_type][0]
        assert any(re.search(rf"parent: {target}\b", block) and f"name: '{capability}'" in block
                   for block in capabilities.values()), f"no {capability} capability on {target_type}"


def test_the_experiment_runs_both_faults_on_those_targets():
    experiment = _resources("Microsoft.Chaos/experiments")
    assert len(experiment) == 1
    block = next(iter(experiment.values()))
    assert "type: 'SystemAssigned'" in block
    text = bicep.text(CHAOS)
    for step, (_, urn) in zip(("var stopStep = {", "var failoverStep = {"), FAULTS.values(), strict=True):
        assert f"name: '{urn}'" in bicep.declaration(text, step, stop_at_comments=True), urn
        assert "type: 'continuous'" in bicep.declaration(text, step, stop_at_comments=True)
    assert "selectorId: 'stamp'" in bicep.declaration(text, "var stopStep = {", stop_at_comments=True)
    assert "selectorId: 'cosmos'" in bicep.declaration(text, "var failoverStep = {", stop_at_comments=True)
    assert "id: siteTargets[i].id" in bicep.declaration(text, "var stopSelector = {", stop_at_comments=True)
    assert "id: cosmosTarget.id" in bicep.declaration(text, "var cosmosSelector = {", stop_at_comments=True)
    assert "key: 'readRegion'" in bicep.declaration(text, "var failoverStep = {", stop_at_comments=True)
    # The failover step and its selector come together, and only with a region to fail over to.
    assert "selectors: failover ? [\n      stopSelector\n      cosmosSelector\n    ] : [\n      stopSelector" in block
    assert "steps: failover ? [\n      stopStep\n      failoverStep\n    ] : [\n      stopStep" in block
    assert "var failover = !empty(cosmosReadRegion)" in text
    assert "stopCapabilities" in block and "failoverCapability" in block  # created before it runs


def test_the_experiment_identity_has_the_documented_built_in_roles_on_its_targets_only():
    assignments = _resources("Microsoft.Authorization/roleAssignments")
    assert len(assignments) == 2
    text = bicep.text(CHAOS)
    assert f"websiteContributor: '{WEBSITE_CONTRIBUTOR}'" in text
    assert f"cosmosDbOperator: '{COSMOS_DB_OPERATOR}'" in text
    guids = set(re.findall(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", text))
    assert guids == {WEBSITE_CONTRIBUTOR, COSMOS_DB_OPERATOR}
    expected = {"sites[i]": "roles.websiteContributor", "cosmos": "roles.cosmosDbOperator"}
    for block in assignments.values():
        scope = re.search(r"scope: ([\w\[\]]+)", block).group(1)
        assert scope in expected, scope
        role = f"subscriptionResourceId('Microsoft.Authorization/roleDefinitions', {expected[scope]})"
        assert f"roleDefinitionId: {role}" in block
        assert "principalId: experiment.identity.principalId" in block
        assert "principalType: 'ServicePrincipal'" in block


def test_the_readme_says_how_to_run_it():
    readme = bicep.text(INFRA_README)
    section = readme.split("## Chaos experiment\n", 1)[1].split("\n## ", 1)[0]
    for needed in ("CHAOS_ENABLED", "/start?api-version=", "/cancel?api-version=", "Failover-1.0", "Stop-1.0",
                   "Website Contributor", "Cosmos DB Operator", "single write region"):
        assert needed in section, needed
