// Who may reach a stamp's function apps (issue 23, docs/security.md "Client identity").
//
// The API app, behind Front Door: only Front Door's back end (service tag AzureFrontDoor.Backend)
// carrying this deployment's Front Door id (X-Azure-FDID: the tag alone is every Front Door's,
// anyone's), Event Grid (service tag AzureEventGrid: the blob trigger's webhook,
// /runtime/webhooks/blobs, behind its system key) and, with the IMAP gateway, the gateway's subnet
// (a service endpoint; it calls its own stamp's API, not Front Door). Everything else is 403 at the
// platform's front end, before the app: a stamp's own address no longer takes traffic that did
// not come through the router, so nobody can send the forwarded-for headers Front Door would.
//
// Behind Traffic Manager there is nothing to restrict: Traffic Manager is DNS, clients connect to
// the stamp themselves (its probes come from service tag AzureTrafficManager like everyone else),
// so the app trusts no forwarded-for header (FRONT_DOOR_ID is empty) and a client is the
// connection's peer. The per-client budgets hold on that peer address.
//
// The management app (operators, no router) takes what `operatorAddressPrefixes` allows, or
// everything when it is empty: its routes need the platform key either way. Deployment (the scm
// site) keeps its own rules: azd publishes with Entra ID, basic publishing credentials are off.
//
// A module apart from functionapp.bicep because the gateway's subnet is made after the stamp
// (imap.bicep takes the stamp's API address): this PUT of sites/config 'web' sets only these
// properties, after both.

@description('The stamp\'s API function app.')
param apiAppName string

@description('The stamp\'s management function app.')
param managementAppName string

@description('frontdoor or trafficmanager (main.bicep `routing`).')
param routing string

@description('This deployment\'s Front Door id (the profile\'s frontDoorId; empty behind Traffic Manager).')
param frontDoorId string

@description('The IMAP gateway\'s subnet resource id (a Microsoft.Web service endpoint on it); empty: no gateway.')
param gatewaySubnetId string = ''

@description('CIDR ranges the operators reach the management app from; empty: any address.')
param operatorAddressPrefixes array = []

var behindFrontDoor = routing == 'frontdoor'
var frontDoorRules = [
  {
    name: 'front-door'
    description: 'This deployment\'s Front Door only: its service tag and its id'
    action: 'Allow'
    priority: 100
    tag: 'ServiceTag'
    ipAddress: 'AzureFrontDoor.Backend'
    headers: {
      'x-azure-fdid': [
        frontDoorId
      ]
    }
  }
  {
    name: 'event-grid'
    description: 'Blob-created events for the incoming_audio trigger (its webhook needs the blobs system key)'
    action: 'Allow'
    priority: 110
    tag: 'ServiceTag'
    ipAddress: 'AzureEventGrid'
  }
]
var gatewayRules = empty(gatewaySubnetId) ? [] : [
  {
    name: 'imap-gateway'
    description: 'The stamp\'s IMAP gateway, which calls this stamp\'s API directly'
    action: 'Allow'
    priority: 120
    vnetSubnetResourceId: gatewaySubnetId
  }
]
var operatorRules = [for (prefix, i) in operatorAddressPrefixes: {
  name: 'operators-${i}'
  action: 'Allow'
  priority: 200 + i
  ipAddress: prefix
}]

resource api 'Microsoft.Web/sites@2024-04-01' existing = {
  name: apiAppName
}

resource management 'Microsoft.Web/sites@2024-04-01' existing = {
  name: managementAppName
}

resource apiAccess 'Microsoft.Web/sites/config@2024-04-01' = {
  // checkov:skip=CKV_AZURE_222: the public endpoint stays on: Front Door Standard reaches its origins over the internet, so the rules here (not private access) keep everyone else out
  // checkov:skip=CKV_AZURE_13: callers authenticate with API keys and session tokens (the app), not Entra ID (App Service Authentication)
  // checkov:skip=CKV_AZURE_63: only the access rules are set here; Flex Consumption has no file-system HTTP logs, requests go to Application Insights (functionapp.bicep)
  // checkov:skip=CKV_AZURE_65: only the access rules are set here; detailed error pages are App Service's file-system logs, which Flex Consumption does not keep
  // checkov:skip=CKV_AZURE_66: only the access rules are set here; failed-request tracing is App Service's file-system logs, which Flex Consumption does not keep
  // checkov:skip=CKV_AZURE_80: a Python app: no .NET Framework version
  // checkov:skip=CKV_AZURE_88: the app keeps no files: state is in Cosmos DB and blob storage
  parent: api
  name: 'web'
  properties: {
    ipSecurityRestrictionsDefaultAction: behindFrontDoor ? 'Deny' : 'Allow'
    ipSecurityRestrictions: behindFrontDoor ? concat(frontDoorRules, gatewayRules) : []
    scmIpSecurityRestrictionsUseMain: false
  }
}

resource managementAccess 'Microsoft.Web/sites/config@2024-04-01' = {
  // checkov:skip=CKV_AZURE_222: the public endpoint stays on: Front Door Standard reaches its origins over the internet, so the rules here (not private access) keep everyone else out
  // checkov:skip=CKV_AZURE_13: callers authenticate with API keys and session tokens (the app), not Entra ID (App Service Authentication)
  // checkov:skip=CKV_AZURE_63: only the access rules are set here; Flex Consumption has no file-system HTTP logs, requests go to Application Insights (functionapp.bicep)
  // checkov:skip=CKV_AZURE_65: only the access rules are set here; detailed error pages are App Service's file-system logs, which Flex Consumption does not keep
  // checkov:skip=CKV_AZURE_66: only the access rules are set here; failed-request tracing is App Service's file-system logs, which Flex Consumption does not keep
  // checkov:skip=CKV_AZURE_80: a Python app: no .NET Framework version
  // checkov:skip=CKV_AZURE_88: the app keeps no files: state is in Cosmos DB and blob storage
  parent: management
  name: 'web'
  properties: {
    ipSecurityRestrictionsDefaultAction: empty(operatorAddressPrefixes) ? 'Allow' : 'Deny'
    ipSecurityRestrictions: operatorRules
    scmIpSecurityRestrictionsUseMain: false
  }
}
