// Alerts: one action group, the SLOs' multi-window burn-rate rules (docs/slo.md) and the operational
// alerts (poison messages, notification dead letters, the conflicts backlog, readiness failures as
// the app and as the router see them). Deployed once: every stamp's Application Insights writes to
// the one Log Analytics workspace, so each log rule queries it and splits its alerts by region.
// Every rule names its runbook, a section of docs/operations.md ("Alerts and runbooks"), in its
// description; tests/infra/test_alerts.py checks that each exists, that every SLO of docs/slo.md has
// its rules, that every rule notifies the action group, and that the queries name only telemetry
// the app emits (shared/telemetry.py, its log lines, infra/monitoring/).
//
// The queries compute their own windows (ago()), so each rule's query time range
// (overrideQueryTimeRange, at most two days in Azure Monitor) is its longest window, and a rule
// fires when its query returns a row (Count > 0): the burn-rate comparison is in the query, where a
// fractional factor (14.4) can be written. skipQueryValidation: on a first deployment the App* and
// StorageQueueLogs tables do not exist yet (they appear with the first record).

@description('Short prefix of every alert rule name (unique in the resource group).')
param namePrefix string

@description('Region of the Log Analytics workspace (the scheduled query rules live there).')
param location string

param tags object

@description('Resource id of the Log Analytics workspace every stamp\'s Application Insights writes to.')
param workspaceId string

@description('Where the action group e-mails alerts; empty: no receiver (the group exists, add receivers later).')
param alertEmail string

@allowed([
  'frontdoor'
  'trafficmanager'
])
@description('The global router whose health probes of /api/health/ready the router-side readiness alert reads.')
param routing string

param frontDoorName string
param trafficManagerName string

var runbooks = 'docs/operations.md'
var sloDoc = 'docs/slo.md'

// Region of a record: the app's own records carry cloud.region (shared/telemetry.py); the host's
// records carry the stamp's function app name, func-<token>-<region>, or its management app's,
// func-<token>-<region>-mgmt (main.bicep), as AppRoleName.
var regionOf = '''
let regionOf = (role: string, props: dynamic) {
    coalesce(tostring(props["cloud.region"]), extract(@"^func-[a-z0-9]+-(.+?)(-mgmt)?$", 1, role), role)
};
'''

// Each SLI: `sli(w)`, per region, the good and all eligible events of the last w.
// Deposit success: the voicemail.deposits counter; callers' rejections (4xx) are not eligible.
var sliDepositSuccess = '''
let sli = (w: timespan) {
    AppMetrics
    | where TimeGenerated > ago(w) and Name == "voicemail.deposits"
    | extend Region = tostring(Properties["cloud.region"]), Outcome = tostring(Properties.outcome)
    | summarize Good = sumif(Sum, Outcome == "succeeded"), Total = sumif(Sum, Outcome in ("succeeded", "failed"))
        by Region
};
'''

// Deposit latency: the host's request records of deposit_message (inline and upload link), callers'
// 4xx left out; good = answered below 5xx within 3 s. ItemCount: right under sampling too.
var sliDepositLatency = '''
let sli = (w: timespan) {
    AppRequests
    | where TimeGenerated > ago(w)
    | where strcat(Name, " ", OperationName) matches regex @"\bdeposit_message\b"
    | extend Code = toint(ResultCode)
    | where isnull(Code) or Code < 400 or Code >= 500
    | summarize Good = sumif(ItemCount, Code < 500 and DurationMs <= 3000), Total = sum(ItemCount)
        by Region = regionOf(AppRoleName, Properties)
};
'''

// Read latency: GET message and GET list (list_messages, get_message; not get_message_audio);
// good = answered below 5xx within 1 s.
var sliReadLatency = '''
let sli = (w: timespan) {
    AppRequests
    | where TimeGenerated > ago(w)
    | where strcat(Name, " ", OperationName) matches regex @"\b(list_messages|get_message)\b"
    | extend Code = toint(ResultCode)
    | where isnull(Code) or Code < 400 or Code >= 500
    | summarize Good = sumif(ItemCount, Code < 500 and DurationMs <= 1000), Total = sum(ItemCount)
        by Region = regionOf(AppRoleName, Properties)
};
'''

// Notification delay: the voicemail.notifications counter, one per delivery of an event to one
// target by outcome (shared/telemetry.py): on_time (within 60 s of being due), late, dead (given up).
var sliNotificationDelay = '''
let sli = (w: timespan) {
    AppMetrics
    | where TimeGenerated > ago(w) and Name == "voicemail.notifications"
    | extend Region = tostring(Properties["cloud.region"]), Outcome = tostring(Properties.outcome)
    | summarize Good = sumif(Sum, Outcome == "on_time"), Total = sum(Sum) by Region
};
'''

