#!/bin/sh
# After `azd deploy` has deployed to the primary stamp (the one site tagged azd-service-name: api):
# 1. the same package to every other stamp (needs the Azure CLI, logged in: `az login`);
# 2. on the first run, the Event Grid subscriptions: they need each app's blobs_extension system
#    key, which exists only once the code runs, so provisioning is repeated with them on.
set -eu
package_dir=$(mktemp -d)
trap 'rm -rf "$package_dir"' EXIT
azd package api --output-path "$package_dir/app.zip"
for app in $(printf %s "$AZURE_FUNCTION_APP_NAMES" | tr ',' ' '); do
  if [ "$app" = "$AZURE_FUNCTION_APP_NAME" ]; then
    continue
  fi
  echo "Deploying to $app"
  az functionapp deployment source config-zip --resource-group "$AZURE_RESOURCE_GROUP" --name "$app" \
    --src "$package_dir/app.zip" --build-remote true
done
if [ "${EVENT_SUBSCRIPTION_ENABLED:-false}" != "true" ]; then
  echo "Turning on the Event Grid subscriptions (azd provision)"
  azd env set EVENT_SUBSCRIPTION_ENABLED true
  azd provision --no-prompt
fi
