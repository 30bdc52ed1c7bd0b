# PowerShell twin of postdeploy.sh: undrain the primary once it runs this build (then wait for its
# management app's build), roll the package over the other stamps' two apps one stamp at a time
# (ops/release.py), then, on the first run, the Event Grid
# subscriptions. Needs python and the Azure CLI, logged in (`az login`).
$ErrorActionPreference = 'Stop'
$regions = @("$env:REGIONS".Split(',') | Where-Object { $_ })
python ops/release.py undrain $regions[0]
if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
if ($regions.Count -gt 1) {
  $packageDir = Join-Path ([System.IO.Path]::GetTempPath()) ([System.Guid]::NewGuid())
  New-Item -ItemType Directory -Path $packageDir | Out-Null
  try {
    azd package api --output-path (Join-Path $packageDir 'app.zip')
    if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
    python ops/release.py roll --skip $regions[0] --package (Join-Path $packageDir 'app.zip')
    if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
  } finally {
    Remove-Item -Recurse -Force $packageDir
  }
}
if ("$env:EVENT_SUBSCRIPTION_ENABLED" -ne 'true') {
  Write-Host 'Turning on the Event Grid subscriptions (azd provision)'
  azd env set EVENT_SUBSCRIPTION_ENABLED true
  azd provision --no-prompt
}
