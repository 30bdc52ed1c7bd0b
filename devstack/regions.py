"""Run the product as N local regions: one local host per region on ports 7071, 7072, ..., each with
its IMAP gateway (`python -m gateways.imap`) on 1143, 1144, ...

    python -m devstack.regions --regions 2 [--port 7071]   (`make run REGIONS=2`)

Region i is `local{i}`: its own storage (Azurite i, started by `localstack.py --regions N`), its
own task hub and host id, the others' storage as peers for replication, and its own Cosmos
emulator (port 8080 + i), which the replicator keeps in step with the others as a multi-region
Cosmos DB account keeps its regions (`make partition` / `make heal` cut and restore it). Nothing
routes between them but the client's endpoint list:

    voicemail -e http://127.0.0.1:7071/api -e http://127.0.0.1:7072/api health

Every other setting comes from local.settings.json. Ctrl-C stops every region; one region that
stops (or is killed, to see the others carry on) leaves the rest running.

`--planes 2` (`make run PLANES=2`) runs each region as Azure does, two hosts of the same app: the
API (`APP_ROLE=api`) on the region's port, the management plane (`APP_ROLE=management`: sweeps,
conflicts, the dispatcher, the journal's replay, /api/admin routes) on that port + 100.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from pathlib import Path

from devstack import localstack
from devstack.hosting import stop_process

ROOT = Path(__file__).resolve().parents[1]
MANAGEMENT_OFFSET = 100  # --planes 2: a region's management host listens on its port + 100


def region_name(number: int) -> str:
    return f"local{number}"


def region_settings(number: int, regions: int) -> dict[str, str]:
    """What region `number` of `regions` overrides in local.settings.json."""
    names = [region_name(n) for n in range(1, regions + 1)]
    storage = {n: localstack.storage_connection_string(ports=localstack.region_storage_ports(n))
               for n in range(1, regions + 1)}
    return {
        "REGION": names[number - 1],
        "REGIONS": ",".join(names),
        "AzureWebJobsStorage": storage[number],
        "DURABLE_TASK_HUB": f"voicemail{names[number - 1]}",
        "AzureFunctionsWebHost__hostid": names[number - 1],
        "COSMOS_ENDPOINT": localstack.cosmos_endpoint(localstack.region_cosmos_port(number)),
        **{f"PEER_STORAGE__{region_name(n)}": storage[n] for n in storage if n != number},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.regions", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--regions", type=int, default=2, choices=range(1, localstack.MAX_REGIONS + 1))
    parser.add_argument("--port", type=int, default=7071, help="region 1's port; region i listens on port + i - 1")
    parser.add_argument("--planes", type=int, default=1, choices=(1, 2),
                        help="1: one host a region (APP_ROLE=all); 2: API and management hosts (port + 100)")
    parser.add_argument("--imap-port", type=int, default=1143,
                        help="region 1's IMAP gateway (gateways/imap); region i's on imap-port + i - 1; 0: none")
    args = parser.parse_args(argv)
    command = [sys.executable, "-m", "devstack.localhost", "--provision"]
    hosts: list[subprocess.Popen] = []
    gateways: list[subprocess.Popen] = []
    for number in range(1, args.regions + 1):
        # One region is exactly what a one-region `make run` always was: local.settings.json alone.
        env = {**os.environ, **(region_settings(number, args.regions) if args.regions > 1 else {})}
        region, port = env.get("REGION", region_name(number)), args.port + number - 1
        print(f"region {region}: http://127.0.0.1:{port}/api", flush=True)
        # Own session: a signal reaches each child once, from us, not twice (terminal and us).
        for role, role_port in ((("api", port), ("management", port + MANAGEMENT_OFFSET)) if args.planes == 2
                                else (("all", port),)):
            if role == "management":
                print(f"region {region}: management plane http://127.0.0.1:{role_port}/api/admin", flush=True)
            hosts.append(subprocess.Popen([*command, "--port", str(role_port)], cwd=ROOT,
                                          env={**env, "APP_ROLE": role}, start_new_session=True))
        if args.imap_port:
            imap_port = args.imap_port + number - 1
            print(f"region {region}: imap://127.0.0.1:{imap_port} (user: the mailbox id, password: its PIN)",
                  flush=True)
            gateway = [sys.executable, "-m", "gateways.imap", "--api", f"http://127.0.0.1:{port}/api",
                       "--port", str(imap_port)]
            gateways.append(subprocess.Popen(gateway, cwd=ROOT, env={**env, "IMAP_REGION": region},
                                             start_new_session=True))
    if args.regions > 1:
        print("endpoints for the client: VOICEMAIL_ENDPOINTS="
              + ",".join(f"http://127.0.0.1:{args.port + n}/api" for n in range(args.regions)), flush=True)

    stopping = []

    def stop_all(signum: int, _frame: object) -> None:
        stopping.append(signum)
        for host in hosts:
            if host.poll() is None:
                host.send_signal(signal.SIGINT)  # uvicorn's graceful shutdown
        for gateway in gateways:  # Twisted stops on SIGTERM (SIGINT is ignored where we run in the background)
            if gateway.poll() is None:
                gateway.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGINT, stop_all)
    signal.signal(signal.SIGTERM, stop_all)
    codes = [host.wait() for host in hosts]
    for gateway in gateways:  # a gateway that could not start (its port taken) does not stop the regions
        stop_process(gateway, signal.SIGTERM, grace_s=10)
    # uvicorn re-raises the signal after a graceful shutdown: asked to stop, that is success.
    if stopping and all(code in (0, -signal.SIGINT, -signal.SIGTERM) for code in codes):
        return 0
    return max(codes, key=abs)


if __name__ == "__main__":
    sys.exit(main())
