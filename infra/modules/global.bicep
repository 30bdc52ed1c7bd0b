// What the deployment has once: the Log Analytics workspace, the Cosmos DB account (a location per
// region, multi-region writes), the Key Vault holding the app's two secrets, and the global router
// (Front Door, or Traffic Manager) in front of every stamp.

@description('Every region of the deployment; the first is the Cosmos DB account\'s home region.')
param regions array

@description('Each stamp\'s function app host name, in the order of regions.')
param appHostNames array

param tags object
param logAnalyticsName string
param cosmosAccountName string
param cosmosDatabase string
param cosmosContainer string
@description('The change-feed trigger\'s lease container (the management apps\', one lease prefix per region).')
param cosmosLeaseContainer string
param cosmosMaxThroughput int
param keyVaultName string
param frontDoorName string
param trafficManagerName string

@allowed([
  'frontdoor'
  'trafficmanager'
])
param routing string

@description('Spread the Cosmos DB account over availability zones in each region.')
param zoneRedundant bool

@description('Private networking (main.bicep): Cosmos DB and Key Vault take no public traffic, only the regions\' private endpoints.')
param privateNetworking bool

@secure()
@description('Comma-separated SHA-256 (hex) digests of the accepted platform API keys.')
param platformKeyHashes string

@secure()
@description('Comma-separated SHA-256 (hex) digests of the operator keys; empty: none.')
param operatorKeyHashes string

@secure()
@description('Base64 of at least 32 random bytes: the key that signs mailbox tokens.')
param tokenSigningKey string

@secure()
@description('The signing key being rotated out; empty when none is (the secret then holds the current key).')
param tokenSigningKeyPrevious string

@secure()
@description('Base64 of at least 32 random bytes: the pepper of PIN hashes (never changed once set).')
param pinPepper string

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: logAnalyticsName
  location: regions[0]
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: 30
  }
}

resource cosmos 'Microsoft.DocumentDB/databaseAccounts@2024-11-15' = {
  // checkov:skip=CKV_AZURE_99: network access is the privateNetworking parameter (off by default: the stamps reach Cosmos DB publicly), which the check cannot read; access is Entra ID only (local auth off)
  // checkov:skip=CKV_AZURE_101: same reason as CKV_AZURE_99: public access off only with privateNetworking
  name: cosmosAccountName
  location: regions[0]
  tags: tags
  kind: 'GlobalDocumentDB'
  properties: {
    databaseAccountOfferType: 'Standard'
    consistencyPolicy: {
      defaultConsistencyLevel: 'Session'
    }
    locations: [for (region, i) in regions: {
      locationName: region
      failoverPriority: i
      isZoneRedundant: zoneRedundant
    }]
    enableMultipleWriteLocations: true
    enableAutomaticFailover: true
    disableLocalAuth: true
    disableKeyBasedMetadataWriteAccess: true
    minimalTlsVersion: 'Tls12'
    // With privateNetworking only each region's private endpoint reaches it (privateendpoints.bicep).
    publicNetworkAccess: privateNetworking ? 'Disabled' : 'Enabled'
    backupPolicy: {
      type: 'Continuous'
      continuousModeProperties: {
        // Point-in-time restore keeps deleted documents this long: shared/backups.json, which the app reads too.
        tier: loadJsonContent('../../shared/backups.json').cosmosContinuousTier
      }
    }
  }
}

resource database 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases@2024-11-15' = {
  parent: cosmos
  name: cosmosDatabase
  properties: {
    resource: {
      id: cosmosDatabase
    }
  }
}

// One container, partition key /mailboxId (docs/architecture.md). TTL is on without a default (-1):
// only documents carrying a `ttl` (the readiness probe's) expire.
resource container 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-11-15' = {
  parent: database
  name: cosmosContainer
  properties: {
    resource: {
      id: cosmosContainer
      partitionKey: {
        paths: [
          '/mailboxId'
        ]
        kind: 'Hash'
        version: 2
      }
      defaultTtl: -1
      // Every region writes (multi-region writes). Custom with no merge procedure: a conflict's losing
      // version goes to the conflicts feed, and the app merges it by the rules of
      // shared/domain/replicated.py (the resolve_conflicts timer). docs/consistency.md says why.
      conflictResolutionPolicy: {
        mode: 'Custom'
      }
      indexingPolicy: {
        indexingMode: 'consistent'
        automatic: true
        includedPaths: [
          {
            path: '/*'
          }
        ]
        excludedPaths: [
          {
            path: '/"_etag"/?'
          }
        ]
        // The replication sweep: type and status equal, replicaTotal a range; its takeover phase:
        // type and status equal, receivedAt a range and its ORDER BY.
        compositeIndexes: [
          [
            {
              path: '/type'
              order: 'ascending'
            }
            {
              path: '/status'
              order: 'ascending'
            }
            {
              path: '/replicaTotal'
              order: 'ascending'
            }
          ]
          [
            {
              path: '/type'
              order: 'ascending'
            }
            {
              path: '/status'
              order: 'ascending'
            }
            {
              path: '/receivedAt'
              order: 'ascending'
            }
          ]
          // The notification dispatcher: type and status equal, dueAt a range and its ORDER BY.
          [
            {
              path: '/type'
              order: 'ascending'
            }
            {
              path: '/status'
              order: 'ascending'
            }
            {
              path: '/dueAt'
              order: 'ascending'
            }
          ]
        ]
      }
    }
    options: {
      autoscaleSettings: {
        maxThroughput: cosmosMaxThroughput
      }
    }
  }
}

