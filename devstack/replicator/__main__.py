"""`python -m devstack.replicator`: run the replicator, or cut, restore or show replication."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import signal
import sys
from pathlib import Path

import devstack.replicator
from devstack.localstack import COSMOS_KEY as EMULATOR_KEY
from devstack.localstack import REPLICATOR_STATE as DEFAULT_STATE_DIR
from devstack.localstack import ROOT
from devstack.replicator import heal, is_partitioned, is_running, partition, read_status
from devstack.replicator.engine import Replicator


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.replicator", description=devstack.replicator.__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", nargs="?", default="run", choices=["run", "partition", "heal", "status"])
    parser.add_argument("--endpoints", help="run: the emulators, comma-separated, region 1 first")
    parser.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR,
                        help=f"the switch and the status (default {DEFAULT_STATE_DIR.relative_to(ROOT)})")
    parser.add_argument("--key", default=EMULATOR_KEY, help="the emulators' key (the well-known one by default)")
    parser.add_argument("--interval", type=float, default=0.15, help="seconds between cycles (default 0.15)")
    parser.add_argument("--start-healed", action="store_true", help="run: clear a partition left from before")
    args = parser.parse_args(argv)
    if args.action in {"partition", "heal"}:
        (partition if args.action == "partition" else heal)(args.state_dir)
        running = is_running(args.state_dir)
        print(f"replication {'cut: regions partitioned' if args.action == 'partition' else 'restored'}"
              + ("" if running else f" (no replicator is running with state in {args.state_dir})"))
        return 0
    if args.action == "status":
        print(json.dumps({**(read_status(args.state_dir) or {}), "running": is_running(args.state_dir),
                          "switch": "partitioned" if is_partitioned(args.state_dir) else "healed"}, indent=2))
        return 0
    if not args.endpoints:
        parser.error("run needs --endpoints")
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s replicator %(levelname)s %(message)s")
    logging.getLogger("azure").setLevel(logging.WARNING)
    if args.start_healed:
        heal(args.state_dir)
    replicator = Replicator([e.strip() for e in args.endpoints.split(",") if e.strip()], args.state_dir,
                            args.key, args.interval)
    signal.signal(signal.SIGTERM, replicator.stop)
    signal.signal(signal.SIGINT, replicator.stop)
    with contextlib.suppress(KeyboardInterrupt):
        replicator.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
