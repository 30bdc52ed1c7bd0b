// A Chaos Studio experiment (main.bicep's chaosEnabled, off by default): a region's stamp stopped,
// then a Cosmos DB failover to another region. Deploying it changes nothing; an operator starts it
// (infra/README.md, "Chaos experiment"). What it creates:
// - the targets and capabilities Chaos Studio needs on each resource a fault acts on (extension
//   resources): Microsoft-AppService with Stop-1.0 on each site of the stamp, Microsoft-CosmosDB
//   with Failover-1.0 on the Cosmos DB account;
// - the experiment, with a system-assigned identity and two steps, one after the other:
//   1. urn:csci:microsoft:appService:stop/1.0 on the stamp's sites for stopDuration (they are
//      started again at its end): the router must move the region's traffic away, the survivors
//      carry it (docs/capacity.md), the readiness alerts fire (docs/operations.md);
//   2. urn:csci:microsoft:cosmosDB:failover/1.0 to cosmosReadRegion for failoverDuration (Chaos
//      Studio fails back at its end); left out when there is no other region;
// - the experiment identity's roles, each on the one resource it acts on, as Chaos Studio documents
//   them per target type (learn.microsoft.com/azure/chaos-studio/chaos-studio-fault-providers):
//   Website Contributor on each stopped site, Cosmos DB Operator on the account (it holds
//   Microsoft.DocumentDB/databaseAccounts/failoverPriorityChange/action and no data access).

@description('Name of the experiment.')
param name string

@description('Where the experiment resource lives: a region Chaos Studio is offered in. The targets may be anywhere.')
param location string

param tags object

@description('The Cosmos DB account the failover fault acts on.')
param cosmosAccountName string

@description('The read region the failover promotes, as Cosmos DB names it (e.g. "North Europe"); empty: no failover step (one region).')
param cosmosReadRegion string

@description('The function apps (Microsoft.Web/sites) of the stamp the stop fault stops.')
param stopSiteNames array

@description('How long the stamp stays stopped (ISO 8601). Longer than the router-side readiness alert\'s 15-minute window, so the experiment shows that alert firing too.')
param stopDuration string = 'PT20M'

@description('How long the Cosmos DB failover lasts before Chaos Studio fails back (ISO 8601).')
param failoverDuration string = 'PT10M'

var roles = {
  websiteContributor: 'de139f84-1756-47ae-9be6-808fbbe84772'
  cosmosDbOperator: '230815da-be43-4aae-9cb4-875f7bd000aa'
}
var failover = !empty(cosmosReadRegion)

resource cosmos 'Microsoft.DocumentDB/databaseAccounts@2024-11-15' existing = {
  name: cosmosAccountName
}

resource sites 'Microsoft.Web/sites@2024-04-01' existing = [for siteName in stopSiteNames: {
  name: siteName
}]

resource siteTargets 'Microsoft.Chaos/targets@2025-01-01' = [for (siteName, i) in stopSiteNames: {
  name: 'Microsoft-AppService'
  scope: sites[i]
  properties: {}
}]

resource stopCapabilities 'Microsoft.Chaos/targets/capabilities@2025-01-01' = [for (siteName, i) in stopSiteNames: {
  parent: siteTargets[i]
  name: 'Stop-1.0'
}]

resource cosmosTarget 'Microsoft.Chaos/targets@2025-01-01' = {
  name: 'Microsoft-CosmosDB'
  scope: cosmos
  properties: {}
}

resource failoverCapability 'Microsoft.Chaos/targets/capabilities@2025-01-01' = {
  parent: cosmosTarget
  name: 'Failover-1.0'
}

var stopSelector = {
  type: 'List'
  id: 'stamp'
  targets: [for (siteName, i) in stopSiteNames: {
    type: 'ChaosTarget'
    id: siteTargets[i].id
  }]
}
var cosmosSelector = {
  type: 'List'
  id: 'cosmos'
  targets: [
    {
      type: 'ChaosTarget'
      id: cosmosTarget.id
    }
  ]
}
var stopStep = {
  name: 'Stop the stamp'
  branches: [
    {
      name: 'stop'
      actions: [
        {
          type: 'continuous'
          name: 'urn:csci:microsoft:appService:stop/1.0'
          duration: stopDuration
          parameters: []
          selectorId: 'stamp'
        }
      ]
    }
  ]
}
var failoverStep = {
  name: 'Fail Cosmos DB over'
  branches: [
    {
      name: 'failover'
      actions: [
        {
          type: 'continuous'
          name: 'urn:csci:microsoft:cosmosDB:failover/1.0'
          duration: failoverDuration
          parameters: [
            {
              key: 'readRegion'
              value: failover ? cosmosReadRegion : 'none'
            }
          ]
          selectorId: 'cosmos'
        }
      ]
    }
  ]
}

resource experiment 'Microsoft.Chaos/experiments@2025-01-01' = {
  name: name
  location: location
  tags: tags
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    selectors: failover ? [
      stopSelector
      cosmosSelector
    ] : [
      stopSelector
    ]
    steps: failover ? [
      stopStep
      failoverStep
    ] : [
      stopStep
    ]
  }
  dependsOn: [
    stopCapabilities
    failoverCapability
  ]
}

resource stopRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for (siteName, i) in stopSiteNames: {
  name: guid(sites[i].id, experiment.id, roles.websiteContributor)
  scope: sites[i]
  properties: {
    principalId: experiment.identity.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.websiteContributor)
  }
}]

resource failoverRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(cosmos.id, experiment.id, roles.cosmosDbOperator)
  scope: cosmos
  properties: {
    principalId: experiment.identity.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.cosmosDbOperator)
  }
}

output experimentName string = experiment.name
output experimentId string = experiment.id
output principalId string = experiment.identity.principalId
