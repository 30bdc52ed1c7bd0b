// One region's stamp: its identity, storage account, two function apps (Flex Consumption,
// functionapp.bicep: `api` and `management`, one package), Application Insights and the Event Grid
// subscription that feeds the blob trigger. Every role assignment lives in rbac.bicep; no key or
// connection string with a key is read or written here.

@description('Azure region of this stamp (also the app setting REGION).')
param region string

@description('Every region of the deployment, this one included (the app setting REGIONS).')
param regions array

@description('The other stamps: [{ region, storageAccountName }], for PEER_STORAGE__<region>.')
param peers array

param tags object

@description('Carries the azd-service-name tag: azd deploys to exactly one site per service.')
param isPrimary bool

@description('The API app (APP_ROLE=api): the clients\' HTTP routes, behind the global router, the blob-triggered pipeline, transcription.')
param functionAppName string
@description('The management app (APP_ROLE=management): timers, Durable orchestrations, the admin routes, the Cosmos DB change feed.')
param managementAppName string
@minLength(3)
@maxLength(24)
param storageAccountName string
param identityName string
@description('The API app\'s Flex plan; the management app\'s is this name plus -mgmt (Flex takes one app per plan).')
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

@description('Key Vault secret URIs (no version: the app follows rotations) for the five secrets.')
param platformKeyHashesSecretUri string
param operatorKeyHashesSecretUri string
param tokenSigningKeySecretUri string
param tokenSigningKeyPreviousSecretUri string
param pinPepperSecretUri string

param replicaCount int
param incomingContainer string
param audioContainer string
@description('The outage journal: deposits the database did not take in time, until they are replayed.')
param journalContainer string

@description('How long audit records are kept unchangeable (the audit container\'s time-based retention, days); 7 years by default.')
@minValue(1)
param auditRetentionDays int = 2555
param mwiQueue string
param replicationQueue string
param transcriptionQueue string
param durableTaskHub string
param retentionSchedule string
param replicationSchedule string
@description('The conflicts feed\'s read (CONFLICTS_SCHEDULE) and the notification dispatcher\'s safety sweep (NOTIFICATIONS_SWEEP_SCHEDULE); the change feed does the real-time work.')
param conflictsSchedule string
param notificationsSweepSchedule string
@description('The Cosmos DB container of the change-feed trigger\'s leases (COSMOS_LEASE_CONTAINER), in cosmosDatabase.')
param leaseContainer string

@description('Instances kept warm for HTTP (Flex Consumption always-ready); 0 for none.')
param alwaysReadyHttpInstances int
param maximumInstanceCount int
param instanceMemoryMB int

@description('HTTP requests one instance takes at once (Flex perInstanceConcurrency), and the worker threads that serve them (PYTHON_THREADPOOL_THREAD_COUNT).')
param httpPerInstanceConcurrency int

@description('Always-ready instances of the management app ([{ name, instanceCount }], functionapp.bicep); empty: it scales to zero.')
param managementAlwaysReady array

@description('Spread the plan\'s instances over availability zones (only where the region offers it for Flex).')
param zoneRedundant bool

@description('Private networking (network.bicep): storage and Speech take no public traffic, and each app sends its outbound traffic through its subnet (delegated to Microsoft.App/environments). Empty subnets when off.')
param privateNetworking bool
param apiSubnetId string
param managementSubnetId string

@description('Create the Event Grid subscription: needs the app code deployed (see README).')
param eventSubscriptionEnabled bool

@description('Azure Communication Services (notifications): its endpoint, the e-mail sender, and the SMS number (empty: none yet).')
param acsEndpoint string
param acsEmailSender string
param acsSmsFrom string

@description('This deployment\'s Front Door id (FRONT_DOOR_ID: the app trusts X-Forwarded-For and X-Azure-ClientIP only beside it); empty behind Traffic Manager.')
param frontDoorId string

@description('TRUSTED_PROXY_RANGES: the IMAP gateway\'s subnet (CIDR), whose calls carry their IMAP client\'s address; empty: none.')
param trustedProxyRanges string = ''

// Each app's package (functionapp.bicep): Flex reads an app's package from its own container.
var deploymentContainer = 'app-package'
var managementDeploymentContainer = 'app-package-mgmt'
var opsContainer = 'ops'
// Events Event Grid could not deliver to the blob trigger (after retryPolicy), kept as blobs.
var deadLetterContainer = 'eventgrid-deadletter'
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
// Data requests' exports (shared/domain/blobpaths.py EXPORTS_CONTAINER): the app deletes a ZIP
// after KEPT (shared/domain/exports.py); the lifecycle rule 'delete-exports' is the backstop.
var exportsContainer = 'exports'
var blobContainers = [
  incomingContainer
  exportsContainer
  audioContainer
  journalContainer
  opsContainer
  deploymentContainer
  managementDeploymentContainer
  deadLetterContainer
  '${toLower(durableTaskHub)}-leases'
]

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: identityName
  location: region
  tags: tags
}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  // checkov:skip=CKV_AZURE_35: network access is the privateNetworking parameter (off by default: the apps reach it publicly), which the check cannot read; access is by Entra ID only (shared keys off)
  // checkov:skip=CKV_AZURE_59: same reason as CKV_AZURE_35: public endpoint off only with privateNetworking; anonymous and shared-key access always off
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
    // With privateNetworking only the private endpoints reach it (network.bicep, privateendpoints.bicep).
    publicNetworkAccess: privateNetworking ? 'Disabled' : 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: privateNetworking ? 'Deny' : 'Allow'
    }
  }
}

