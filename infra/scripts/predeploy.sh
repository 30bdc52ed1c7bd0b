#!/bin/sh
# Before `azd deploy` replaces the primary stamp's code: drain it and wait until the router has
# moved its traffic to the other regions (ops/release.py). A single-region deployment, or a
# primary that does not serve yet (first deploy), is deployed as is.
set -eu
primary=$(printf %s "${REGIONS:-}" | cut -d, -f1)
if [ -z "$primary" ] || [ "$primary" = "${REGIONS:-}" ]; then
  echo "One region: no other stamp can carry the traffic; deploying without draining."
  exit 0
fi
python3 ops/release.py drain "$primary"
