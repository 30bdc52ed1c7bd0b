"""Stamps take only their router's traffic (issue 23): behind Front Door the API app denies all but
this deployment's Front Door (service tag and X-Azure-FDID), Event Grid and the stamp's IMAP gateway;
the app trusts forwarded client addresses only beside that id (FRONT_DOOR_ID, set from the same
profile); behind Traffic Manager nothing is restricted and no forwarded header is trusted."""

from __future__ import annotations

import re
from pathlib import Path

from tests.infra import bicep_text as bicep

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
ACCESS = INFRA / "modules" / "access.bicep"


def _resource(name: str) -> str:
    return bicep.balanced(bicep.text(ACCESS), f"resource {name} ")


def test_behind_front_door_the_api_denies_everyone_but_this_front_door_event_grid_and_the_gateway():
    text = bicep.text(ACCESS)
    api = _resource("apiAccess")
    assert "ipSecurityRestrictionsDefaultAction: behindFrontDoor ? 'Deny' : 'Allow'" in api
    assert "ipSecurityRestrictions: behindFrontDoor ? concat(frontDoorRules, gatewayRules) : []" in api
    assert "var behindFrontDoor = routing == 'frontdoor'" in text
    rules = bicep.declaration(text, "var frontDoorRules")
    front_door = rules[rules.index("name: 'front-door'"):rules.index("name: 'event-grid'")]
    assert "tag: 'ServiceTag'" in front_door and "ipAddress: 'AzureFrontDoor.Backend'" in front_door
    # the tag alone is every Front Door's: the header pins it to this deployment's profile
    assert re.search(r"'x-azure-fdid': \[\s*frontDoorId\s*\]", front_door)
    event_grid = rules[rules.index("name: 'event-grid'"):]
    assert "ipAddress: 'AzureEventGrid'" in event_grid and "tag: 'ServiceTag'" in event_grid
    gateway = bicep.declaration(text, "var gatewayRules")
    assert "vnetSubnetResourceId: gatewaySubnetId" in gateway and "empty(gatewaySubnetId) ? []" in gateway


def test_the_front_door_id_is_the_profiles_and_reaches_both_the_rules_and_the_app():
    assert "output frontDoorId string = profile.properties.frontDoorId" in bicep.text(
        INFRA / "modules" / "frontdoor.bicep")
    assert "output frontDoorId string = routing == 'frontdoor' ? frontDoor.outputs.frontDoorId : ''" in bicep.text(
        INFRA / "modules" / "global.bicep")
    main = bicep.text(INFRA / "main.bicep")
    stamps = bicep.declaration(main, "module stamps ")
    access = bicep.declaration(main, "module access ")
    assert "frontDoorId: global.outputs.frontDoorId" in stamps and "frontDoorId: global.outputs.frontDoorId" in access
    assert "gatewaySubnetId: imapEnabled && imapTlsReady ? imap[i].outputs.subnetId : ''" in access
    assert "routing: routing" in access
    assert "{ name: 'FRONT_DOOR_ID', value: frontDoorId }" in bicep.text(INFRA / "modules" / "stamp.bicep")


def test_the_gateway_subnet_has_the_service_endpoint_its_rule_needs():
    subnet = bicep.balanced(bicep.text(INFRA / "modules" / "imap.bicep"), "subnets: [")
    assert re.search(r"serviceEndpoints: \[\s*\{\s*service: 'Microsoft.Web'", subnet)
    assert "output subnetId string = vnet.properties.subnets[0].id" in bicep.text(INFRA / "modules" / "imap.bicep")


def test_the_management_app_takes_only_the_operators_ranges_when_given():
    management = _resource("managementAccess")
    assert "ipSecurityRestrictionsDefaultAction: empty(operatorAddressPrefixes) ? 'Allow' : 'Deny'" in management
    assert "ipSecurityRestrictions: operatorRules" in management
    assert "param operatorAddressPrefixes array = []" in bicep.text(INFRA / "main.bicep")


def test_the_audit_trail_is_immutable_append_only_storage_named_as_the_adapter_writes_it():
    from shared.adapters.audit_blob import AUDIT_CONTAINER

    stamp = bicep.text(INFRA / "modules" / "stamp.bicep")
    container = bicep.balanced(stamp, "resource auditContainer ")
    assert f"name: '{AUDIT_CONTAINER}'" in container
    policy = bicep.balanced(stamp, "resource auditRetention ")
    assert "parent: auditContainer" in policy and "name: 'default'" in policy
    assert "immutabilityPeriodSinceCreationInDays: auditRetentionDays" in policy
    assert "allowProtectedAppendWrites: true" in policy  # records appended, never rewritten
    assert re.search(r"@minValue\(1\)\s*param auditRetentionDays int = \d{3,}", stamp)


def test_the_api_trusts_forwarded_addresses_from_the_gateway_subnet_only():
    main = bicep.text(INFRA / "main.bicep")
    assert "var imapSubnetPrefix = '10.80.0.0/23'" in main
    assert "trustedProxyRanges: imapEnabled ? imapSubnetPrefix : ''" in bicep.declaration(main, "module stamps ")
    assert "subnetAddressPrefix: imapSubnetPrefix" in bicep.declaration(main, "module imap ")
    assert "{ name: 'TRUSTED_PROXY_RANGES', value: trustedProxyRanges }" in bicep.text(
        INFRA / "modules" / "stamp.bicep")
