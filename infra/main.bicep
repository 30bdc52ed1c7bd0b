// The voicemail backend: a global module (Log Analytics, Cosmos DB, Key Vault, Front Door or
// Traffic Manager), one stamp per region (two function apps from one package, `api` and
// `management`; storage, Application Insights, Event Grid; with privateNetworking a VNet, private
// endpoints and private DNS: network.bicep, privateendpoints.bicep)
// and one module with every role assignment; with imapEnabled, the IMAP gateway too: a container
// registry, one gateway per stamp (imap.bicep) and a Traffic Manager profile for IMAPS (TCP 993).
// Outputs are named as the app's settings.
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('azd environment name: names the resource group and seeds every resource name.')
param environmentName string

@minLength(1)
@description('Primary region (azd prompts for it); the only region when `regions` is empty.')
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@description('Comma-separated regions, each a stamp (e.g. "westeurope,northeurope,swedencentral"). Empty: just `location`.')
param regions string = ''

@allowed([
  'frontdoor'
  'trafficmanager'
])
@description('The global router: Front Door Standard (HTTP) or Traffic Manager (DNS, performance routing).')
param routing string = 'frontdoor'

@minValue(1)
@maxValue(5)
@description('Regions each message\'s audio is copied to (REPLICA_COUNT).')
param replicaCount int = 2

@description('Spread Cosmos DB, and the IMAP gateways\' Container Apps environments, over availability zones (not every region has zones).')
param zoneRedundant bool = true

@minValue(1000)
@description('Autoscale ceiling (RU/s) of the mailboxes container, in every region (N+1: docs/capacity.md).')
param cosmosMaxThroughput int = 15000

// Sizing (docs/capacity.md, ops/capacity.py): every region can carry the whole expected peak
// divided by (regions - 1), so losing any one region leaves enough. main.parameters.json's defaults
// are the model's answer for its documented inputs; tests/infra/test_capacity.py checks they agree.
@minValue(0)
@description('Flex always-ready instances for the HTTP group, per region: warm capacity before any scale-out.')
param alwaysReadyHttpInstances int = 3

// Flex Consumption takes a maximumInstanceCount of 40 to 1000; lower values only in a few regions
// (learn.microsoft.com/azure/azure-functions/flex-consumption-plan, "Considerations": the lowest
// maximum is 40). So 40 is the default even where the N+1 model asks for fewer (16 for its documented
// inputs): every region of the README's examples accepts it, and a larger ceiling costs nothing
// unless used. ops/capacity.py applies the same floor (FLEX_MIN_MAXIMUM_INSTANCES). Below 40 only
// where the region accepts it.
@minValue(1)
@maxValue(1000)
@description('Flex maximum instances per region: the N+1 share of the expected peak (docs/capacity.md), at least 40 (the lowest value Flex Consumption accepts in every region).')
param maximumInstanceCount int = 40

@minValue(1)
@maxValue(1000)
@description('Concurrent HTTP requests per instance (Flex perInstanceConcurrency) and the Python worker\'s threads (PYTHON_THREADPOOL_THREAD_COUNT): one value, as measured (docs/capacity.md).')
param httpPerInstanceConcurrency int = 16

@description('Regions whose Flex plan is zone redundant (comma-separated); "*": every region. Not every region offers it: `az functionapp list-flexconsumption-locations --zone-redundant=true` (preprovision.sh fills FLEX_ZONE_REDUNDANT_REGIONS from it). Empty: none.')
param flexZoneRedundantRegions string = '*'

@description('Flex always-ready instances of each stamp\'s management app: [{ name, instanceCount }] (a group, \'durable\', or \'function:<name>\'). Empty: it scales to zero, its timers and change feed waking it (infra/README.md, "Two apps per stamp").')
param managementAlwaysReady array = []

@description('Private networking (infra/README.md, "Private networking"): per stamp a VNet both apps send their outbound traffic through, private endpoints and private DNS for Cosmos DB, the stamps\' storage, Key Vault and Speech, whose public access is then off. Front Door or Traffic Manager still reach the apps publicly.')
param privateNetworking bool = false

@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Create the Event Grid subscriptions to the blob triggers; the postdeploy hook turns it on once the code runs.')
param eventSubscriptionEnabled bool = false

@description('Object id of the person deploying (azd sets it): may set the drain switch in each region.')
param principalId string = ''

