// One region's stamp: its identity, storage account, function app (Flex Consumption), Application
// Insights and the Event Grid subscription that feeds the blob trigger. Every role assignment lives
// in rbac.bicep; no key or connection string with a key is read or written here.

@description('Azure region of this stamp (also the app setting REGION).')
param region string

@description('Every region of the deployment, this one included (the app setting REGIONS).')
param regions array

@description('The other stamps: [{ region, storageAccountName }], for PEER_STORAGE__<region>.')
param peers array

param tags object

@description('Carries the azd-service-name tag: azd deploys to exactly one site per service.')
param isPrimary bool

param functionAppName string
@minLength(3)
@maxLength(24)
param storageAccountName string
param identityName string
param planName string
param appInsightsName string
param systemTopicName string
@description('The region\'s Azure AI Speech account (transcripts); also its custom subdomain, which Entra ID auth needs.')
param speechAccountName string

@description('Resource id of the global Log Analytics workspace.')
param logAnalyticsWorkspaceId string

param cosmosEndpoint string
param cosmosDatabase string
param cosmosContainer string

@description('Key Vault secret URIs (no version: the app follows rotations) for the two secrets.')
param platformKeyHashesSecretUri string
param tokenSigningKeySecretUri string

param replicaCount int
param incomingContainer string
param audioContainer string
@description('The outage journal: deposits the database did not take in time, until they are replayed.')
param journalContainer string
param mwiQueue string
param replicationQueue string
param transcriptionQueue string
param durableTaskHub string
param retentionSchedule string
param replicationSchedule string

@description('Instances kept warm for HTTP (Flex Consumption always-ready); 0 for none.')
param alwaysReadyHttpInstances int
param maximumInstanceCount int
param instanceMemoryMB int

@description('HTTP requests one instance takes at once (Flex perInstanceConcurrency), and the worker threads that serve them (PYTHON_THREADPOOL_THREAD_COUNT).')
param httpPerInstanceConcurrency int

@description('Spread the plan\'s instances over availability zones (only where the region offers it for Flex).')
param zoneRedundant bool

@description('Create the Event Grid subscription: needs the app code deployed (see README).')
param eventSubscriptionEnabled bool

@description('Azure Communication Services (notifications): its endpoint, the e-mail sender, and the SMS number (empty: none yet).')
param acsEndpoint string
param acsEmailSender string
param acsSmsFrom string

var deploymentContainer = 'app-package'
var opsContainer = 'ops'
var blobEndpoint = 'https://${storageAccountName}.blob.${environment().suffixes.storage}/'
var queueEndpoint = 'https://${storageAccountName}.queue.${environment().suffixes.storage}/'
var tableEndpoint = 'https://${storageAccountName}.table.${environment().suffixes.storage}/'
// The Durable Functions task hub's queues (4 control partitions, the default) and tables.
var durableQueues = [
  '${toLower(durableTaskHub)}-workitems'
  '${toLower(durableTaskHub)}-control-00'
  '${toLower(durableTaskHub)}-control-01'
  '${toLower(durableTaskHub)}-control-02'
  '${toLower(durableTaskHub)}-control-03'
]
var durableTables = [
  '${durableTaskHub}History'
  '${durableTaskHub}Instances'
]
var appQueues = [
  mwiQueue
  replicationQueue
  transcriptionQueue
]
var blobContainers = [
  incomingContainer
  audioContainer
  journalContainer
  opsContainer
  deploymentContainer
  '${toLower(durableTaskHub)}-leases'
]

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: identityName
  location: region
  tags: tags
}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  // checkov:skip=CKV_AZURE_35: the Flex Consumption app has no VNet here and Event Grid delivers from outside; access is by Entra ID only (shared keys off)
  // checkov:skip=CKV_AZURE_59: same reason as CKV_AZURE_35: public endpoint on, anonymous and shared-key access off
  // checkov:skip=CKV_AZURE_43: the name is a parameter, which the check cannot read; main.bicep builds it from 'st', 10 characters of uniqueString and 10 of the region (lowercase alphanumerics, 3 to 24), and the parameter's length limits hold it
  name: storageAccountName
  location: region
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_GZRS'
  }
  properties: {
    accessTier: 'Hot'
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
  properties: {
    isVersioningEnabled: true
    deleteRetentionPolicy: {
      enabled: true
      days: 7
    }
    containerDeleteRetentionPolicy: {
      enabled: true
      days: 7
    }
  }
}

