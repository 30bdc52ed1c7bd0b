#!/bin/sh
# After `azd deploy` has deployed the primary stamp's two apps (the sites tagged azd-service-name:
# api and management):
# 1. the primary: wait until its API app runs this build and its dependencies answer, undrain it,
#    then wait until its management app runs this build too;
# 2. every other stamp, one at a time (ops/release.py roll): drain, wait for the router, deploy
#    the same package to the API app, wait until ready on this build, undrain, then deploy it to the
#    management app and wait for its build. A failure stops the release there.
# 3. on the first run, the Event Grid subscriptions: they need each app's blobs_extension system
#    key, which exists only once the code runs, so provisioning is repeated with them on.
# Needs python3 and the Azure CLI, logged in (`az login`).
set -eu
primary=$(printf %s "$REGIONS" | cut -d, -f1)
python3 ops/release.py undrain "$primary"
if [ "$primary" != "$REGIONS" ]; then
  package_dir=$(mktemp -d)
  trap 'rm -rf "$package_dir"' EXIT
  azd package api --output-path "$package_dir/app.zip"
  python3 ops/release.py roll --skip "$primary" --package "$package_dir/app.zip"
fi
if [ "${EVENT_SUBSCRIPTION_ENABLED:-false}" != "true" ]; then
  echo "Turning on the Event Grid subscriptions (azd provision)"
  azd env set EVENT_SUBSCRIPTION_ENABLED true
  azd provision --no-prompt
fi
