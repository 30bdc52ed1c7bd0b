// One function app of a stamp and its Flex Consumption plan (Flex takes one app per plan). Every
// stamp has two, from the same deployment package (stamp.bicep): `api`, the HTTP routes clients use
// (behind Front Door or Traffic Manager), the blob-triggered audio pipeline and the transcription
// queue; and `management`, the timers (sweeps, conflicts, the notification dispatcher's safety sweep,
// journal replay), the Durable orchestrations, the admin routes and the Cosmos DB change-feed
// trigger. APP_ROLE tells the one package which functions to register (function_app.py).
//
// Both run as the stamp's user-assigned identity, on the stamp's storage account (AzureWebJobsStorage)
// and with the same settings but APP_ROLE; each has its own package container, since azd and the
// release deploy one package per app and Flex reads the app's package from that container.

@allowed([
  'api'
  'management'
])
@description('APP_ROLE: the functions this app registers.')
param role string

param name string
param planName string
param region string
param tags object

@description('The azd-service-name tag (azd deploys each service to the one site carrying its name: the primary stamp\'s); empty for none.')
param serviceName string

@description('Resource id of the stamp\'s user-assigned identity: the app\'s identity, its Key Vault references\' and its package\'s.')
param identityId string

@description('The stamp storage account\'s blob endpoint (https://<account>.blob.<suffix>/).')
param blobEndpoint string

@description('The blob container Flex reads this app\'s package from (one per app).')
param deploymentContainer string

@description('The app settings both apps of the stamp share ([{ name, value }]); APP_ROLE is added here.')
param appSettings array

@description('AzureFunctionsWebHost__hostid: set where two apps on one storage account would compute the same host id (the first 32 characters of the name); empty: the platform\'s.')
@maxLength(32)
param hostId string = ''

@description('Flex always-ready instances: [{ name: \'http\' | \'durable\' | \'blob\' | \'function:<name>\', instanceCount }]; empty: scale to zero.')
param alwaysReady array

param maximumInstanceCount int
param instanceMemoryMB int

@description('HTTP requests one instance takes at once (Flex perInstanceConcurrency); PYTHON_THREADPOOL_THREAD_COUNT follows it (stamp.bicep).')
param httpPerInstanceConcurrency int

@description('Spread the plan\'s instances over availability zones (only where the region offers it for Flex).')
param zoneRedundant bool

@description('Private networking: the subnet (delegated to Microsoft.App/environments) the app\'s outbound traffic goes through; empty: none.')
param virtualNetworkSubnetId string = ''

// The Python the templates of Azure Functions use, and the local tools are tested with.
var pythonVersion = '3.12'
var roleSettings = concat([
  { name: 'APP_ROLE', value: role }
], empty(hostId) ? [] : [
  { name: 'AzureFunctionsWebHost__hostid', value: hostId }
])

resource plan 'Microsoft.Web/serverfarms@2024-11-01' = {
  // checkov:skip=CKV_AZURE_225: zone redundancy is a parameter (zoneRedundant below), on where the region offers it for Flex; the check reads only literals
  name: planName
  location: region
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
    // Flex keeps at least two always-ready instances per group across zones when this is on.
    zoneRedundant: zoneRedundant
  }
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  // checkov:skip=CKV_AZURE_222: a public API by design: Front Door Standard reaches its origins over the internet (access.bicep admits only this deployment's Front Door there) and behind Traffic Manager clients reach each region directly; the management app's admin routes authenticate their callers
  // checkov:skip=CKV_AZURE_17: callers authenticate with API keys and tokens, not client certificates
  // checkov:skip=CKV_AZURE_213: readiness (/api/health/ready) is probed by Front Door or Traffic Manager, which route around an unready region, and by the release
  // checkov:skip=CKV_AZURE_212: instance counts are the platform's on Flex Consumption; always-ready instances are set in functionAppConfig
  // checkov:skip=CKV_AZURE_16: the site has a managed identity (user-assigned); callers are not Entra ID users
  // checkov:skip=CKV_AZURE_71: the site has a user-assigned managed identity, which this check does not count
  // checkov:skip=CKV_AZURE_78: Flex Consumption has no FTP endpoint (packages reach it only through its blob container), so the FTPS state is left out
  name: name
  location: region
  tags: empty(serviceName) ? tags : union(tags, { 'azd-service-name': serviceName })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    clientCertEnabled: false
    keyVaultReferenceIdentity: identityId
    // Flex routes all outbound traffic through the subnet once integrated.
    virtualNetworkSubnetId: empty(virtualNetworkSubnetId) ? null : virtualNetworkSubnetId
    siteConfig: {
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      http20Enabled: true
      remoteDebuggingEnabled: false
      appSettings: concat(appSettings, roleSettings)
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${blobEndpoint}${deploymentContainer}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
        alwaysReady: alwaysReady
        triggers: {
          http: {
            perInstanceConcurrency: httpPerInstanceConcurrency
          }
        }
      }
      runtime: {
        name: 'python'
        version: pythonVersion
      }
    }
  }
}

output name string = site.name
output hostName string = site.properties.defaultHostName
