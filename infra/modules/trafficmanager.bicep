// Traffic Manager (DNS) with performance routing: the alternative to Front Door (routing parameter).
// Clients resolve the profile's name to the nearest stamp whose /api/health/ready answers.

param name string
param tags object

@description('Every region, in the order of appHostNames.')
param regions array

@description('Each stamp\'s function app host name.')
param appHostNames array

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
    monitorConfig: {
      protocol: 'HTTPS'
      port: 443
      path: '/api/health/ready'
      intervalInSeconds: 30
      timeoutInSeconds: 10
      toleratedNumberOfFailures: 3
    }
    endpoints: [for (hostName, i) in appHostNames: {
      name: 'stamp-${i}'
      type: 'Microsoft.Network/trafficManagerProfiles/externalEndpoints'
      properties: {
        target: hostName
        endpointLocation: regions[i]
        endpointStatus: 'Enabled'
      }
    }]
  }
}

output fqdn string = profile.properties.dnsConfig.fqdn
