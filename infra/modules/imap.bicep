// One region's IMAP gateway (gateways/imap; its image: gateways/imap/Dockerfile): an identity, a VNet
// of its own (TCP ingress needs a custom VNet), a Container Apps environment (workload profiles,
// Consumption) logging to the global workspace, and the container app: IMAPS on 993 (TCP ingress,
// external), its TLS certificate and key from Key Vault as files, probes on its health port. It
// reaches the application only through this stamp's public HTTP API (IMAP_API_URL) and holds no state.
//
// Unlike the function apps', this identity's role assignments live here, not in rbac.bicep: the
// container app pulls its image and fetches its Key Vault secrets as it is created, so both
// assignments must exist before it, and the identity exists only in this module. They are narrow:
// AcrPull on the registry, Key Vault Secrets User on the two TLS secrets only (not the vault).

@description('Azure region of this stamp (also IMAP_REGION, for the gateway\'s logs).')
param region string

param tags object

@description('Carries the azd-service-name tag: azd deploys the image to exactly one container app per service.')
param isPrimary bool

param identityName string
param vnetName string
param environmentName string
@minLength(2)
@maxLength(32)
param appName string

@description('Resource id of the global Log Analytics workspace.')
param logAnalyticsWorkspaceId string

@description('The deployment\'s container registry (registry.bicep), which azd pushes the image to.')
param registryName string

@description('The Key Vault holding the TLS certificate and key (PEM), which the operator puts there (infra/README.md).')
param keyVaultName string
param tlsCertSecretName string
param tlsKeySecretName string

@description('This stamp\'s function app API base, https://<site>.azurewebsites.net/api (IMAP_API_URL).')
param apiEndpoint string

@description('The image azd last pushed (SERVICE_IMAP_IMAGE_NAME). Empty before the first deploy: a placeholder until azd deploys.')
param image string

@minValue(1)
@maxValue(300)
@description('Replicas at most; at least one always runs (IMAP IDLE connections are long-lived, no scale to zero).')
param maxReplicas int

@minValue(1)
@description('Open IMAP connections per replica before another replica is added.')
param connectionsPerReplica int = 1000

@description('Spread the environment over availability zones (only where the region has them).')
param zoneRedundant bool

@description('The VNet and the environment\'s subnet (/27 at least for workload profiles). Peered with nothing but, with private networking, its own stamp\'s VNet (10.70.0.0/20, network.bicep): every stamp may use the same range.')
param vnetAddressPrefix string = '10.80.0.0/22'
param subnetAddressPrefix string = '10.80.0.0/23'

@description('Private networking (main.bicep privateNetworking): the stamp\'s network resource group and VNet (network.bicep), which hold Key Vault\'s private endpoint and DNS zone. The gateway\'s VNet is peered with it and linked to that zone before the container app reads its TLS secrets. Empty: none (Key Vault is public).')
param stampNetworkResourceGroup string = ''
param stampVnetName string = ''

// One value each for the ingress, the container's settings and its probes. Clients reach 993
// (publicPort); the container listens on imapPort, 993 as well: below 1024, which the image lets its
// non-root user bind (gateways/imap/Dockerfile, cap_net_bind_service). Were the platform to refuse
// that capability, imapPort alone changes (to 1993, say): IMAP_PORT and targetPort follow it.
var publicPort = 993
var imapPort = 993
var healthPort = 8080
var tlsMountPath = '/mnt/tls'
var subnetName = 'container-apps'
var placeholderImage = 'mcr.microsoft.com/azuredocs/containerapps-helloworld:latest'
var roles = {
  acrPull: '7f951dda-4ed3-4680-a7ca-43fe172d538d'
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6'
}

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: identityName
  location: region
  tags: tags
}

resource registry 'Microsoft.ContainerRegistry/registries@2023-07-01' existing = {
  name: registryName
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource tlsCert 'Microsoft.KeyVault/vaults/secrets@2023-07-01' existing = {
  parent: vault
  name: tlsCertSecretName
}

resource tlsKey 'Microsoft.KeyVault/vaults/secrets@2023-07-01' existing = {
  parent: vault
  name: tlsKeySecretName
}

resource pull 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(registry.id, identity.id, roles.acrPull)
  scope: registry
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.acrPull)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource certReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(tlsCert.id, identity.id, roles.keyVaultSecretsUser)
  scope: tlsCert
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsUser)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource keyReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(tlsKey.id, identity.id, roles.keyVaultSecretsUser)
  scope: tlsKey
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsUser)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource vnet 'Microsoft.Network/virtualNetworks@2023-11-01' = {
  name: vnetName
  location: region
  tags: tags
  properties: {
    addressSpace: {
      addressPrefixes: [
        vnetAddressPrefix
      ]
    }
    subnets: [
      {
        name: subnetName
        properties: {
          addressPrefix: subnetAddressPrefix
          // The stamp's API admits this subnet (access.bicep): the gateway's calls reach it directly.
          serviceEndpoints: [
            {
              service: 'Microsoft.Web'
            }
          ]
          delegations: [
            {
              name: 'container-apps-environments'
              properties: {
                serviceName: 'Microsoft.App/environments'
              }
            }
          ]
        }
      }
    ]
  }
}