@secure()
@minLength(64)
@description('Comma-separated SHA-256 (hex) digests of the accepted platform API keys (PLATFORM_KEY_HASHES).')
param platformKeyHashes string

@secure()
@description('Comma-separated SHA-256 (hex) digests of the operator keys (OPERATOR_KEY_HASHES): tenants and their keys (docs/tenants.md). Empty: no operator key.')
param operatorKeyHashes string = ''

@secure()
@minLength(44)
@description('Base64 of 32+ random bytes (TOKEN_SIGNING_KEY); azd generates 44 alphanumerics, valid base64 of 33 bytes.')
@metadata({
  azd: {
    type: 'generate'
    config: {
      length: 44
      noSpecial: true
    }
  }
})
param tokenSigningKey string

@secure()
@minLength(44)
@description('Base64 of 32+ random bytes (PIN_PEPPER): the HMAC key PINs go through before scrypt. Never changed once set: hashes made with it verify with it only.')
@metadata({
  azd: {
    type: 'generate'
    config: {
      length: 44
      noSpecial: true
    }
  }
})
param pinPepper string

@secure()
@description('The signing key being rotated out (TOKEN_SIGNING_KEY_PREVIOUS): tokens it signed still verify. Empty: none (docs/operations.md, "Rotating the token signing key").')
param tokenSigningKeyPrevious string = ''

var regionList = empty(regions) ? [location] : split(replace(regions, ' ', ''), ',')
var token = uniqueString(subscription().id, environmentName)
var tags = {
  'azd-env-name': environmentName
  workload: 'voicemail'
}
var cosmosDatabase = 'voicemail'
var cosmosContainer = 'mailboxes'
// The change-feed trigger's leases (COSMOS_LEASE_CONTAINER), one prefix per region.
var cosmosLeaseContainer = 'leases'
var incomingContainer = 'incoming'
var audioContainer = 'audio'
var stampNames = [for region in regionList: {
  region: region
  functionAppName: 'func-${take(token, 8)}-${region}'
  hostName: 'func-${take(token, 8)}-${region}.azurewebsites.net'
  // The stamp's second app (APP_ROLE=management), from the same package.
  managementAppName: 'func-${take(token, 8)}-${region}-mgmt'
  managementHostName: 'func-${take(token, 8)}-${region}-mgmt.azurewebsites.net'
  // With privateNetworking: the region's VNet, private DNS zones and endpoints (network.bicep).
  networkGroupName: 'rg-${environmentName}-net-${region}'
  // 24 characters at most: 'st', 12 of a hash of the deployment and the region, 10 of the region.
  // The hash tells apart regions whose first 10 characters agree (eastus2, eastus2euap).
  storageAccountName: 'st${take(uniqueString(token, region), 12)}${toLower(take(replace(region, '-', ''), 10))}'
  appInsightsName: 'appi-${take(token, 8)}-${region}'
  imapAppName: take('imap-${take(token, 8)}-${region}', 32)
}]
// The Key Vault secrets (PEM) the operator puts the gateway's certificate and key in; the
// preprovision hook looks for the same two names.
var imapTlsCertName = 'imap-tls-cert'
var imapTlsKeyName = 'imap-tls-key'

@description('Where Azure Communication Services (notification e-mail and SMS) keeps its data.')
param communicationDataLocation string = 'United States'

@description('The E.164 number SMS notifications come from, once acquired for the ACS resource; empty: SMS targets are dead-lettered.')
param smsFromNumber string = ''

// Alerts (modules/alerts.bicep, docs/slo.md, docs/operations.md "Alerts and runbooks").
@description('E-mail address the alerts\' action group notifies (ALERT_EMAIL); empty: the group and every alert rule exist, with no receiver yet.')
param alertEmail string = ''

// A Chaos Studio experiment (modules/chaos.bicep, infra/README.md "Chaos experiment"): a stamp
// stopped, then a Cosmos DB failover. Off by default; deploying it runs nothing.
@description('Deploy the Chaos Studio experiment, its targets and its identity\'s roles (CHAOS_ENABLED).')
param chaosEnabled bool = false

@description('Region of the experiment resource, one Chaos Studio is offered in (CHAOS_LOCATION); empty: the first region.')
param chaosLocation string = ''

@description('The Cosmos DB read region the failover fault promotes, as Cosmos DB names it, e.g. "North Europe" (CHAOS_COSMOS_READ_REGION); empty: the second region, if any.')
param chaosCosmosReadRegion string = ''

