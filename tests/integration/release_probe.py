"""The deploy step the release test injects: it deploys nothing, it records what every stamp's
readiness answered at that moment (one JSON line per call), to check that a stamp is only ever
deployed while drained and while the others serve."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ops.release import get_json  # how the release itself reads readiness


def main(argv: list[str]) -> int:
    region, log, endpoints = argv[0], Path(argv[1]), argv[2:]
    states = {}
    for endpoint in endpoints:
        status, body = get_json(f"{endpoint}/health/ready")
        states[body.get("region") or endpoint] = {"status": status, "drained": body.get("drained")}
    with log.open("a") as out:
        out.write(json.dumps({"deployed": region, "states": states}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
