// Private networking, one region's private endpoints (main.bicep privateNetworking), in that
// region's network resource group and VNet (network.bicep): one for each data service the stamp's
// apps reach, each registered in the region's private DNS zone for its kind. With them the services
// take no public traffic (publicNetworkAccess Disabled in global.bicep and stamp.bicep):
//   - Cosmos DB (Sql): the one account, every regional endpoint of it;
//   - the stamp's storage account: blob, queue and table (AzureWebJobsStorage, Durable Functions,
//     the audio, the journal, the deployment packages);
//   - every other stamp's storage account: blob (replication copies and reads fall back there);
//   - Key Vault (vault): the app settings' Key Vault references;
//   - the stamp's Speech account (account): transcripts.
// Application Insights ingestion and Azure Communication Services stay public (infra/README.md).

param region string
param tags object

@description('Names each endpoint: <namePrefix>-<target>.')
param namePrefix string

@description('The private-endpoints subnet of the region\'s VNet (network.bicep).')
param subnetId string

@description('network.bicep zoneIds: { documents, blob, queue, table, vault, cognitiveservices } -> private DNS zone id.')
param zoneIds object

@description('The resource group of the data services (the deployment\'s rg-<env>).')
param dataResourceGroup string

param cosmosAccountName string
param keyVaultName string
param storageAccountName string
param speechAccountName string

@description('The other stamps: [{ region, storageAccountName }]; their blob endpoints get one here too.')
param peers array

var storageType = 'Microsoft.Storage/storageAccounts'
var ownEndpoints = [
  {
    name: 'cosmos'
    target: resourceId(dataResourceGroup, 'Microsoft.DocumentDB/databaseAccounts', cosmosAccountName)
    groupId: 'Sql'
    zone: 'documents'
  }
  {
    name: 'vault'
    target: resourceId(dataResourceGroup, 'Microsoft.KeyVault/vaults', keyVaultName)
    groupId: 'vault'
    zone: 'vault'
  }
  {
    name: 'blob'
    target: resourceId(dataResourceGroup, storageType, storageAccountName)
    groupId: 'blob'
    zone: 'blob'
  }
  {
    name: 'queue'
    target: resourceId(dataResourceGroup, storageType, storageAccountName)
    groupId: 'queue'
    zone: 'queue'
  }
  {
    name: 'table'
    target: resourceId(dataResourceGroup, storageType, storageAccountName)
    groupId: 'table'
    zone: 'table'
  }
  {
    name: 'speech'
    target: resourceId(dataResourceGroup, 'Microsoft.CognitiveServices/accounts', speechAccountName)
    groupId: 'account'
    zone: 'cognitiveservices'
  }
]
var peerEndpoints = [for peer in peers: {
  name: 'blob-${peer.region}'
  target: resourceId(dataResourceGroup, storageType, peer.storageAccountName)
  groupId: 'blob'
  zone: 'blob'
}]
var endpoints = concat(ownEndpoints, peerEndpoints)

resource privateEndpoints 'Microsoft.Network/privateEndpoints@2023-11-01' = [for endpoint in endpoints: {
  name: '${namePrefix}-${endpoint.name}'
  location: region
  tags: tags
  properties: {
    subnet: {
      id: subnetId
    }
    privateLinkServiceConnections: [
      {
        name: endpoint.name
        properties: {
          privateLinkServiceId: endpoint.target
          groupIds: [
            endpoint.groupId
          ]
        }
      }
    ]
  }
}]

// The endpoint's A records in the region's zone (network.bicep), kept up to date by Azure.
resource zoneGroups 'Microsoft.Network/privateEndpoints/privateDnsZoneGroups@2023-11-01' = [for (endpoint, i) in endpoints: {
  parent: privateEndpoints[i]
  name: 'default'
  properties: {
    privateDnsZoneConfigs: [
      {
        name: endpoint.zone
        properties: {
          privateDnsZoneId: zoneIds[endpoint.zone]
        }
      }
    ]
  }
}]
