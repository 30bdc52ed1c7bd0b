// The container registry azd pushes the IMAP gateway's image to (azure.yaml service `imap`; azd finds
// it through the AZURE_CONTAINER_REGISTRY_ENDPOINT output), once for the deployment. No admin user and
// no anonymous pull: azd pushes with the operator's Entra ID login, each stamp's gateway pulls with
// its own identity (AcrPull, imap.bicep).

param name string
param location string
param tags object

@description('Resource id of the global Log Analytics workspace (login and repository events).')
param logAnalyticsWorkspaceId string

resource registry 'Microsoft.ContainerRegistry/registries@2023-07-01' = {
  // checkov:skip=CKV_AZURE_139: azd pushes from the operator's machine and Container Apps pulls over the public endpoint (Basic has no private endpoints); access is Entra ID only (admin user off, no anonymous pull)
  // checkov:skip=CKV_AZURE_163: image vulnerability scanning is Defender for Containers, a subscription plan, not a registry property
  // checkov:skip=CKV_AZURE_166: quarantine is a Premium feature; images come only from azd deploy of this repository
  // checkov:skip=CKV_AZURE_233: zone redundancy is a Premium feature; running replicas do not need the registry
  name: name
  location: location
  tags: tags
  sku: {
    name: 'Basic'
  }
  properties: {
    adminUserEnabled: false
    anonymousPullEnabled: false
    publicNetworkAccess: 'Enabled'
    zoneRedundancy: 'Disabled'
  }
}

resource registryDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-log-analytics'
  scope: registry
  properties: {
    workspaceId: logAnalyticsWorkspaceId
    logs: [
      {
        categoryGroup: 'allLogs'
        enabled: true
      }
    ]
  }
}

output name string = registry.name
output loginServer string = registry.properties.loginServer
