// Private networking, one region's network (main.bicep privateNetworking; off by default): a VNet
// with a subnet per function app (delegated to Microsoft.App/environments, as Flex Consumption's
// virtual network integration requires) and one for private endpoints, and the private DNS zones
// those endpoints register in, linked to this VNet only. privateendpoints.bicep adds the endpoints.
//
// Deployed in a resource group of its own per region (rg-<env>-net-<region>): a private DNS zone's
// name is fixed (privatelink.blob.core.windows.net, ...) and one resource group holds one zone of a
// name, while every region's zones must answer with that region's own endpoint IPs: the same Cosmos
// DB account and Key Vault, and the same storage accounts (a region reaches its peers' blobs for
// replication), have an endpoint in each region's VNet, and the VNets are not peered.
//
// The address ranges are the same in every region (nothing is peered across regions); they must
// not overlap the IMAP gateway's VNet (imap.bicep, 10.80.0.0/22), which is peered with this one.

param region string
param tags object
param vnetName string

param addressPrefix string = '10.70.0.0/20'
@description('The API app\'s subnet: Flex takes an address per instance, so room for maximumInstanceCount (up to 1000).')
param apiSubnetPrefix string = '10.70.0.0/22'
param managementSubnetPrefix string = '10.70.4.0/24'
param privateEndpointSubnetPrefix string = '10.70.5.0/24'

// The zone of each private endpoint's group (privateendpoints.bicep names them by these keys).
var zoneNames = {
  documents: 'privatelink.documents.azure.com'
  blob: 'privatelink.blob.${environment().suffixes.storage}'
  queue: 'privatelink.queue.${environment().suffixes.storage}'
  table: 'privatelink.table.${environment().suffixes.storage}'
  vault: 'privatelink.vaultcore.azure.net'
  cognitiveservices: 'privatelink.cognitiveservices.azure.com'
}
var zoneList = [
  zoneNames.documents
  zoneNames.blob
  zoneNames.queue
  zoneNames.table
  zoneNames.vault
  zoneNames.cognitiveservices
]

resource vnet 'Microsoft.Network/virtualNetworks@2023-11-01' = {
  name: vnetName
  location: region
  tags: tags
  properties: {
    addressSpace: {
      addressPrefixes: [
        addressPrefix
      ]
    }
    subnets: [
      {
        name: 'functions-api'
        properties: {
          addressPrefix: apiSubnetPrefix
          delegations: [
            {
              name: 'flex-consumption'
              properties: {
                serviceName: 'Microsoft.App/environments'
              }
            }
          ]
        }
      }
      {
        name: 'functions-management'
        properties: {
          addressPrefix: managementSubnetPrefix
          delegations: [
            {
              name: 'flex-consumption'
              properties: {
                serviceName: 'Microsoft.App/environments'
              }
            }
          ]
        }
      }
      {
        name: 'private-endpoints'
        properties: {
          addressPrefix: privateEndpointSubnetPrefix
          privateEndpointNetworkPolicies: 'Disabled'
        }
      }
    ]
  }
}

resource zones 'Microsoft.Network/privateDnsZones@2020-06-01' = [for zone in zoneList: {
  name: zone
  location: 'global'
  tags: tags
}]

resource zoneLinks 'Microsoft.Network/privateDnsZones/virtualNetworkLinks@2020-06-01' = [for (zone, i) in zoneList: {
  parent: zones[i]
  name: vnetName
  location: 'global'
  tags: tags
  properties: {
    registrationEnabled: false
    virtualNetwork: {
      id: vnet.id
    }
  }
}]

output vnetId string = vnet.id
output vnetName string = vnet.name
output apiSubnetId string = vnet.properties.subnets[0].id
output managementSubnetId string = vnet.properties.subnets[1].id
output privateEndpointSubnetId string = vnet.properties.subnets[2].id
// { documents, blob, queue, table, vault, cognitiveservices }: each zone's resource id.
output zoneIds object = {
  documents: resourceId('Microsoft.Network/privateDnsZones', zoneNames.documents)
  blob: resourceId('Microsoft.Network/privateDnsZones', zoneNames.blob)
  queue: resourceId('Microsoft.Network/privateDnsZones', zoneNames.queue)
  table: resourceId('Microsoft.Network/privateDnsZones', zoneNames.table)
  vault: resourceId('Microsoft.Network/privateDnsZones', zoneNames.vault)
  cognitiveservices: resourceId('Microsoft.Network/privateDnsZones', zoneNames.cognitiveservices)
}
