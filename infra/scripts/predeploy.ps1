# PowerShell twin of predeploy.sh: drain the primary stamp and wait for the router (ops/release.py).
$ErrorActionPreference = 'Stop'
$regions = @("$env:REGIONS".Split(',') | Where-Object { $_ })
if ($regions.Count -le 1) {
  Write-Host 'One region: no other stamp can carry the traffic; deploying without draining.'
  exit 0
}
python ops/release.py drain $regions[0]
if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