// The IMAP gateway (gateways/imap, infra/README.md "IMAP gateway"): a container app per stamp that
// fronts that stamp's HTTP API, reached through a Traffic Manager profile of its own on TCP 993.
@description('Deploy the IMAP gateway: registry, one container app per stamp, Traffic Manager for IMAPS (TCP 993). azure.yaml deploys its image only when IMAP_TLS_READY is true.')
// Each stamp's IMAP gateway subnet (imap.bicep; the same range in every stamp, each its own VNet).
var imapSubnetPrefix = '10.80.0.0/23'

@description('CIDR ranges operators reach the management apps from (access.bicep); empty: any address (the admin routes still need the platform key).')
param operatorAddressPrefixes array = []

param imapEnabled bool = true

@description('Both TLS secrets (imapTlsCertName, imapTlsKeyName) are in the Key Vault; the preprovision hook checks. Until then no gateway is created: it cannot start without them.')
param imapTlsReady bool = false

@description('The gateway image azd last pushed (SERVICE_IMAP_IMAGE_NAME); empty before the first deploy (a placeholder image then).')
param imapImageName string = ''

@minValue(1)
@maxValue(300)
@description('Gateway replicas per stamp at most; one always runs.')
param imapMaxReplicas int = 3

resource group 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: 'rg-${environmentName}'
  location: location
  tags: tags
}

module global 'modules/global.bicep' = {
  name: 'global'
  scope: group
  params: {
    regions: regionList
    appHostNames: [for stamp in stampNames: stamp.hostName]
    tags: tags
    logAnalyticsName: 'log-${token}'
    cosmosAccountName: 'cosmos-${token}'
    cosmosDatabase: cosmosDatabase
    cosmosContainer: cosmosContainer
    cosmosLeaseContainer: cosmosLeaseContainer
    cosmosMaxThroughput: cosmosMaxThroughput
    privateNetworking: privateNetworking
    keyVaultName: 'kv-${token}'
    frontDoorName: 'afd-${token}'
    trafficManagerName: 'tm-${token}'
    routing: routing
    zoneRedundant: zoneRedundant
    platformKeyHashes: platformKeyHashes
    operatorKeyHashes: operatorKeyHashes
    tokenSigningKey: tokenSigningKey
    tokenSigningKeyPrevious: tokenSigningKeyPrevious
    pinPepper: pinPepper
  }
}

module communication 'modules/communication.bicep' = {
  name: 'communication'
  scope: group
  params: {
    communicationName: 'acs-${token}'
    emailServiceName: 'acse-${token}'
    dataLocation: communicationDataLocation
    tags: tags
  }
}

// Private networking (off by default): per region a resource group with the VNet and the private DNS
// zones (network.bicep), then, once the stamps exist, the private endpoints (privateendpoints.bicep).
resource networkGroups 'Microsoft.Resources/resourceGroups@2024-03-01' = [for stamp in stampNames: if (privateNetworking) {
  name: stamp.networkGroupName
  location: stamp.region
  tags: tags
}]

module networks 'modules/network.bicep' = [for (stamp, i) in stampNames: if (privateNetworking) {
  name: 'network-${stamp.region}'
  scope: resourceGroup(stamp.networkGroupName)
  params: {
    region: stamp.region
    tags: tags
    vnetName: 'vnet-${take(token, 8)}-${stamp.region}'
  }
  dependsOn: [
    networkGroups
  ]
}]

