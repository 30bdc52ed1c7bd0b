"""Private networking (main.bicep privateNetworking, issue 26): off by default; when on, each stamp's
two apps send their outbound traffic through a VNet, every data service the apps use has a private
endpoint in each region with its DNS zone group, and takes no public traffic; the IMAP gateway
still reaches Key Vault; the release still drains."""

from __future__ import annotations

import ipaddress
import json
import re
from pathlib import Path

from tests.infra import bicep_text as bicep

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
MODULES = INFRA / "modules"
MAIN = INFRA / "main.bicep"
NETWORK = MODULES / "network.bicep"
ENDPOINTS = MODULES / "privateendpoints.bicep"

# Each data service the apps reach: its resource type, the private-link group, network.bicep's zone key
# and the zone's name.
DATA_SERVICES = {
    "Microsoft.DocumentDB/databaseAccounts": [("Sql", "documents", "privatelink.documents.azure.com")],
    "Microsoft.KeyVault/vaults": [("vault", "vault", "privatelink.vaultcore.azure.net")],
    "Microsoft.Storage/storageAccounts": [
        ("blob", "blob", "privatelink.blob.${environment().suffixes.storage}"),
        ("queue", "queue", "privatelink.queue.${environment().suffixes.storage}"),
        ("table", "table", "privatelink.table.${environment().suffixes.storage}"),
    ],
    "Microsoft.CognitiveServices/accounts": [
        ("account", "cognitiveservices", "privatelink.cognitiveservices.azure.com"),
    ],
}
# Where each data service is declared (not `existing`), and which resource declares it there.
DECLARED = {
    "Microsoft.DocumentDB/databaseAccounts": ("global.bicep", "cosmos"),
    "Microsoft.KeyVault/vaults": ("global.bicep", "vault"),
    "Microsoft.Storage/storageAccounts": ("stamp.bicep", "storage"),
    "Microsoft.CognitiveServices/accounts": ("stamp.bicep", "speech"),
}


def _endpoints() -> list[dict[str, str]]:
    """privateendpoints.bicep's own endpoints: [{name, type, groupId, zone}]."""
    block = bicep.balanced(bicep.text(ENDPOINTS), "var ownEndpoints = [")
    entries = re.findall(r"name: '([\w-]+)'\s+target: resourceId\(dataResourceGroup, ([^,]+), \w+\)\s+"
                         r"groupId: '(\w+)'\s+zone: '(\w+)'", block)
    types = dict(re.findall(r"^var (\w+) = '([\w./]+)'$", bicep.text(ENDPOINTS), re.MULTILINE))
    return [{"name": name, "type": types.get(kind, kind.strip("'")), "groupId": group, "zone": zone}
            for name, kind, group, zone in entries]


def test_off_by_default():
    main = bicep.text(MAIN)
    assert re.search(r"^param privateNetworking bool = false$", main, re.MULTILINE)
    parameters = json.loads(bicep.text(INFRA / "main.parameters.json"))["parameters"]
    assert parameters["privateNetworking"]["value"] == "${PRIVATE_NETWORKING=false}"
    # Nothing of it exists unless on: the resource groups, the networks, the endpoints.
    for name, kind in (("networkGroups", "resource"), ("networks", "module"), ("privateEndpoints", "module")):
        assert re.search(rf"^{kind} {name} '[^']+' = \[for [^\]]+ in stampNames: if \(privateNetworking\) \{{",
                         main, re.MULTILINE), name
    # And the apps get no subnet.
    assert "apiSubnetId: privateNetworking ? networks[i].outputs.apiSubnetId : ''" in main
    assert "managementSubnetId: privateNetworking ? networks[i].outputs.managementSubnetId : ''" in main
    assert "virtualNetworkSubnetId: empty(virtualNetworkSubnetId) ? null : virtualNetworkSubnetId" in \
        bicep.text(MODULES / "functionapp.bicep")