// Replication lag: the "replicate audio" spans carry voicemail.replication.lag_s (the histogram
// keeps no single values); good = the audio landed in another region within 300 s of receipt.
var sliReplicationLag = '''
let sli = (w: timespan) {
    AppDependencies
    | where TimeGenerated > ago(w) and Name == "replicate audio"
    | extend LagS = todouble(Properties["voicemail.replication.lag_s"])
    | where isnotnull(LagS)
    | summarize Good = sumif(ItemCount, LagS <= 300), Total = sum(ItemCount)
        by Region = tostring(Properties["cloud.region"])
};
'''

// The SLOs of docs/slo.md: id (its anchor there), 30-day target, error budget (1 - target), runbook.
var slos = [
  {
    id: 'deposit-success'
    title: 'Deposit success'
    target: '99.9%'
    budget: '0.001'
    sli: sliDepositSuccess
    runbook: 'runbook-deposit-success'
  }
  {
    id: 'deposit-latency'
    title: 'Deposit latency'
    target: '99% within 3 s'
    budget: '0.01'
    sli: sliDepositLatency
    runbook: 'runbook-deposit-latency'
  }
  {
    id: 'read-latency'
    title: 'Read latency'
    target: '99% within 1 s'
    budget: '0.01'
    sli: sliReadLatency
    runbook: 'runbook-read-latency'
  }
  {
    id: 'notification-delay'
    title: 'Notification delay'
    target: '99% (proxy: dispatch outcomes)'
    budget: '0.01'
    sli: sliNotificationDelay
    runbook: 'runbook-notification-delay'
  }
  {
    id: 'replication-lag'
    title: 'Replication lag'
    target: '99% within 300 s'
    budget: '0.01'
    sli: sliReplicationLag
    runbook: 'runbook-replication-lag'
  }
]

// Multi-window burn rates (Google SRE workbook): a fast burn pages, a slow one opens a ticket. Azure
// Monitor queries at most two days, so the workbook's 3-day window is 2 days here.
var windows = [
  {
    id: 'fast'
    long: '1h'
    short: '5m'
    factor: '14.4'
    severity: 1
    frequency: 'PT5M'
    range: 'PT1H'
  }
  {
    id: 'medium'
    long: '6h'
    short: '30m'
    factor: '6'
    severity: 2
    frequency: 'PT15M'
    range: 'PT6H'
  }
  {
    id: 'slow'
    long: '2d'
    short: '6h'
    factor: '1'
    severity: 3
    frequency: 'PT1H'
    range: 'P2D'
  }
]

// The burn rate of both windows, per region; a row (an alert for that region) only when both reach
// the factor and the long window holds at least 10 events (a handful of requests is no evidence).
// {0}: long window, {1}: short window, {2}: error budget, {3}: factor.
var burnTail = '''
let budget = {2};
let factor = {3};
sli({0})
| where Total >= 10
| project Region, LongBurn = (1.0 - todouble(Good) / Total) / budget, LongEvents = Total
| join kind=inner (sli({1}) | where Total > 0 | project Region, ShortBurn = (1.0 - todouble(Good) / Total) / budget) on Region
| where LongBurn >= factor and ShortBurn >= factor
| project Region, LongBurn = round(LongBurn, 1), ShortBurn = round(ShortBurn, 1), LongEvents
'''

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = {
  name: '${namePrefix}-voicemail-ops'
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'voicemail'
    enabled: true
    emailReceivers: empty(alertEmail) ? [] : [
      {
        name: 'operator'
        emailAddress: alertEmail
        useCommonAlertSchema: true
      }
    ]
  }
}

