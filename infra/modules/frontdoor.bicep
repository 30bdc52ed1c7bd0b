// Front Door Standard: one endpoint, one origin per region, health probe on the readiness route, and
// a WAF policy that sheds login floods at the edge before they reach any region.

param name string
param tags object

@description('Each stamp\'s function app host name.')
param appHostNames array

param logAnalyticsWorkspaceId string

// docs/api.md: logins beyond a sane rate per client answer 429 with Retry-After (the app's own limit), and a
// client under 30 a minute is never refused. The edge blocks only beyond that, so ordinary excess still
// gets the app's Retry-After (a WAF block cannot set headers) and floods never reach a region.
@description('Logins (POST .../sessions) one client IP may send per minute before Front Door blocks it (429).')
@minValue(30)
param loginsPerClientPerMinute int = 60

// The WAF policy's SKU must be the profile's. Standard runs custom rules, rate limits included;
// managed rule sets (DRS, bot manager) need Premium_AzureFrontDoor.
var skuName = 'Standard_AzureFrontDoor'

resource profile 'Microsoft.Cdn/profiles@2024-02-01' = {
  name: name
  location: 'global'
  tags: tags
  sku: {
    name: skuName
  }
  properties: {
    originResponseTimeoutSeconds: 60
  }
}

resource endpoint 'Microsoft.Cdn/profiles/afdEndpoints@2024-02-01' = {
  parent: profile
  name: name
  location: 'global'
  tags: tags
  properties: {
    enabledState: 'Enabled'
  }
}

// A region leaves the rotation when /api/health/ready stops answering 200 (including when drained).
resource originGroup 'Microsoft.Cdn/profiles/originGroups@2024-02-01' = {
  parent: profile
  name: 'stamps'
  properties: {
    loadBalancingSettings: {
      sampleSize: 4
      successfulSamplesRequired: 3
      additionalLatencyInMilliseconds: 50
    }
    healthProbeSettings: {
      probePath: '/api/health/ready'
      probeRequestType: 'GET'
      probeProtocol: 'Https'
      probeIntervalInSeconds: 30
    }
    sessionAffinityState: 'Disabled'
  }
}

resource origins 'Microsoft.Cdn/profiles/originGroups/origins@2024-02-01' = [for (hostName, i) in appHostNames: {
  parent: originGroup
  name: 'stamp-${i}'
  properties: {
    hostName: hostName
    originHostHeader: hostName
    httpPort: 80
    httpsPort: 443
    priority: 1
    weight: 1000
    enabledState: 'Enabled'
    enforceCertificateNameCheck: true
  }
}]

resource route 'Microsoft.Cdn/profiles/afdEndpoints/routes@2024-02-01' = {
  parent: endpoint
  name: 'api'
  properties: {
    originGroup: {
      id: originGroup.id
    }
    supportedProtocols: [
      'Https'
    ]
    patternsToMatch: [
      '/*'
    ]
    forwardingProtocol: 'HttpsOnly'
    linkToDefaultDomain: 'Enabled'
    httpsRedirect: 'Disabled'
    enabledState: 'Enabled'
  }
  dependsOn: [
    origins
  ]
}

// Rate limit: POSTs whose URI contains /sessions, counted per client socket IP over one minute.
// Blocked requests answer 429 Too Many Requests (the WAF's default for rate-limit blocks when no
// custom block response is set); blocks land in FrontDoorWebApplicationFirewallLog (allLogs below).
resource waf 'Microsoft.Network/FrontDoorWebApplicationFirewallPolicies@2024-02-01' = {
  name: '${replace(name, '-', '')}waf' // letters and digits only
  location: 'global'
  tags: tags
  sku: {
    name: skuName
  }
  properties: {
    policySettings: {
      enabledState: 'Enabled'
      mode: 'Prevention'
    }
    customRules: {
      rules: [
        {
          name: 'LoginRateLimit'
          priority: 100
          enabledState: 'Enabled'
          ruleType: 'RateLimitRule'
          rateLimitDurationInMinutes: 1
          rateLimitThreshold: loginsPerClientPerMinute
          groupBy: [
            {
              variableName: 'SocketAddr'
            }
          ]
          matchConditions: [
            {
              matchVariable: 'RequestMethod'
              operator: 'Equal'
              negateCondition: false
              matchValue: [
                'POST'
              ]
            }
            {
              matchVariable: 'RequestUri'
              operator: 'Contains'
              negateCondition: false
              matchValue: [
                '/sessions'
              ]
              transforms: [
                'UrlDecode'
                'Lowercase'
              ]
            }
          ]
          action: 'Block'
        }
      ]
    }
  }
}

resource securityPolicy 'Microsoft.Cdn/profiles/securityPolicies@2024-02-01' = {
  parent: profile
  name: 'waf'
  properties: {
    parameters: {
      type: 'WebApplicationFirewall'
      wafPolicy: {
        id: waf.id
      }
      associations: [
        {
          domains: [
            {
              id: endpoint.id
            }
          ]
          patternsToMatch: [
            '/*'
          ]
        }
      ]
    }
  }
}

resource diagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-log-analytics'
  scope: profile
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

output hostName string = endpoint.properties.hostName
output profileId string = profile.id
// Front Door sends it as X-Azure-FDID: the stamps allow only it (access.bicep) and the app trusts
// the forwarded client address only beside it (FRONT_DOOR_ID).
output frontDoorId string = profile.properties.frontDoorId
