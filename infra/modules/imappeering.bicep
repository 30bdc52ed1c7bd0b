// Private networking with the IMAP gateway (imap.bicep): the stamp's side, in the stamp's network
// resource group (network.bicep). The stamp's VNet peers with the gateway's, and the gateway's VNet
// is linked to the stamp's Key Vault zone, so the Container Apps environment resolves the vault to
// the stamp's private endpoint and reaches it through the peering (Key Vault takes no public
// traffic then). Nothing else of the stamp's network is offered to the gateway.

@description('The stamp\'s VNet (network.bicep), in this resource group.')
param stampVnetName string

@description('The IMAP gateway\'s VNet (imap.bicep).')
param gatewayVnetId string

@description('A name for the peering and the zone link, unique in this resource group.')
param linkName string

resource stampVnet 'Microsoft.Network/virtualNetworks@2023-11-01' existing = {
  name: stampVnetName
}

resource vaultZone 'Microsoft.Network/privateDnsZones@2020-06-01' existing = {
  name: 'privatelink.vaultcore.azure.net'
}

resource toGateway 'Microsoft.Network/virtualNetworks/virtualNetworkPeerings@2023-11-01' = {
  parent: stampVnet
  name: linkName
  properties: {
    remoteVirtualNetwork: {
      id: gatewayVnetId
    }
    allowVirtualNetworkAccess: true
    allowForwardedTraffic: false
    allowGatewayTransit: false
    useRemoteGateways: false
  }
}

resource gatewayLink 'Microsoft.Network/privateDnsZones/virtualNetworkLinks@2020-06-01' = {
  parent: vaultZone
  name: linkName
  location: 'global'
  properties: {
    registrationEnabled: false
    virtualNetwork: {
      id: gatewayVnetId
    }
  }
}
