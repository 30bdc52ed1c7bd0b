// Every role assignment of the deployment, all to identities, none to keys (docs/security.md: every
// connection in Azure uses the app's managed identity); the one exception is the IMAP gateway's
// identity (imap.bicep): its two assignments must precede its container app, which pulls the image
// and reads Key Vault as it is created. Every roleDefinitionId is a documented built-in role
// (tests/infra/test_azure_fixes.py checks each GUID) or the custom role defined here.
//
// Each stamp's identity, on its own storage account: Blob Data Owner, Queue Data Contributor,
// Table Data Contributor (the Functions host, Durable Functions, the app's blobs and queues).
// On every other region's account, only what a peer region uses there (shared/services/replication.py
// Regions: replication copies, reads fall back, retention deletes): Blob Data Contributor on the
// containers in peerContainers (incoming and audio), never the account, so not its deployment
// package, `ops` (the drain switch), the journal or the host's secrets and leases; and Storage Blob
// Delegator on the account, which holds only generateUserDelegationKey: Get User Delegation Key is a
// request to the blob service itself, so a container-scoped role cannot allow it, and the app's
// user-delegation SAS (shared/adapters/blob.py) reaches no further than the signer's own roles.
// On Cosmos DB: the built-in Data Contributor, scoped to the database. On the Key Vault's two app
// secrets (not the vault): Secrets User (the app settings' Key Vault references). On its
// Application Insights: Monitoring Metrics Publisher (local auth is off there too). On its Azure AI Speech account: Cognitive Services
// Speech User (transcription with a token; local auth is off there as well). On Azure
// Communication Services: the custom role communicationSenderRole below, on that one resource:
// the three actions Microsoft documents for sending e-mail with an Entra ID identity, no listKeys
// (ACS has no built-in role narrower than Communication and Email Service Owner, which lists keys).

@description('[{ principalId, storageAccountName, appInsightsName, speechAccountName }] of each stamp.')
param stamps array

param cosmosAccountName string
param cosmosDatabase string
param keyVaultName string
@description('The Key Vault secrets the apps\' Key Vault references name (global.bicep appSecretNames): Secrets User on these only.')
param keyVaultSecretNames array

@description('The Azure Communication Services resource the stamps send e-mail and SMS through.')
param communicationName string

@description('The blob containers a stamp uses in the other stamps\' accounts (message and greeting audio: originals and renditions).')
param peerContainers array

@description('An operator (azd sets AZURE_PRINCIPAL_ID): may create and delete the drain blob in each region\'s ops container. Empty for none.')
param operatorPrincipalId string

var roles = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  storageBlobDataContributor: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6'
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
  cognitiveServicesSpeechUser: 'f2dc8367-1007-4938-bd23-fe263f013447'
  storageBlobDelegator: 'db58b8e5-c6ad-4a2a-8342-4190687cbf4a'
}
var cosmosDataContributor = '00000000-0000-0000-0000-000000000002'
var stampCount = length(stamps)
var peerContainerCount = length(peerContainers)
var secretCount = length(keyVaultSecretNames)

resource storageAccounts 'Microsoft.Storage/storageAccounts@2023-05-01' existing = [for stamp in stamps: {
  name: stamp.storageAccountName
}]

resource opsContainers 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' existing = [for stamp in stamps: {
  name: '${stamp.storageAccountName}/default/ops'
}]

// Container j of peerContainers in stamp i's account: index i * peerContainerCount + j.
resource sharedContainers 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' existing = [for k in range(0, stampCount * peerContainerCount): {
  name: '${stamps[k / peerContainerCount].storageAccountName}/default/${peerContainers[k % peerContainerCount]}'
}]

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = [for stamp in stamps: {
  name: stamp.appInsightsName
}]

resource speechAccounts 'Microsoft.CognitiveServices/accounts@2024-10-01' existing = [for stamp in stamps: {
  name: stamp.speechAccountName
}]

resource cosmos 'Microsoft.DocumentDB/databaseAccounts@2024-11-15' existing = {
  name: cosmosAccountName
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

// Own storage account.
resource ownBlob 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for (stamp, i) in stamps: {
  name: guid(storageAccounts[i].id, stamp.principalId, roles.storageBlobDataOwner)
  scope: storageAccounts[i]
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataOwner)
    principalId: stamp.principalId
    principalType: 'ServicePrincipal'
  }
}]

resource ownQueue 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for (stamp, i) in stamps: {
  name: guid(storageAccounts[i].id, stamp.principalId, roles.storageQueueDataContributor)
  scope: storageAccounts[i]
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageQueueDataContributor)
    principalId: stamp.principalId
    principalType: 'ServicePrincipal'
  }
}]

resource ownTable 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for (stamp, i) in stamps: {
  name: guid(storageAccounts[i].id, stamp.principalId, roles.storageTableDataContributor)
  scope: storageAccounts[i]
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageTableDataContributor)
    principalId: stamp.principalId
    principalType: 'ServicePrincipal'
  }
}]