// Versioning and soft delete give 7 days to recover from a mistaken deletion, no more: purged or
// expired voicemail must really go, so versions older than that are deleted.
resource lifecycle 'Microsoft.Storage/storageAccounts/managementPolicies@2023-05-01' = {
  parent: storage
  name: 'default'
  properties: {
    policy: {
      rules: [
        {
          name: 'delete-old-versions'
          enabled: true
          type: 'Lifecycle'
          definition: {
            filters: {
              blobTypes: [
                'blockBlob'
              ]
            }
            actions: {
              version: {
                delete: {
                  daysAfterCreationGreaterThan: 7
                }
              }
            }
          }
        }
      ]
    }
  }
}

resource containers 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = [for name in blobContainers: {
  parent: blobService
  name: name
  properties: {
    publicAccess: 'None'
  }
}]

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource queues 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = [for name in concat(appQueues, durableQueues): {
  parent: queueService
  name: name
}]

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource tables 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' = [for name in durableTables: {
  parent: tableService
  name: name
}]

// Storage reads, writes and deletes (blob and queue) to the global workspace.
resource blobDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-log-analytics'
  scope: blobService
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

resource queueDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-log-analytics'
  scope: queueService
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

resource appInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: appInsightsName
  location: region
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: logAnalyticsWorkspaceId
    DisableLocalAuth: true
  }
}

// Transcripts (issue 14): Azure AI Speech, fast transcription. Entra ID only (local auth off, so no
// key exists to leak); the custom subdomain is what token auth needs. The app's identity holds
// Cognitive Services Speech User on it (rbac.bicep).
resource speech 'Microsoft.CognitiveServices/accounts@2024-10-01' = {
  // checkov:skip=CKV_AZURE_134: the Flex Consumption app reaches it over its public endpoint (no VNet here, as for storage); access is by Entra ID only (local auth off)
  name: speechAccountName
  location: region
  tags: tags
  kind: 'SpeechServices'
  sku: {
    name: 'S0'
  }
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    customSubDomainName: speechAccountName
    disableLocalAuth: true
    publicNetworkAccess: 'Enabled'
  }
}

resource plan 'Microsoft.Web/serverfarms@2024-11-01' = {
  // checkov:skip=CKV_AZURE_225: zone redundancy is a parameter (zoneRedundant below), on where the region offers it for Flex; the check reads only literals
  name: planName
  location: region
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
    // Flex keeps at least two always-ready instances per group across zones when this is on.
    zoneRedundant: zoneRedundant
  }
}