module stamps 'modules/stamp.bicep' = [for (stamp, i) in stampNames: {
  name: 'stamp-${stamp.region}'
  scope: group
  params: {
    region: stamp.region
    regions: regionList
    peers: concat(take(stampNames, i), skip(stampNames, i + 1))
    tags: tags
    isPrimary: i == 0
    functionAppName: stamp.functionAppName
    managementAppName: stamp.managementAppName
    storageAccountName: stamp.storageAccountName
    identityName: 'id-${take(token, 8)}-${stamp.region}'
    planName: 'plan-${take(token, 8)}-${stamp.region}'
    appInsightsName: stamp.appInsightsName
    systemTopicName: 'evgt-${take(token, 8)}-${stamp.region}'
    speechAccountName: 'spch-${take(token, 8)}-${stamp.region}'
    logAnalyticsWorkspaceId: global.outputs.logAnalyticsWorkspaceId
    cosmosEndpoint: global.outputs.cosmosEndpoint
    cosmosDatabase: cosmosDatabase
    cosmosContainer: cosmosContainer
    platformKeyHashesSecretUri: global.outputs.platformKeyHashesSecretUri
    operatorKeyHashesSecretUri: global.outputs.operatorKeyHashesSecretUri
    tokenSigningKeySecretUri: global.outputs.tokenSigningKeySecretUri
    tokenSigningKeyPreviousSecretUri: global.outputs.tokenSigningKeyPreviousSecretUri
    pinPepperSecretUri: global.outputs.pinPepperSecretUri
    replicaCount: min(replicaCount, length(regionList))
    incomingContainer: incomingContainer
    audioContainer: audioContainer
    journalContainer: 'journal'
    mwiQueue: 'mwi-events'
    replicationQueue: 'replication-requests'
    transcriptionQueue: 'transcription-requests'
    durableTaskHub: 'voicemail'
    retentionSchedule: '0 30 2 * * *'
    replicationSchedule: '0 */15 * * * *'
    // Azure has a change feed: the conflicts feed is read every minute, the dispatcher's timer is
    // only the safety sweep (the local emulator, without a change feed, polls both faster).
    conflictsSchedule: '0 */1 * * * *'
    notificationsSweepSchedule: '0 */1 * * * *'  // retries and transcript waits come due between changes
    leaseContainer: cosmosLeaseContainer
    managementAlwaysReady: managementAlwaysReady
    privateNetworking: privateNetworking
    apiSubnetId: privateNetworking ? networks[i].outputs.apiSubnetId : ''
    managementSubnetId: privateNetworking ? networks[i].outputs.managementSubnetId : ''
    alwaysReadyHttpInstances: alwaysReadyHttpInstances
    maximumInstanceCount: maximumInstanceCount
    httpPerInstanceConcurrency: httpPerInstanceConcurrency
    zoneRedundant: flexZoneRedundantRegions == '*' || contains(split(replace(flexZoneRedundantRegions, ' ', ''), ','), stamp.region)
    instanceMemoryMB: instanceMemoryMB
    eventSubscriptionEnabled: eventSubscriptionEnabled
    acsEndpoint: communication.outputs.endpoint
    acsEmailSender: communication.outputs.emailSender
    acsSmsFrom: smsFromNumber
    frontDoorId: global.outputs.frontDoorId
    // The gateway reaches its stamp's API from this subnet (a service endpoint): its calls name the
    // IMAP client in X-Forwarded-For, which the API takes only from this range (shared/domain/client.py).
    trustedProxyRanges: imapEnabled ? imapSubnetPrefix : ''
  }
}]

module rbac 'modules/rbac.bicep' = {
  name: 'rbac'
  scope: group
  params: {
    stamps: [for (stamp, i) in stampNames: {
      principalId: stamps[i].outputs.principalId
      storageAccountName: stamps[i].outputs.storageAccountName
      appInsightsName: stamps[i].outputs.appInsightsName
      speechAccountName: stamps[i].outputs.speechAccountName
    }]
    cosmosAccountName: global.outputs.cosmosAccountName
    cosmosDatabase: cosmosDatabase
    keyVaultName: global.outputs.keyVaultName
    keyVaultSecretNames: global.outputs.appSecretNames
    operatorPrincipalId: principalId
    communicationName: communication.outputs.communicationName
    // What a stamp reads and writes in the other stamps' accounts (shared/services/replication.py).
    peerContainers: [
      incomingContainer
      audioContainer
    ]
  }
}

module privateEndpoints 'modules/privateendpoints.bicep' = [for (stamp, i) in stampNames: if (privateNetworking) {
  name: 'private-endpoints-${stamp.region}'
  scope: resourceGroup(stamp.networkGroupName)
  params: {
    region: stamp.region
    tags: tags
    namePrefix: 'pe-${take(token, 8)}-${stamp.region}'
    subnetId: privateNetworking ? networks[i].outputs.privateEndpointSubnetId : ''
    zoneIds: privateNetworking ? networks[i].outputs.zoneIds : {}
    dataResourceGroup: group.name
    cosmosAccountName: global.outputs.cosmosAccountName
    keyVaultName: global.outputs.keyVaultName
    storageAccountName: stamps[i].outputs.storageAccountName
    speechAccountName: stamps[i].outputs.speechAccountName
    peers: concat(take(stampNames, i), skip(stampNames, i + 1))
  }
}]