// Peers' storage: every (stamp, account) pair of the n x n grid but the diagonal, on each of the
// peerContainers only. Assignment k: stamp k / (n * c) on container k % c of account (k / c) % n.
resource peerBlob 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for k in range(0, stampCount * stampCount * peerContainerCount): if (k / (stampCount * peerContainerCount) != (k / peerContainerCount) % stampCount) {
  name: guid(sharedContainers[((k / peerContainerCount) % stampCount) * peerContainerCount + k % peerContainerCount].id, stamps[k / (stampCount * peerContainerCount)].principalId, roles.storageBlobDataContributor)
  scope: sharedContainers[((k / peerContainerCount) % stampCount) * peerContainerCount + k % peerContainerCount]
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataContributor)
    principalId: stamps[k / (stampCount * peerContainerCount)].principalId
    principalType: 'ServicePrincipal'
  }
}]

// Peers' accounts: the user delegation key only (pair k: stamp k / n on account k % n).
resource peerDelegator 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for k in range(0, stampCount * stampCount): if (k / stampCount != k % stampCount) {
  name: guid(storageAccounts[k % stampCount].id, stamps[k / stampCount].principalId, roles.storageBlobDelegator)
  scope: storageAccounts[k % stampCount]
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDelegator)
    principalId: stamps[k / stampCount].principalId
    principalType: 'ServicePrincipal'
  }
}]

resource metricsPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for (stamp, i) in stamps: {
  name: guid(appInsights[i].id, stamp.principalId, roles.monitoringMetricsPublisher)
  scope: appInsights[i]
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.monitoringMetricsPublisher)
    principalId: stamp.principalId
    principalType: 'ServicePrincipal'
  }
}]

// Own Speech account: transcripts (shared/adapters/transcribe_azure.py).
resource speechUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for (stamp, i) in stamps: {
  name: guid(speechAccounts[i].id, stamp.principalId, roles.cognitiveServicesSpeechUser)
  scope: speechAccounts[i]
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.cognitiveServicesSpeechUser)
    principalId: stamp.principalId
    principalType: 'ServicePrincipal'
  }
}]

// The secrets of the app settings' Key Vault references (four), not the vault: it also holds the IMAP
// gateway's TLS private key, which no function app reads. Pair k: stamp k / s on secret k % s.
resource appSecrets 'Microsoft.KeyVault/vaults/secrets@2023-07-01' existing = [for name in keyVaultSecretNames: {
  parent: vault
  name: name
}]

resource secretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for k in range(0, stampCount * secretCount): {
  name: guid(appSecrets[k % secretCount].id, stamps[k / secretCount].principalId, roles.keyVaultSecretsUser)
  scope: appSecrets[k % secretCount]
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsUser)
    principalId: stamps[k / secretCount].principalId
    principalType: 'ServicePrincipal'
  }
}]

// Cosmos DB data plane: its own role system (sqlRoleAssignments), not Azure RBAC.
resource cosmosData 'Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments@2024-11-15' = [for stamp in stamps: {
  parent: cosmos
  name: guid(cosmos.id, stamp.principalId, cosmosDataContributor)
  properties: {
    roleDefinitionId: '${cosmos.id}/sqlRoleDefinitions/${cosmosDataContributor}'
    principalId: stamp.principalId
    scope: '${cosmos.id}/dbs/${cosmosDatabase}'
  }
}]

resource operatorDrain 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for (stamp, i) in stamps: if (!empty(operatorPrincipalId)) {
  name: guid(opsContainers[i].id, operatorPrincipalId, roles.storageBlobDataContributor)
  scope: opsContainers[i]
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataContributor)
    principalId: operatorPrincipalId
  }
}]

resource communication 'Microsoft.Communication/communicationServices@2025-09-01' existing = {
  name: communicationName
}

// Send e-mail and SMS, nothing else: the actions Microsoft documents for an Entra ID e-mail sender
// (Communication Services docs, "Use a custom role to limit permissions granted to the Microsoft Entra
// application"). No ListKeys/action and no wildcard: the stamps never see an access key (local auth
// is off anyway). Assignable only in this resource group; the name is unique per resource group, as
// custom role names must be unique in the tenant.
resource communicationSenderRole 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(resourceGroup().id, 'voicemail-acs-sender')
  properties: {
    roleName: 'Voicemail ACS sender ${uniqueString(resourceGroup().id)}'
    description: 'Send e-mail and SMS through the deployment\'s Azure Communication Services resource with an Entra ID identity; no access keys.'
    type: 'CustomRole'
    assignableScopes: [
      resourceGroup().id
    ]
    permissions: [
      {
        actions: [
          'Microsoft.Communication/CommunicationServices/Read'
          'Microsoft.Communication/CommunicationServices/Write'
          'Microsoft.Communication/EmailServices/write'
        ]
        notActions: []
        dataActions: []
        notDataActions: []
      }
    ]
  }
}

// Notifications: each stamp sends e-mail and SMS with its own identity (ACS local auth is off).
resource communicationSender 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for stamp in stamps: {
  name: guid(communication.id, stamp.principalId, communicationSenderRole.id)
  scope: communication
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', communicationSenderRole.name)
    principalId: stamp.principalId
    principalType: 'ServicePrincipal'
  }
}]
