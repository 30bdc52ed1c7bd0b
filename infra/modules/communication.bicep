// Notifications (issue 15): Azure Communication Services for e-mail and SMS, one for the deployment
// (ACS resources are global; their data stays in dataLocation). E-mail goes from an Azure-managed
// domain linked to the ACS resource; every stamp sends with its own identity (rbac.bicep grants it a
// custom role without listKeys). The Azure-managed domain sends a few e-mails a minute at most: see
// infra/README.md, "E-mail quotas and a custom domain".
// SMS needs a phone number acquired for the resource (a purchase, not a template resource): pass it
// as smsFromNumber once acquired; until then SMS targets are retried and then dead-lettered.

param communicationName string
param emailServiceName string
@description('Where ACS keeps its data, e.g. United States, Europe.')
param dataLocation string
param tags object

resource emailService 'Microsoft.Communication/emailServices@2023-04-01' = {
  name: emailServiceName
  location: 'global'
  tags: tags
  properties: {
    dataLocation: dataLocation
  }
}

resource managedDomain 'Microsoft.Communication/emailServices/domains@2023-04-01' = {
  parent: emailService
  name: 'AzureManagedDomain'
  location: 'global'
  tags: tags
  properties: {
    domainManagement: 'AzureManaged'
    userEngagementTracking: 'Disabled'
  }
}

// 2025-09-01: the first stable API version whose CommunicationServiceProperties have disableLocalAuth
// (azure-rest-api-specs, Microsoft.Communication/stable/2025-09-01/CommunicationServices.json; 2023-04-01
// and 2025-05-01 lack it, so ARM dropped the property and the access keys stayed live).
resource communication 'Microsoft.Communication/communicationServices@2025-09-01' = {
  name: communicationName
  location: 'global'
  tags: tags
  properties: {
    dataLocation: dataLocation
    linkedDomains: [
      managedDomain.id
    ]
    // Entra ID only: the stamps' identities send; no access key is ever handed out.
    disableLocalAuth: true
  }
}

output communicationName string = communication.name
output endpoint string = 'https://${communication.properties.hostName}'
output emailSender string = 'DoNotReply@${managedDomain.properties.mailFromSenderDomain}'