// The IMAP gateway: the registry azd pushes its image to, one gateway per stamp (each fronting that
// stamp's own API) once its TLS certificate is in Key Vault, and its router.
module registry 'modules/registry.bicep' = if (imapEnabled) {
  name: 'registry'
  scope: group
  params: {
    name: 'cr${token}'
    location: regionList[0]
    tags: tags
    logAnalyticsWorkspaceId: global.outputs.logAnalyticsWorkspaceId
  }
}

module imap 'modules/imap.bicep' = [for (stamp, i) in stampNames: if (imapEnabled && imapTlsReady) {
  name: 'imap-${stamp.region}'
  scope: group
  params: {
    region: stamp.region
    tags: tags
    isPrimary: i == 0
    identityName: 'id-imap-${take(token, 8)}-${stamp.region}'
    vnetName: 'vnet-imap-${take(token, 8)}-${stamp.region}'
    environmentName: 'cae-imap-${take(token, 8)}-${stamp.region}'
    appName: stamp.imapAppName
    logAnalyticsWorkspaceId: global.outputs.logAnalyticsWorkspaceId
    registryName: registry.outputs.name
    keyVaultName: global.outputs.keyVaultName
    tlsCertSecretName: imapTlsCertName
    tlsKeySecretName: imapTlsKeyName
    apiEndpoint: stamps[i].outputs.apiEndpoint
    subnetAddressPrefix: imapSubnetPrefix
    image: imapImageName
    maxReplicas: imapMaxReplicas
    zoneRedundant: zoneRedundant
    // Key Vault takes no public traffic with privateNetworking: the gateway reads its TLS secrets
    // through the stamp's VNet (peered) and its private DNS zone.
    stampNetworkResourceGroup: privateNetworking ? stamp.networkGroupName : ''
    stampVnetName: privateNetworking ? networks[i].outputs.vnetName : ''
  }
  // The container app fetches its Key Vault secrets as it is created or updated: with
  // privateNetworking the vault's private endpoint and its A record (privateendpoints.bicep's zone
  // group) must exist first, else it resolves the vault to a public address that refuses it. Nothing
  // else orders the two modules (both wait only for the stamp and the network).
  dependsOn: [
    privateEndpoints
  ]
}]

// Who may reach each stamp's apps (access.bicep): behind Front Door, only this Front Door, Event
// Grid and the stamp's IMAP gateway; after the gateway, whose subnet the API admits.
module access 'modules/access.bicep' = [for (stamp, i) in stampNames: {
  name: 'access-${stamp.region}'
  scope: group
  params: {
    apiAppName: stamp.functionAppName
    managementAppName: stamp.managementAppName
    routing: routing
    frontDoorId: global.outputs.frontDoorId
    gatewaySubnetId: imapEnabled && imapTlsReady ? imap[i].outputs.subnetId : ''
    operatorAddressPrefixes: operatorAddressPrefixes
  }
  dependsOn: [
    stamps
  ]
}]

// Front Door carries HTTP only: IMAPS has a Traffic Manager profile of its own, whatever `routing` is.
module imapRouting 'modules/imaptrafficmanager.bicep' = if (imapEnabled) {
  name: 'imap-trafficmanager'
  scope: group
  params: {
    name: 'tm-imap-${token}'
    tags: tags
    regions: regionList
    hasEndpoints: imapTlsReady
    targets: [for (stamp, i) in stampNames: imapTlsReady ? imap[i].outputs.fqdn : '']
  }
}

// The SLOs' burn-rate alerts and the operational alerts, on the one workspace, to one action group.
module alerts 'modules/alerts.bicep' = {
  name: 'alerts'
  scope: group
  params: {
    namePrefix: take(token, 8)
    location: regionList[0]
    tags: tags
    workspaceId: global.outputs.logAnalyticsWorkspaceId
    alertEmail: alertEmail
    routing: routing
    frontDoorName: 'afd-${token}'
    trafficManagerName: 'tm-${token}'
  }
}

// The first region's stamp (both its apps) is the one stopped; Cosmos DB fails over to the next.
module chaos 'modules/chaos.bicep' = if (chaosEnabled) {
  name: 'chaos'
  scope: group
  params: {
    name: 'chaos-${take(token, 8)}-stamp-and-cosmos'
    location: empty(chaosLocation) ? regionList[0] : chaosLocation
    tags: tags
    cosmosAccountName: global.outputs.cosmosAccountName
    cosmosReadRegion: !empty(chaosCosmosReadRegion) ? chaosCosmosReadRegion : (length(regionList) > 1 ? regionList[1] : '')
    stopSiteNames: [
      stampNames[0].functionAppName
      stampNames[0].managementAppName
    ]
  }
  dependsOn: [
    stamps
  ]
}