// The change-feed trigger's leases (the management apps, COSMOS_LEASE_CONTAINER): partition key /id,
// as the trigger requires; each region's app keeps its own leases under its region's prefix
// (COSMOS_LEASE_PREFIX), so every region reads the whole feed. Shared throughput would do, but the
// database has none: a small autoscale ceiling of its own.
resource leaseContainer 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-11-15' = {
  parent: database
  name: cosmosLeaseContainer
  properties: {
    resource: {
      id: cosmosLeaseContainer
      partitionKey: {
        paths: [
          '/id'
        ]
        kind: 'Hash'
        version: 2
      }
    }
    options: {
      autoscaleSettings: {
        maxThroughput: 1000
      }
    }
  }
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  // checkov:skip=CKV_AZURE_109: network access is the privateNetworking parameter (off by default: the apps resolve Key Vault references over the public endpoint), which the check cannot read; access is Entra ID RBAC only
  // checkov:skip=CKV_AZURE_189: same reason as CKV_AZURE_109: public access off only with privateNetworking
  name: keyVaultName
  location: regions[0]
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 7
    enablePurgeProtection: true
    // With privateNetworking only the private endpoints reach it (each region's, and through the
    // peering, its IMAP gateway's); secrets are still written through Azure Resource Manager.
    publicNetworkAccess: privateNetworking ? 'Disabled' : 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: privateNetworking ? 'Deny' : 'Allow'
    }
  }
}

resource platformKeyHashesSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  // checkov:skip=CKV_AZURE_41: an expiry would stop every region at once; rotation is by redeploying a new value (README)
  parent: vault
  name: 'platform-key-hashes'
  properties: {
    value: platformKeyHashes
    contentType: 'text/plain; comma-separated SHA-256 hex digests'
  }
}

resource operatorKeyHashesSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  // checkov:skip=CKV_AZURE_41: an expiry would stop every region at once; rotation is by redeploying a new value (README)
  parent: vault
  name: 'operator-key-hashes'
  properties: {
    // Empty: a digest no key has (a secret must have a value), so no operator key authenticates.
    value: empty(operatorKeyHashes) ? '0000000000000000000000000000000000000000000000000000000000000000' : operatorKeyHashes
    contentType: 'text/plain; comma-separated SHA-256 hex digests'
  }
}

resource tokenSigningKeySecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  // checkov:skip=CKV_AZURE_41: an expiry would stop every region at once; rotation is by redeploying a new value (README)
  parent: vault
  name: 'token-signing-key'
  properties: {
    value: tokenSigningKey
    contentType: 'application/octet-stream; base64'
  }
}

// Always there, so its Key Vault reference always resolves: outside a rotation it holds the current
// key again (the app accepts each key once), never an empty value (docs/operations.md).
resource tokenSigningKeyPreviousSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  // checkov:skip=CKV_AZURE_41: an expiry would stop every region at once; rotation is by redeploying a new value (README)
  parent: vault
  name: 'token-signing-key-previous'
  properties: {
    value: empty(tokenSigningKeyPrevious) ? tokenSigningKey : tokenSigningKeyPrevious
    contentType: 'application/octet-stream; base64'
  }
}

resource pinPepperSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  // checkov:skip=CKV_AZURE_41: an expiry would stop every region at once; the pepper is never rotated (docs/security.md)
  parent: vault
  name: 'pin-pepper'
  properties: {
    value: pinPepper
    contentType: 'application/octet-stream; base64'
  }
}

resource vaultDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-log-analytics'
  scope: vault
  properties: {
    workspaceId: workspace.id
    logs: [
      {
        categoryGroup: 'audit'
        enabled: true
      }
    ]
  }
}

module frontDoor 'frontdoor.bicep' = if (routing == 'frontdoor') {
  name: 'frontdoor'
  params: {
    name: frontDoorName
    tags: tags
    appHostNames: appHostNames
    logAnalyticsWorkspaceId: workspace.id
  }
}

module trafficManager 'trafficmanager.bicep' = if (routing == 'trafficmanager') {
  name: 'trafficmanager'
  params: {
    name: trafficManagerName
    tags: tags
    regions: regions
    appHostNames: appHostNames
  }
}

output logAnalyticsWorkspaceId string = workspace.id
output logAnalyticsCustomerId string = workspace.properties.customerId
output cosmosAccountName string = cosmos.name
output cosmosEndpoint string = cosmos.properties.documentEndpoint
output keyVaultName string = vault.name
output keyVaultUri string = vault.properties.vaultUri
output platformKeyHashesSecretUri string = platformKeyHashesSecret.properties.secretUri
output operatorKeyHashesSecretUri string = operatorKeyHashesSecret.properties.secretUri
output tokenSigningKeySecretUri string = tokenSigningKeySecret.properties.secretUri
output tokenSigningKeyPreviousSecretUri string = tokenSigningKeyPreviousSecret.properties.secretUri
output pinPepperSecretUri string = pinPepperSecret.properties.secretUri
// The secrets the function apps read (their Key Vault references): rbac.bicep grants read on these only.
output appSecretNames array = [
  platformKeyHashesSecret.name
  operatorKeyHashesSecret.name
  tokenSigningKeySecret.name
  tokenSigningKeyPreviousSecret.name
  pinPepperSecret.name
]
output globalEndpoint string = routing == 'frontdoor' ? 'https://${frontDoor.outputs.hostName}/api' : 'https://${trafficManager.outputs.fqdn}/api'
output frontDoorId string = routing == 'frontdoor' ? frontDoor.outputs.frontDoorId : ''
output frontDoorEndpoint string = routing == 'frontdoor' ? 'https://${frontDoor.outputs.hostName}/api' : ''
output trafficManagerEndpoint string = routing == 'trafficmanager' ? 'https://${trafficManager.outputs.fqdn}/api' : ''