// Identity-based connections only (STYLE.md point 5): service URIs plus the identity's client id.
var baseSettings = [
  { name: 'AzureWebJobsStorage__blobServiceUri', value: blobEndpoint }
  { name: 'AzureWebJobsStorage__queueServiceUri', value: queueEndpoint }
  { name: 'AzureWebJobsStorage__tableServiceUri', value: tableEndpoint }
  { name: 'AzureWebJobsStorage__credential', value: 'managedidentity' }
  { name: 'AzureWebJobsStorage__clientId', value: identity.properties.clientId }
  { name: 'AZURE_CLIENT_ID', value: identity.properties.clientId }
  { name: 'APPLICATIONINSIGHTS_CONNECTION_STRING', value: appInsights.properties.ConnectionString }
  { name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING', value: 'ClientId=${identity.properties.clientId};Authorization=AAD' }
  // The worker hands each invocation the host's trace context (host.json telemetryMode OpenTelemetry).
  { name: 'PYTHON_ENABLE_OPENTELEMETRY', value: 'true' }
  // As many worker threads as HTTP requests Flex sends one instance at once (perInstanceConcurrency).
  { name: 'PYTHON_THREADPOOL_THREAD_COUNT', value: string(httpPerInstanceConcurrency) }
  { name: 'REGION', value: region }
  { name: 'REGIONS', value: join(regions, ',') }
  { name: 'COSMOS_ENDPOINT', value: cosmosEndpoint }
  { name: 'COSMOS_DATABASE', value: cosmosDatabase }
  { name: 'COSMOS_CONTAINER', value: cosmosContainer }
  { name: 'DURABLE_TASK_HUB', value: durableTaskHub }
  { name: 'PLATFORM_KEY_HASHES', value: '@Microsoft.KeyVault(SecretUri=${platformKeyHashesSecretUri})' }
  { name: 'TOKEN_SIGNING_KEY', value: '@Microsoft.KeyVault(SecretUri=${tokenSigningKeySecretUri})' }
  { name: 'REPLICA_COUNT', value: string(replicaCount) }
  { name: 'INCOMING_CONTAINER', value: incomingContainer }
  { name: 'AUDIO_CONTAINER', value: audioContainer }
  { name: 'JOURNAL_CONTAINER', value: journalContainer }
  { name: 'MWI_QUEUE', value: mwiQueue }
  { name: 'REPLICATION_QUEUE', value: replicationQueue }
  { name: 'TRANSCRIPTION_QUEUE', value: transcriptionQueue }
  { name: 'TRANSCRIPTION_ENGINE', value: 'azure' }
  { name: 'SPEECH_ENDPOINT', value: speech.properties.endpoint }
  { name: 'RETENTION_SCHEDULE', value: retentionSchedule }
  { name: 'REPLICATION_SCHEDULE', value: replicationSchedule }
  // Notifications: e-mail and SMS through Azure Communication Services, with this app's identity.
  { name: 'ACS_EMAIL_ENDPOINT', value: acsEndpoint }
  { name: 'ACS_EMAIL_SENDER', value: acsEmailSender }
  { name: 'ACS_SMS_ENDPOINT', value: acsEndpoint }
  { name: 'ACS_SMS_FROM', value: acsSmsFrom }
]
// Each other region's blob endpoint, reached with this app's identity (config.py reads a URL).
var peerSettings = [for peer in peers: {
  name: 'PEER_STORAGE__${peer.region}'
  value: 'https://${peer.storageAccountName}.blob.${environment().suffixes.storage}/'
}]

resource site 'Microsoft.Web/sites@2024-04-01' = {
  // checkov:skip=CKV_AZURE_222: a public API by design: clients reach every region directly and through Front Door or Traffic Manager
  // checkov:skip=CKV_AZURE_17: callers authenticate with API keys and tokens, not client certificates
  // checkov:skip=CKV_AZURE_213: readiness (/api/health/ready) is probed by Front Door or Traffic Manager, which route around an unready region
  // checkov:skip=CKV_AZURE_212: instance counts are the platform's on Flex Consumption; always-ready HTTP instances are set in functionAppConfig
  // checkov:skip=CKV_AZURE_16: the site has a managed identity (user-assigned); callers are not Entra ID users
  // checkov:skip=CKV_AZURE_71: the site has a user-assigned managed identity, which this check does not count
  name: functionAppName
  location: region
  tags: isPrimary ? union(tags, { 'azd-service-name': 'api' }) : tags
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identity.id}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    clientCertEnabled: false
    keyVaultReferenceIdentity: identity.id
    siteConfig: {
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      remoteDebuggingEnabled: false
      appSettings: concat(baseSettings, peerSettings)
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${blobEndpoint}${deploymentContainer}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identity.id
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
        alwaysReady: alwaysReadyHttpInstances > 0 ? [
          {
            name: 'http'
            instanceCount: alwaysReadyHttpInstances
          }
        ] : []
        triggers: {
          http: {
            perInstanceConcurrency: httpPerInstanceConcurrency
          }
        }
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
  }
  dependsOn: [
    containers
  ]
}

resource systemTopic 'Microsoft.EventGrid/systemTopics@2024-06-01-preview' = {
  name: systemTopicName
  location: region
  tags: tags
  properties: {
    source: storage.id
    topicType: 'Microsoft.Storage.StorageAccounts'
  }
}

// The blob trigger (source EventGrid) listens on the blobs extension's webhook; its system key
// exists once the code is deployed and the host has started, hence the switch.
resource incomingSubscription 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2024-06-01-preview' = if (eventSubscriptionEnabled) {
  parent: systemTopic
  name: 'incoming-audio'
  properties: {
    destination: {
      endpointType: 'WebHook'
      properties: {
        endpointUrl: 'https://${site.properties.defaultHostName}/runtime/webhooks/blobs?functionName=Host.Functions.incoming_audio&code=${listKeys(resourceId('Microsoft.Web/sites/host', functionAppName, 'default'), '2024-04-01').systemKeys.blobs_extension}'
        maxEventsPerBatch: 1
        preferredBatchSizeInKilobytes: 64
      }
    }
    filter: {
      includedEventTypes: [
        'Microsoft.Storage.BlobCreated'
      ]
      subjectBeginsWith: '/blobServices/default/containers/${incomingContainer}/blobs/'
    }
    eventDeliverySchema: 'EventGridSchema'
    retryPolicy: {
      maxDeliveryAttempts: 30
      eventTimeToLiveInMinutes: 1440
    }
  }
}

output region string = region
output functionAppName string = site.name
output hostName string = site.properties.defaultHostName
output apiEndpoint string = 'https://${site.properties.defaultHostName}/api'
output principalId string = identity.properties.principalId
output clientId string = identity.properties.clientId
output storageAccountName string = storage.name
output appInsightsName string = appInsights.name
output appInsightsId string = appInsights.id
output speechAccountName string = speech.name