// From names alone (a variable's loop cannot read module outputs); the stamps create exactly these.
var functionAppNames = [for stamp in stampNames: stamp.functionAppName]
var storageAccountNames = [for stamp in stampNames: stamp.storageAccountName]
var apiEndpoints = [for stamp in stampNames: 'https://${stamp.hostName}/api']
var managementAppNames = [for stamp in stampNames: stamp.managementAppName]
var managementEndpoints = [for stamp in stampNames: 'https://${stamp.managementHostName}/api']
var appInsightsIds = [for stamp in stampNames: resourceId(subscription().subscriptionId, group.name, 'Microsoft.Insights/components', stamp.appInsightsName)]
var imapAppNames = [for stamp in stampNames: stamp.imapAppName]

// Named as the app's settings (and what the client CLI and the postdeploy hook read).
output AZURE_LOCATION string = location
output AZURE_RESOURCE_GROUP string = group.name
output AZURE_TENANT_ID string = tenant().tenantId
output REGIONS string = join(regionList, ',')
output COSMOS_ENDPOINT string = global.outputs.cosmosEndpoint
output COSMOS_DATABASE string = cosmosDatabase
output COSMOS_CONTAINER string = cosmosContainer
output AZURE_FUNCTION_APP_NAME string = functionAppNames[0]
output AZURE_FUNCTION_APP_NAMES string = join(functionAppNames, ',')
// Each stamp's management app and its API base (admin routes, health), in the order of REGIONS: the
// release deploys each after the stamp's API app (ops/release.py).
output AZURE_MANAGEMENT_APP_NAMES string = join(managementAppNames, ',')
output MANAGEMENT_ENDPOINTS string = join(managementEndpoints, ',')
// The release drains with the DRAIN app setting when storage takes no public traffic (ops/release.py).
output PRIVATE_NETWORKING bool = privateNetworking
// Each stamp's storage account, in the order of REGIONS: where ops/release.py sets the drain switch.
output STORAGE_ACCOUNT_NAMES string = join(storageAccountNames, ',')
output API_ENDPOINTS string = join(apiEndpoints, ',')
// The client CLI reads VOICEMAIL_ENDPOINTS: every regional endpoint (the global one is API_ENDPOINT).
output VOICEMAIL_ENDPOINTS string = join(apiEndpoints, ',')
// With Traffic Manager the global name works only once a custom domain (CNAME to it) is bound on
// every function app, which this template does not do: no API_ENDPOINT then, use that domain.
output API_ENDPOINT string = routing == 'frontdoor' ? global.outputs.globalEndpoint : ''
output FRONT_DOOR_ENDPOINT string = global.outputs.frontDoorEndpoint
output TRAFFIC_MANAGER_ENDPOINT string = global.outputs.trafficManagerEndpoint
output KEY_VAULT_NAME string = global.outputs.keyVaultName
output EVENT_SUBSCRIPTION_ENABLED bool = eventSubscriptionEnabled
// The workspace GUID that `az monitor log-analytics query -w` takes (infra/monitoring/README.md).
output LOG_ANALYTICS_CUSTOMER_ID string = global.outputs.logAnalyticsCustomerId
// The IMAP gateway: the name IMAP clients use (CNAME your own domain to it; the certificate is for
// that domain), each stamp's container app (empty until the TLS certificate is in Key Vault), and the
// registry azd pushes the image to (azd reads AZURE_CONTAINER_REGISTRY_ENDPOINT).
output IMAP_HOSTNAME string = imapEnabled ? imapRouting.outputs.fqdn : ''
output IMAP_CONTAINER_APP_NAMES string = imapEnabled && imapTlsReady ? join(imapAppNames, ',') : ''
output AZURE_CONTAINER_REGISTRY_ENDPOINT string = imapEnabled ? registry.outputs.loginServer : ''
output monitoring object = {
  logAnalyticsWorkspaceId: global.outputs.logAnalyticsWorkspaceId
  logAnalyticsCustomerId: global.outputs.logAnalyticsCustomerId
  applicationInsightsIds: appInsightsIds
}
