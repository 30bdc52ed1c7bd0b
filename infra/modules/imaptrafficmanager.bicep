// Traffic Manager (DNS) for the IMAP gateways: Front Door carries HTTP only, so IMAPS (TCP 993) has a
// profile of its own, whatever the `routing` of the HTTP API. Performance routing, as the HTTP
// alternative (trafficmanager.bicep): clients resolve the profile's name to the nearest stamp's
// gateway whose port 993 accepts a TCP connection.

param name string
param tags object

@description('Every region, in the order of targets.')
param regions array

@description('Each stamp\'s gateway host name (its container app\'s ingress FQDN), in the order of regions.')
param targets array

@description('The gateways exist (their TLS certificate is in Key Vault): one endpoint per stamp. Otherwise the profile has none yet.')
param hasEndpoints bool

var stampEndpoints = [for (target, i) in targets: {
  name: 'stamp-${i}'
  type: 'Microsoft.Network/trafficManagerProfiles/externalEndpoints'
  properties: {
    target: target
    endpointLocation: regions[i]
    endpointStatus: 'Enabled'
  }
}]

resource profile 'Microsoft.Network/trafficmanagerprofiles@2022-04-01' = {
  name: name
  location: 'global'
  tags: tags
  properties: {
    profileStatus: 'Enabled'
    trafficRoutingMethod: 'Performance'
    dnsConfig: {
      relativeName: name
      ttl: 30
    }
    // TCP: the gateway's own port; the IMAP handshake itself is TLS from the first byte (IMAPS).
    monitorConfig: {
      protocol: 'TCP'
      port: 993
      intervalInSeconds: 30
      timeoutInSeconds: 10
      toleratedNumberOfFailures: 3
    }
    endpoints: hasEndpoints ? stampEndpoints : []
  }
}

output fqdn string = profile.properties.dnsConfig.fqdn