// How long deleted audio stays recoverable: one source, shared/backups.json, which the app reads too
// (an erasure's backupsExpireAt, docs/compliance.md).
var backups = loadJsonContent('../../shared/backups.json')

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
  properties: {
    isVersioningEnabled: true
    deleteRetentionPolicy: {
      enabled: true
      days: backups.blobSoftDeleteDays
    }
    containerDeleteRetentionPolicy: {
      enabled: true
      days: backups.containerSoftDeleteDays
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
                  daysAfterCreationGreaterThan: backups.blobVersionDeleteAfterDays
                }
              }
            }
          }
        }
        {
          // An export (a mailbox's audio and transcripts) never outlives a day; its versions go with
          // every blob's (delete-old-versions, shared/backups.json), which an erasure's backupsExpireAt counts.
          name: 'delete-exports'
          enabled: true
          type: 'Lifecycle'
          definition: {
            filters: {
              blobTypes: [
                'blockBlob'
              ]
              prefixMatch: [
                '${exportsContainer}/'
              ]
            }
            actions: {
              baseBlob: {
                delete: {
                  daysAfterModificationGreaterThan: 1
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

// The audit trail (shared/adapters/audit_blob.py): append blobs under a container-level time-based
// retention policy with protected append writes. Records can be appended, never changed or deleted
// for auditRetentionDays, by anyone (the erasure never looks here). Left unlocked so an operator can
// review it, then lock it (docs/compliance.md); once locked it can only be lengthened.
resource auditContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: 'audit'
  properties: {
    publicAccess: 'None'
  }
}

resource auditRetention 'Microsoft.Storage/storageAccounts/blobServices/containers/immutabilityPolicies@2023-05-01' = {
  parent: auditContainer
  name: 'default'
  properties: {
    immutabilityPeriodSinceCreationInDays: auditRetentionDays
    allowProtectedAppendWrites: true
  }
}

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
  // checkov:skip=CKV_AZURE_134: public access is the privateNetworking parameter (off by default: the app reaches it publicly, as storage), which the check cannot read; access is by Entra ID only (local auth off)
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
    publicNetworkAccess: privateNetworking ? 'Disabled' : 'Enabled'
    networkAcls: {
      defaultAction: privateNetworking ? 'Deny' : 'Allow'
    }
  }
}

// Identity-based connections only (docs/security.md): service URIs plus the identity's client id.
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
  { name: 'FRONT_DOOR_ID', value: frontDoorId }
  { name: 'TRUSTED_PROXY_RANGES', value: trustedProxyRanges }
  { name: 'REGIONS', value: join(regions, ',') }
  { name: 'COSMOS_ENDPOINT', value: cosmosEndpoint }
  { name: 'COSMOS_DATABASE', value: cosmosDatabase }
  { name: 'COSMOS_CONTAINER', value: cosmosContainer }
  { name: 'DURABLE_TASK_HUB', value: durableTaskHub }
  { name: 'PLATFORM_KEY_HASHES', value: '@Microsoft.KeyVault(SecretUri=${platformKeyHashesSecretUri})' }
  { name: 'OPERATOR_KEY_HASHES', value: '@Microsoft.KeyVault(SecretUri=${operatorKeyHashesSecretUri})' }
  { name: 'TOKEN_SIGNING_KEY', value: '@Microsoft.KeyVault(SecretUri=${tokenSigningKeySecretUri})' }
  { name: 'TOKEN_SIGNING_KEY_PREVIOUS', value: '@Microsoft.KeyVault(SecretUri=${tokenSigningKeyPreviousSecretUri})' }
  { name: 'PIN_PEPPER', value: '@Microsoft.KeyVault(SecretUri=${pinPepperSecretUri})' }
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
  // The management app's timers: the conflicts feed's read (a read feed: every minute) and the
  // notification dispatcher's safety sweep (the change feed below does the real-time work).
  { name: 'CONFLICTS_SCHEDULE', value: conflictsSchedule }
  { name: 'NOTIFICATIONS_SWEEP_SCHEDULE', value: notificationsSweepSchedule }
  // The Cosmos DB change-feed trigger's connection COSMOS (identity-based) and its leases: one lease
  // prefix per region, so each region's management app reads the whole feed from its own region's copy.
  { name: 'COSMOS__accountEndpoint', value: cosmosEndpoint }
  { name: 'COSMOS__credential', value: 'managedidentity' }
  { name: 'COSMOS__clientId', value: identity.properties.clientId }
  { name: 'COSMOS_LEASE_CONTAINER', value: leaseContainer }
  { name: 'COSMOS_LEASE_PREFIX', value: region }
  // Notifications: e-mail and SMS through Azure Communication Services, with this app's identity.
  { name: 'ACS_EMAIL_ENDPOINT', value: acsEndpoint }
  { name: 'ACS_EMAIL_SENDER', value: acsEmailSender }
  { name: 'ACS_SMS_ENDPOINT', value: acsEndpoint }
  { name: 'ACS_SMS_FROM', value: acsSmsFrom }
]
// Each other region's blob endpoint, reached with this app's identity (shared/config.py reads a URL).
var peerSettings = [for peer in peers: {
  name: 'PEER_STORAGE__${peer.region}'
  value: 'https://${peer.storageAccountName}.blob.${environment().suffixes.storage}/'
}]

// Both apps of the stamp: the same settings (APP_ROLE apart, functionapp.bicep), identity and storage
// account, a package container each. The management app's host id is set: on this shared storage
// account the platform's (the first 32 characters of the name) would equal the API app's for a long
// region name.
var appSettings = concat(baseSettings, peerSettings)

module api 'functionapp.bicep' = {
  name: 'functionapp-api-${region}'
  params: {
    role: 'api'
    name: functionAppName
    planName: planName
    region: region
    tags: tags
    serviceName: isPrimary ? 'api' : ''
    identityId: identity.id
    blobEndpoint: blobEndpoint
    deploymentContainer: deploymentContainer
    appSettings: appSettings
    // Warm HTTP capacity before any scale-out (docs/capacity.md).
    alwaysReady: alwaysReadyHttpInstances > 0 ? [
      {
        name: 'http'
        instanceCount: alwaysReadyHttpInstances
      }
    ] : []
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
    httpPerInstanceConcurrency: httpPerInstanceConcurrency
    zoneRedundant: zoneRedundant
    virtualNetworkSubnetId: apiSubnetId
  }
  dependsOn: [
    containers
  ]
}

module management 'functionapp.bicep' = {
  name: 'functionapp-management-${region}'
  params: {
    role: 'management'
    name: managementAppName
    planName: '${planName}-mgmt'
    region: region
    tags: tags
    serviceName: isPrimary ? 'management' : ''
    identityId: identity.id
    blobEndpoint: blobEndpoint
    deploymentContainer: managementDeploymentContainer
    appSettings: appSettings
    hostId: '${take(toLower(functionAppName), 27)}-mgmt'
    alwaysReady: managementAlwaysReady
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
    httpPerInstanceConcurrency: httpPerInstanceConcurrency
    zoneRedundant: zoneRedundant
    virtualNetworkSubnetId: managementSubnetId
  }
  dependsOn: [
    containers
  ]
}

// The topic acts as the stamp's identity (Blob Data Owner on this account, rbac.bicep) to write
// dead letters: shared keys are off here, so Event Grid can't write them any other way.
resource systemTopic 'Microsoft.EventGrid/systemTopics@2024-06-01-preview' = {
  name: systemTopicName
  location: region
  tags: tags
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identity.id}': {}
    }
  }
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
        endpointUrl: 'https://${api.outputs.hostName}/runtime/webhooks/blobs?functionName=Host.Functions.incoming_audio&code=${listKeys(resourceId('Microsoft.Web/sites/host', functionAppName, 'default'), '2024-04-01').systemKeys.blobs_extension}'
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
    // Up to 30 attempts over a day (Event Grid's exponential back-off), then
    // the event goes to the dead-letter container instead of being dropped. Its message stays
    // `processing` until another region's sweep takes it over (shared/services/takeover.py);
    // the dead letter says which blob and why.
    retryPolicy: {
      maxDeliveryAttempts: 30
      eventTimeToLiveInMinutes: 1440
    }
    deadLetterWithResourceIdentity: {
      identity: {
        type: 'UserAssigned'
        userAssignedIdentity: identity.id
      }
      deadLetterDestination: {
        endpointType: 'StorageBlob'
        properties: {
          resourceId: storage.id
          blobContainerName: deadLetterContainer
        }
      }
    }
  }
}

output region string = region
output functionAppName string = api.outputs.name
output hostName string = api.outputs.hostName
output apiEndpoint string = 'https://${api.outputs.hostName}/api'
output managementAppName string = management.outputs.name
output managementHostName string = management.outputs.hostName
output managementEndpoint string = 'https://${management.outputs.hostName}/api'
output principalId string = identity.properties.principalId
output clientId string = identity.properties.clientId
output storageAccountName string = storage.name
output appInsightsName string = appInsights.name
output appInsightsId string = appInsights.id
output speechAccountName string = speech.name