// Every SLO x every window: slos[i / 3], windows[i % 3].
resource burnRateRules 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = [for i in range(0, length(slos) * length(windows)): {
  name: '${namePrefix}-slo-${slos[i / length(windows)].id}-${windows[i % length(windows)].id}'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'SLO ${slos[i / length(windows)].title}: error budget burning ${windows[i % length(windows)].factor}x (${windows[i % length(windows)].long} and ${windows[i % length(windows)].short})'
    description: '${slos[i / length(windows)].title} (${sloDoc}#${slos[i / length(windows)].id}, 30-day target ${slos[i / length(windows)].target}) is spending its error budget ${windows[i % length(windows)].factor} times as fast as the 30 days allow, over the last ${windows[i % length(windows)].long} and the last ${windows[i % length(windows)].short}. Runbook: ${runbooks}#${slos[i / length(windows)].runbook}'
    severity: windows[i % length(windows)].severity
    enabled: true
    scopes: [
      workspaceId
    ]
    evaluationFrequency: windows[i % length(windows)].frequency
    windowSize: windows[i % length(windows)].frequency
    overrideQueryTimeRange: windows[i % length(windows)].range
    skipQueryValidation: true
    autoMitigate: true
    criteria: {
      allOf: [
        {
          query: '${regionOf}${slos[i / length(windows)].sli}${format(burnTail, windows[i % length(windows)].long, windows[i % length(windows)].short, slos[i / length(windows)].budget, windows[i % length(windows)].factor)}'
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          dimensions: [
            {
              name: 'Region'
              operator: 'Include'
              values: [
                '*'
              ]
            }
          ]
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    actions: {
      actionGroups: [
        actionGroup.id
      ]
    }
  }
}]

// Operational alerts, each a query that returns a row per region (or storage account) in trouble.
var operational = [
  {
    id: 'poison-messages'
    title: 'Poison messages'
    description: 'Queue messages or blob triggers the Functions host gave up on after 5 tries: moved to a {queue}-poison queue (replication-requests-poison, transcription-requests-poison) or webjobs-blobtrigger-poison (an upload whose original never became a message).'
    runbook: 'runbook-poison-messages'
    severity: 2
    frequency: 'PT5M'
    window: 'PT15M'
    dimension: 'Source'
    query: '''
let regionOf = (role: string, props: dynamic) {
    coalesce(tostring(props["cloud.region"]), extract(@"^func-[a-z0-9]+-(.+?)(-mgmt)?$", 1, role), role)
};
union isfuzzy=true
    (AppTraces
     | where TimeGenerated > ago(15m) and Message has "poison"
     | summarize Poisoned = sum(ItemCount) by Source = regionOf(AppRoleName, Properties)),
    (StorageQueueLogs
     | where TimeGenerated > ago(15m) and OperationName == "PutMessage" and ObjectKey contains "-poison"
     | summarize Poisoned = count() by Source = AccountName)
| summarize Poisoned = sum(Poisoned) by Source
| where Poisoned > 0
'''
  }
  {
    id: 'notification-dead-letters'
    title: 'Notification dead letters'
    description: 'Notification events dead-lettered (every target kept failing for over a day): the subscriber was not told.'
    runbook: 'runbook-notification-dead-letters'
    severity: 2
    frequency: 'PT5M'
    window: 'PT15M'
    dimension: 'Region'
    query: '''
AppTraces
| where TimeGenerated > ago(15m) and Message contains " dead-lettered after "
| summarize DeadLettered = sum(ItemCount), Sample = take_any(Message) by Region = tostring(Properties["cloud.region"])
| where DeadLettered > 0
'''
  }
  {
    id: 'conflicts-backlog'
    title: 'Conflicts backlog'
    description: 'The conflicts feed is not draining: the resolver read a full page (100) at least 5 times in an hour, or failed to merge conflicts at least 3 times.'
    runbook: 'runbook-conflicts-backlog'
    severity: 3
    frequency: 'PT15M'
    window: 'PT1H'
    dimension: 'Region'
    query: '''
AppTraces
| where TimeGenerated > ago(1h) and Message startswith "conflicts: "
| extend Examined = coalesce(toint(extract(@"'examined': (\d+)", 1, Message)), 0),
         Failed = coalesce(toint(extract(@"'failed': (\d+)", 1, Message)), 0),
         Deferred = coalesce(toint(extract(@"'deferred': (\d+)", 1, Message)), 0)
| summarize Runs = count(), FullPages = countif(Examined >= 100), Failed = sum(Failed), Deferred = sum(Deferred)
    by Region = tostring(Properties["cloud.region"])
| where FullPages >= 5 or Failed >= 3
'''
  }
  {
    id: 'readiness-failures'
    title: 'Readiness failures'
    description: 'A region answered 503 to at least 3 readiness probes (/api/health/ready) in 15 minutes for a reason other than its drain switch: a dependency failed, or its settings did not load. Front Door or Traffic Manager is routing around it.'
    runbook: 'runbook-readiness-failures'
    severity: 2
    frequency: 'PT5M'
    window: 'PT15M'
    dimension: 'Region'
    query: '''
let regionOf = (role: string, props: dynamic) {
    coalesce(tostring(props["cloud.region"]), extract(@"^func-[a-z0-9]+-(.+?)(-mgmt)?$", 1, role), role)
};
let probes = AppRequests
    | where TimeGenerated > ago(15m)
    | where strcat(Name, " ", OperationName) matches regex @"\bhealth_ready\b" or Url endswith "/api/health/ready"
    | summarize NotReady = sumif(ItemCount, ResultCode == "503") by Region = regionOf(AppRoleName, Properties);
let reasons = AppTraces
    | where TimeGenerated > ago(15m) and Message startswith "not ready: failed="
    | summarize Unhealthy = countif(not(Message startswith "not ready: failed=[]")),
                DrainedOnly = countif(Message startswith "not ready: failed=[] drained=True"),
                Reason = take_anyif(Message, not(Message startswith "not ready: failed=[]"))
        by Region = tostring(Properties["cloud.region"]);
probes
| join kind=leftouter reasons on Region
| where NotReady >= 3 and (Unhealthy > 0 or isnull(DrainedOnly) or DrainedOnly == 0)
| project Region, NotReady, Unhealthy, Reason
'''
  }
]

resource operationalRules 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = [for alert in operational: {
  name: '${namePrefix}-${alert.id}'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: alert.title
    description: '${alert.description} Runbook: ${runbooks}#${alert.runbook}'
    severity: alert.severity
    enabled: true
    scopes: [
      workspaceId
    ]
    evaluationFrequency: alert.frequency
    windowSize: alert.window
    skipQueryValidation: true
    autoMitigate: true
    criteria: {
      allOf: [
        {
          query: alert.query
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          dimensions: [
            {
              name: alert.dimension
              operator: 'Include'
              values: [
                '*'
              ]
            }
          ]
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    actions: {
      actionGroups: [
        actionGroup.id
      ]
    }
  }
}]

// Readiness as the router sees it: an origin (Front Door) or endpoint (Traffic Manager) whose
// probes of /api/health/ready failed for 15 minutes, whatever the cause (a stopped or unreachable
// app writes no record the log rules could read). A rolling release drains one stamp for a few
// minutes, less than the window.
resource frontDoor 'Microsoft.Cdn/profiles@2024-02-01' existing = if (routing == 'frontdoor') {
  name: frontDoorName
}

resource trafficManager 'Microsoft.Network/trafficmanagerprofiles@2022-04-01' existing = if (routing == 'trafficmanager') {
  name: trafficManagerName
}

resource routerReadinessFrontDoor 'Microsoft.Insights/metricAlerts@2018-03-01' = if (routing == 'frontdoor') {
  name: '${namePrefix}-readiness-router'
  location: 'global'
  tags: tags
  properties: {
    description: 'Front Door\'s health probes of /api/health/ready have failed for 15 minutes on an origin (a stamp): the region takes no traffic. Runbook: ${runbooks}#runbook-readiness-failures'
    severity: 1
    enabled: true
    scopes: [
      frontDoor.id
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    autoMitigate: true
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          criterionType: 'StaticThresholdCriterion'
          name: 'origin-unhealthy'
          metricNamespace: 'Microsoft.Cdn/profiles'
          metricName: 'OriginHealthPercentage'
          dimensions: [
            {
              name: 'Origin'
              operator: 'Include'
              values: [
                '*'
              ]
            }
          ]
          operator: 'LessThan'
          threshold: 50
          timeAggregation: 'Maximum'
        }
      ]
    }
    actions: [
      {
        actionGroupId: actionGroup.id
      }
    ]
  }
}

resource routerReadinessTrafficManager 'Microsoft.Insights/metricAlerts@2018-03-01' = if (routing == 'trafficmanager') {
  name: '${namePrefix}-readiness-router'
  location: 'global'
  tags: tags
  properties: {
    description: 'Traffic Manager\'s monitor of /api/health/ready has found an endpoint (a stamp) down for 15 minutes: the region takes no traffic. Runbook: ${runbooks}#runbook-readiness-failures'
    severity: 1
    enabled: true
    scopes: [
      trafficManager.id
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    autoMitigate: true
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          criterionType: 'StaticThresholdCriterion'
          name: 'endpoint-down'
          metricNamespace: 'Microsoft.Network/trafficManagerProfiles'
          metricName: 'ProbeAgentCurrentEndpointStateByProfileResourceId'
          dimensions: [
            {
              name: 'EndpointName'
              operator: 'Include'
              values: [
                '*'
              ]
            }
          ]
          operator: 'LessThan'
          threshold: 1
          timeAggregation: 'Maximum'
        }
      ]
    }
    actions: [
      {
        actionGroupId: actionGroup.id
      }
    ]
  }
}

output actionGroupId string = actionGroup.id
output burnRateRuleNames array = [for i in range(0, length(slos) * length(windows)): burnRateRules[i].name]
output operationalRuleNames array = [for (alert, i) in operational: operationalRules[i].name]