def test_every_data_service_has_a_private_endpoint_with_its_dns_zone():
    endpoints = _endpoints()
    expected = {(kind, group, zone) for kind, groups in DATA_SERVICES.items() for group, zone, _ in groups}
    assert {(e["type"], e["groupId"], e["zone"]) for e in endpoints} == expected
    # Peers' blob endpoints too: replication writes to and reads from the other regions' accounts.
    peers = bicep.balanced(bicep.text(ENDPOINTS), "var peerEndpoints = [")
    assert re.search(r"resourceId\(dataResourceGroup, storageType, peer\.storageAccountName\)\s+groupId: 'blob'\s+"
                     r"zone: 'blob'", peers)
    text = bicep.text(ENDPOINTS)
    assert "var endpoints = concat(ownEndpoints, peerEndpoints)" in text
    endpoint = bicep.balanced(text, "resource privateEndpoints 'Microsoft.Network/privateEndpoints@")
    assert "[for endpoint in endpoints:" in text and "privateLinkServiceId: endpoint.target" in endpoint
    assert re.search(r"groupIds: \[\s*endpoint\.groupId\s*\]", endpoint)
    assert re.search(r"subnet: \{\s*id: subnetId\s*\}", endpoint)
    groups = bicep.balanced(text, "resource zoneGroups 'Microsoft.Network/privateEndpoints/privateDnsZoneGroups@")
    assert "[for (endpoint, i) in endpoints:" in text and "parent: privateEndpoints[i]" in groups
    assert "privateDnsZoneId: zoneIds[endpoint.zone]" in groups
    # Each zone key names the right zone, every zone is created and linked to the region's VNet.
    network = bicep.text(NETWORK)
    zones = dict(re.findall(r"^  (\w+): '(privatelink\.[^']+)'$", bicep.balanced(network, "var zoneNames = {"),
                            re.MULTILINE))
    assert {zone: name for groups in DATA_SERVICES.values() for _, zone, name in groups} == zones
    zone_list = bicep.balanced(network, "var zoneList = [")
    assert len(re.findall(r"^  zoneNames\.\w+$", zone_list, re.MULTILINE)) == len(zones)
    assert "[for zone in zoneList:" in network
    links = bicep.balanced(network, "resource zoneLinks 'Microsoft.Network/privateDnsZones/virtualNetworkLinks@")
    assert "parent: zones[i]" in links and re.search(r"virtualNetwork: \{\s*id: vnet\.id\s*\}", links)
    assert re.search(r"registrationEnabled: false", links)
    for key in zones:
        assert re.search(rf"^  {key}: resourceId\('Microsoft.Network/privateDnsZones', zoneNames\.{key}\)$",
                         bicep.balanced(network, "output zoneIds object = {"), re.MULTILINE), key


def test_every_data_service_takes_no_public_traffic_when_on():
    for kind, (module, name) in DECLARED.items():
        text = bicep.text(MODULES / module)
        block = bicep.balanced(text, f"resource {name} '{kind}@")
        assert "publicNetworkAccess: privateNetworking ? 'Disabled' : 'Enabled'" in block, (module, name)
        acls = re.search(r"networkAcls: \{[^}]*\}", block)
        if acls:  # a firewall, where there is one, denies by default too
            assert "defaultAction: privateNetworking ? 'Deny' : 'Allow'" in acls.group(0), (module, name)
        assert re.search(r"^param privateNetworking bool$", text, re.MULTILINE), module
    main = bicep.text(MAIN)
    assert len(re.findall(r"^    privateNetworking: privateNetworking$", main, re.MULTILINE)) >= 2  # global, stamps


def test_no_data_service_of_the_deployment_is_left_out():
    """Every account of those kinds infra/ declares (not `existing`) is one DECLARED names, so one
    whose public access follows the switch and which has its endpoints."""
    declared = set()
    for path in MODULES.glob("*.bicep"):
        for line in bicep.text(path).splitlines():
            match = re.match(r"resource (\w+) '([\w./]+)@[^']+' = (.*)$", line)
            if match and match.group(2) in DATA_SERVICES and "existing" not in match.group(3):
                declared.add((match.group(2), path.name, match.group(1)))
    assert declared == {(kind, module, name) for kind, (module, name) in DECLARED.items()}


