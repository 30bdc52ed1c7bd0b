#!/bin/sh
# After `azd down`: the resources are gone, but this azd environment still holds the values the
# hooks set. EVENT_SUBSCRIPTION_ENABLED=true would make the next `azd up` create the Event Grid
# subscriptions in its first provision, before any function app runs the code, so the blobs
# extension's system key they need would not exist yet and the provision would fail. Reset it: the
# postdeploy hook turns it back on once the new stamps run the code.
set -eu
azd env set EVENT_SUBSCRIPTION_ENABLED false