// Private networking: Key Vault takes no public traffic, so the gateway reaches it through its
// stamp's VNet: peered both ways, and the stamp's Key Vault zone linked to this VNet.
resource toStamp 'Microsoft.Network/virtualNetworks/virtualNetworkPeerings@2023-11-01' = if (!empty(stampVnetName)) {
  parent: vnet
  name: 'to-stamp'
  properties: {
    remoteVirtualNetwork: {
      id: resourceId(stampNetworkResourceGroup, 'Microsoft.Network/virtualNetworks', stampVnetName)
    }
    allowVirtualNetworkAccess: true
    allowForwardedTraffic: false
    allowGatewayTransit: false
    useRemoteGateways: false
  }
}

module stampSide 'imappeering.bicep' = if (!empty(stampVnetName)) {
  name: 'imap-peering-${region}'
  scope: resourceGroup(stampNetworkResourceGroup)
  params: {
    stampVnetName: stampVnetName
    gatewayVnetId: vnet.id
    linkName: vnetName
  }
}

// Logs through Azure Monitor (the diagnostic setting below): no workspace key is read.
resource appEnvironment 'Microsoft.App/managedEnvironments@2024-03-01' = {
  name: environmentName
  location: region
  tags: tags
  properties: {
    appLogsConfiguration: {
      destination: 'azure-monitor'
    }
    vnetConfiguration: {
      infrastructureSubnetId: vnet.properties.subnets[0].id
      internal: false
    }
    workloadProfiles: [
      {
        name: 'Consumption'
        workloadProfileType: 'Consumption'
      }
    ]
    zoneRedundant: zoneRedundant
  }
}

// The gateway's console and the environment's system logs to the global workspace
// (ContainerAppConsoleLogs, ContainerAppSystemLogs).
resource environmentDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-log-analytics'
  scope: appEnvironment
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

resource app 'Microsoft.App/containerApps@2024-03-01' = {
  name: appName
  location: region
  tags: isPrimary ? union(tags, { 'azd-service-name': 'imap' }) : tags
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identity.id}': {}
    }
  }
  properties: {
    environmentId: appEnvironment.id
    workloadProfileName: 'Consumption'
    configuration: {
      activeRevisionsMode: 'Single'
      // IMAPS straight through: TCP, no HTTP layer; TLS ends in the gateway with the certificate below.
      ingress: {
        external: true
        transport: 'tcp'
        targetPort: imapPort
        exposedPort: publicPort
      }
      registries: [
        {
          server: registry.properties.loginServer
          identity: identity.id
        }
      ]
      // Key Vault references (versionless: a renewed certificate is picked up), read with the identity.
      secrets: [
        {
          name: 'tls-cert'
          keyVaultUrl: tlsCert.properties.secretUri
          identity: identity.id
        }
        {
          name: 'tls-key'
          keyVaultUrl: tlsKey.properties.secretUri
          identity: identity.id
        }
      ]
    }
    template: {
      containers: [
        {
          name: 'imap'
          image: empty(image) ? placeholderImage : image
          resources: {
            cpu: json('0.5')
            memory: '1Gi'
          }
          env: [
            { name: 'IMAP_API_URL', value: apiEndpoint }
            { name: 'IMAP_HOST', value: '0.0.0.0' }
            { name: 'IMAP_PORT', value: string(imapPort) }
            { name: 'IMAP_TLS_CERT_FILE', value: '${tlsMountPath}/tls.crt' }
            { name: 'IMAP_TLS_KEY_FILE', value: '${tlsMountPath}/tls.key' }
            { name: 'IMAP_HEALTH_PORT', value: string(healthPort) }
            { name: 'IMAP_REGION', value: region }
          ]
          probes: [
            {
              type: 'Liveness'
              httpGet: {
                path: '/health'
                port: healthPort
                scheme: 'HTTP'
              }
              initialDelaySeconds: 5
              periodSeconds: 10
              timeoutSeconds: 3
              failureThreshold: 3
            }
            {
              // 200 once the IMAP listener is up and this stamp's /api/health/ready answers 200: a
              // drained or failing stamp's gateway takes no new connections either.
              type: 'Readiness'
              httpGet: {
                path: '/health/ready'
                port: healthPort
                scheme: 'HTTP'
              }
              initialDelaySeconds: 5
              periodSeconds: 10
              timeoutSeconds: 5
              failureThreshold: 3
            }
          ]
          volumeMounts: [
            {
              volumeName: 'tls'
              mountPath: tlsMountPath
            }
          ]
        }
      ]
      scale: {
        minReplicas: 1
        maxReplicas: maxReplicas
        rules: [
          {
            name: 'imap-connections'
            tcp: {
              metadata: {
                concurrentConnections: string(connectionsPerReplica)
              }
            }
          }
        ]
      }
      // The two secrets as files (PEM), the only files the container gets from outside its image.
      volumes: [
        {
          name: 'tls'
          storageType: 'Secret'
          secrets: [
            {
              secretRef: 'tls-cert'
              path: 'tls.crt'
            }
            {
              secretRef: 'tls-key'
              path: 'tls.key'
            }
          ]
        }
      ]
    }
  }
  dependsOn: [
    pull
    certReader
    keyReader
    toStamp
    stampSide
  ]
}

output appName string = app.name
output fqdn string = app.properties.configuration.ingress.fqdn
output principalId string = identity.properties.principalId
output subnetId string = vnet.properties.subnets[0].id