def test_the_apps_send_their_outbound_traffic_through_delegated_subnets():
    network = bicep.text(NETWORK)
    vnet = bicep.balanced(network, "resource vnet 'Microsoft.Network/virtualNetworks@")
    subnets = {name: bicep.balanced(vnet[vnet.index(f"name: '{name}'") - 20:], "{")
               for name in ("functions-api", "functions-management", "private-endpoints")}
    for name in ("functions-api", "functions-management"):
        assert "serviceName: 'Microsoft.App/environments'" in subnets[name], name  # Flex Consumption's delegation
    assert "delegations" not in subnets["private-endpoints"]
    assert "output apiSubnetId string = vnet.properties.subnets[0].id" in network
    assert "output managementSubnetId string = vnet.properties.subnets[1].id" in network
    assert "output privateEndpointSubnetId string = vnet.properties.subnets[2].id" in network
    stamp = bicep.text(MODULES / "stamp.bicep")
    assert "virtualNetworkSubnetId: apiSubnetId" in bicep.balanced(stamp, "module api 'functionapp.bicep'")
    management = bicep.balanced(stamp, "module management 'functionapp.bicep'")
    assert "virtualNetworkSubnetId: managementSubnetId" in management
    # Room for the API app's largest scale-out: Flex takes an address per instance.
    api = ipaddress.ip_network(re.search(r"param apiSubnetPrefix string = '([^']+)'", network).group(1))
    assert api.num_addresses - 5 >= 1000
    ranges = [ipaddress.ip_network(p) for p in re.findall(r"Prefix string = '([^']+)'", network)]
    space, parts = ranges[0], ranges[1:]
    assert all(part.subnet_of(space) for part in parts)
    assert not any(a.overlaps(b) for i, a in enumerate(parts) for b in parts[i + 1:])


def test_each_region_has_its_own_zones_so_each_resolves_to_its_own_endpoints():
    """The same Cosmos DB account, Key Vault and storage accounts have an endpoint in every region's
    VNet; one shared zone would hold one IP per name. So a resource group per region holds its zones."""
    main = bicep.text(MAIN)
    assert "networkGroupName: 'rg-${environmentName}-net-${region}'" in main
    for module in ("networks", "privateEndpoints"):
        block = bicep.balanced(main, f"module {module} '")
        assert "scope: resourceGroup(stamp.networkGroupName)" in block, module


def test_the_imap_gateway_still_reads_its_secrets_from_key_vault():
    imap = bicep.text(MODULES / "imap.bicep")
    peering = bicep.balanced(imap, "resource toStamp 'Microsoft.Network/virtualNetworks/virtualNetworkPeerings@")
    assert "if (!empty(stampVnetName))" in imap[imap.index("resource toStamp"):imap.index(peering)]
    assert "module stampSide 'imappeering.bicep' = if (!empty(stampVnetName))" in imap
    app = bicep.balanced(imap, "resource app 'Microsoft.App/containerApps@")
    assert re.search(r"dependsOn: \[[^\]]*toStamp\s+stampSide\s*\]", app), "the app reads Key Vault as it is created"
    side = bicep.text(MODULES / "imappeering.bicep")
    assert "name: 'privatelink.vaultcore.azure.net'" in side and "parent: vaultZone" in side
    # Peered address spaces must not overlap.
    gateway = ipaddress.ip_network(re.search(r"param vnetAddressPrefix string = '([^']+)'", imap).group(1))
    stamp = ipaddress.ip_network(re.search(r"param addressPrefix string = '([^']+)'", bicep.text(NETWORK)).group(1))
    assert not gateway.overlaps(stamp)
    main = bicep.text(MAIN)
    assert "stampVnetName: privateNetworking ? networks[i].outputs.vnetName : ''" in main


def test_the_release_still_drains_without_the_public_blob_endpoint():
    from ops.release import switch_commands

    assert re.search(r"^output PRIVATE_NETWORKING bool = privateNetworking$", bicep.text(MAIN), re.MULTILINE)
    drain, undrain = switch_commands({"PRIVATE_NETWORKING": "true"})
    assert "appsettings set" in drain and "DRAIN=true" in drain and "DRAIN=false" in undrain


def test_the_readme_says_what_it_adds_costs_and_leaves_public():
    text = bicep.text(INFRA / "README.md")
    section = text.split("## Private networking\n", 1)[1].split("\n## ", 1)[0]
    for word in ("privateNetworking", "PRIVATE_NETWORKING", "private endpoint", "Front Door", "Traffic Manager",
                 "Application Insights", "Communication Services", "cost", "IMAP"):
        assert word in section, word
