# PowerShell twin of postdown.sh: after `azd down`, EVENT_SUBSCRIPTION_ENABLED goes back to false, so
# the next `azd up` provisions without the Event Grid subscriptions (their webhook needs the blobs
# extension's system key, which exists only once the code runs); the postdeploy hook turns it on.
$ErrorActionPreference = 'Stop'
azd env set EVENT_SUBSCRIPTION_ENABLED false
if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
