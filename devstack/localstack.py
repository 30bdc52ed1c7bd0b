"""The offline local stack: Azurite (blob, queue, table), the Cosmos DB emulator and the SMTP sink
(port 1025, devstack/mail_sink.py) on 127.0.0.1.

Each emulator is reused when it already answers on its port, otherwise started from the npm
packages pinned in package.json; only what this process started is stopped, by PID, on exit or
Ctrl-C. Data lives in the git-ignored `.localstack/` folder (the Cosmos emulator keeps its data
in memory only).

    python devstack/localstack.py up          # start or reuse, leave running
    python devstack/localstack.py down        # stop what `up` started
    python devstack/localstack.py run -- CMD  # start or reuse, run CMD, stop what was started

`--regions 2` adds a second Azurite (ports 10010-10012, its own data folder): a second region's
storage that can fail on its own, as a region's storage account does; and a second Cosmos emulator
(8082; region i's is on 8080 + i), each region's own, with the replicator (devstack/replicator/)
keeping them in step as Cosmos DB multi-region writes do. `make partition` / `make heal` cut and
restore that replication while it runs.

    python devstack/localstack.py db-down     # every local Cosmos emulator stops answering (paused)
    python devstack/localstack.py db-up       # and answers again, its data kept

`make db-down` / `make db-up` run these beside `make run` (any number of regions): the database
outage of every region at once, which deposits ride through on the outage journal.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / ".localstack"
PIDS = DATA / "pids"
REPLICATOR_STATE = DATA / "replicator"  # the partition switch and the replicator's status
HOST = "127.0.0.1"

# The emulators' published, well-known development keys: not secrets, they open nothing but a
# local emulator.
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
COSMOS_KEY = "C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw=="
# Two storage accounts in the first Azurite (tests use both); further regions get an Azurite each.
ACCOUNTS = ("devstoreaccount1", "devstoreaccount2")
BLOB_PORT, QUEUE_PORT, TABLE_PORT, COSMOS_PORT = 10000, 10001, 10002, 8081
SMTP_PORT = 1025
STORAGE_PORTS = (BLOB_PORT, QUEUE_PORT, TABLE_PORT)
MAX_REGIONS = 4


def region_storage_ports(region_number: int) -> tuple[int, int, int]:
    """Blob, queue and table ports of local region 1, 2, ...: 10000-10002, 10010-10012, ..."""
    return tuple(port + 10 * (region_number - 1) for port in STORAGE_PORTS)  # type: ignore[return-value]


def storage_connection_string(account: str = ACCOUNTS[0], host: str = HOST,
                              ports: tuple[int, int, int] = STORAGE_PORTS) -> str:
    """A connection string for one Azurite account (path-style URLs, as Azurite expects)."""
    blob, queue, table = ports
    return (
        f"DefaultEndpointsProtocol=http;AccountName={account};AccountKey={AZURITE_KEY};"
        f"BlobEndpoint=http://{host}:{blob}/{account};"
        f"QueueEndpoint=http://{host}:{queue}/{account};"
        f"TableEndpoint=http://{host}:{table}/{account};"
    )


def region_cosmos_port(region_number: int) -> int:
    """The Cosmos emulator port of local region 1, 2, ...: 8081, 8082, ..."""
    return COSMOS_PORT + region_number - 1


def cosmos_endpoint(port: int = COSMOS_PORT) -> str:
    return f"http://{HOST}:{port}/"


def _http_get(url: str, timeout: float = 5.0) -> tuple[int, dict[str, str], bytes] | None:
    """GET url; the status, headers and body of any HTTP answer, or None when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - loopback only
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()
    except (OSError, ValueError):
        return None


def azurite_answers(port: int, server_prefix: str) -> bool:
    """Azurite answers every request, even unauthenticated ones, with its own Server header."""
    answer = _http_get(f"http://{HOST}:{port}/{ACCOUNTS[0]}?comp=list")
    return answer is not None and answer[1].get("Server", "").startswith(server_prefix)


def cosmos_answers(port: int = COSMOS_PORT) -> bool:
    """The Cosmos emulator answers GET / with its database account document."""
    answer = _http_get(cosmos_endpoint(port))
    if answer is None or answer[0] != 200:
        return False
    try:
        return "writableLocations" in json.loads(answer[2])
    except ValueError:
        return False


@dataclass
class Service:
    name: str
    command: list[str]
    answers: object  # Callable[[], bool]
    endpoints: list[str]
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen | None = None

    @property
    def pidfile(self) -> Path:
        return PIDS / f"{self.name}.pid"


def azurite(location: Path = DATA / "azurite", ports: tuple[int, int, int] = STORAGE_PORTS,
            name: str = "azurite") -> Service:
    node_bin = ROOT / "node_modules" / ".bin" / "azurite"
    blob, queue, table = ports
    return Service(
        name=name,
        command=[
            str(node_bin), "--silent", "--location", str(location),
            "--blobHost", HOST, "--queueHost", HOST, "--tableHost", HOST,
            "--blobPort", str(blob), "--queuePort", str(queue), "--tablePort", str(table),
            # The current SDKs send a newer API version than Azurite knows.
            "--skipApiVersionCheck", "--disableProductStyleUrl", "--disableTelemetry",
        ],
        answers=lambda: all(
            azurite_answers(port, prefix)
            for port, prefix in ((blob, "Azurite-Blob"), (queue, "Azurite-Queue"), (table, "Azurite-Table"))
        ),
        endpoints=[f"blob http://{HOST}:{blob}", f"queue http://{HOST}:{queue}",
                   f"table http://{HOST}:{table}", f"accounts {', '.join(ACCOUNTS)}"],
        env={"AZURITE_ACCOUNTS": ";".join(f"{account}:{AZURITE_KEY}" for account in ACCOUNTS)},
    )


def region_azurite(region_number: int) -> Service:
    """The storage of local region 2, 3, ... (region 1 uses the first Azurite)."""
    return azurite(DATA / f"azurite-{region_number}", region_storage_ports(region_number), f"azurite-{region_number}")


def cosmos(port: int = COSMOS_PORT, name: str = "cosmos") -> Service:
    cli = ROOT / "node_modules" / "@vercel" / "cosmosdb-server" / "lib" / "cli.js"
    return Service(
        name=name,
        command=["node", str(cli), "--no-ssl", "--keep-alive", "--host", HOST, "--port", str(port)],
        answers=lambda: cosmos_answers(port),
        endpoints=[f"cosmos {cosmos_endpoint(port)} (data in memory)"],
    )


def region_cosmos(region_number: int) -> Service:
    """The Cosmos emulator of local region 2, 3, ... (region 1 uses the first one, on 8081)."""
    return cosmos(region_cosmos_port(region_number), f"cosmos-{region_number}")


def _replicator_module():
    # Imported late: `python devstack/localstack.py` runs without the repository root on sys.path.
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from devstack import replicator

    return replicator


def replicator(endpoints: list[str], state_dir: Path = REPLICATOR_STATE, name: str = "replicator") -> Service:
    """Replication between Cosmos emulators (devstack/replicator/); its state folder holds the switch."""
    return Service(
        name=name,
        command=[sys.executable, "-m", "devstack.replicator", "--endpoints", ",".join(endpoints),
                 "--state-dir", str(state_dir), "--start-healed"],
        answers=lambda: _replicator_module().is_running(state_dir),
        endpoints=[f"{' <-> '.join(endpoints)} replicating (make partition / make heal)"],
    )


def _mail_sink_module():
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from devstack import mail_sink

    return mail_sink


def mail_sink(port: int = SMTP_PORT) -> Service:
    """The SMTP sink (devstack/mail_sink.py): every mail the app sends kept as `.localstack/mail/*.eml`.
    SMS need no server: a local run writes them to `.localstack/sms/*.json` itself."""
    return Service(
        name="smtp",
        command=[sys.executable, "-m", "devstack.mail_sink", "--port", str(port), "--dir", str(DATA / "mail")],
        answers=lambda: _mail_sink_module().answers(port),
        endpoints=[f"smtp {HOST}:{port} -> {DATA / 'mail'}/*.eml"],
    )


def start(service: Service, timeout: float = 60.0) -> bool:
    """Start service unless it already answers; wait until it really does. True if started here."""
    if service.answers():
        return False
    DATA.mkdir(parents=True, exist_ok=True)
    PIDS.mkdir(parents=True, exist_ok=True)
    log = open(DATA / f"{service.name}.log", "ab")  # noqa: SIM115 - handed to the child
    service.process = subprocess.Popen(
        service.command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        env={**os.environ, **service.env},
        start_new_session=True,  # Ctrl-C reaches us, not the emulator; we stop it ourselves
    )
    service.pidfile.write_text(str(service.process.pid))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if service.process.poll() is not None:
            code = service.process.returncode
            service.process = None
            service.pidfile.unlink(missing_ok=True)
            if service.answers():  # a busy one already held the port and was only slow to answer
                return False
            raise RuntimeError(f"{service.name} exited with {code}; see {DATA / service.name}.log")
        if service.answers():
            return True
        time.sleep(0.2)
    stop(service)
    raise RuntimeError(f"{service.name} did not answer within {timeout:.0f} s; see {DATA / service.name}.log")


def stop(service: Service) -> None:
    """Stop the process this stack started for service (by PID), waiting for it to go."""
    pid = service.process.pid if service.process else _read_pid(service.pidfile)
    if pid is not None:
        _terminate(pid)
    service.pidfile.unlink(missing_ok=True)
    service.process = None


def _read_pid(pidfile: Path) -> int | None:
    try:
        return int(pidfile.read_text())
    except (OSError, ValueError):
        return None


def _terminate(pid: int, grace: float = 10.0) -> None:
    try:
        os.kill(pid, signal.SIGCONT)  # a paused process cannot act on SIGTERM
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        try:
            finished, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:  # not our child: poll for its disappearance instead
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            finished = 0
        if finished:
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def default_services(regions: int = 1) -> list[Service]:
    services = [azurite(), cosmos(), mail_sink(), *(region_azurite(number) for number in range(2, regions + 1))]
    if regions > 1:  # each region its own Cosmos emulator, kept in step by the replicator (stopped first)
        services += [region_cosmos(number) for number in range(2, regions + 1)]
        services.append(replicator([cosmos_endpoint(region_cosmos_port(n)) for n in range(1, regions + 1)]))
    return services


def up(services: list[Service]) -> list[Service]:
    started: list[Service] = []
    try:
        for service in services:
            how = "started" if start(service) else "reused"
            if how == "started":
                started.append(service)
            pid = f", pid {service.process.pid}" if service.process else ""
            for endpoint in service.endpoints:
                print(f"  {service.name:8} {endpoint}  [{how}{pid}]", flush=True)
    except BaseException:
        down(started)
        raise
    return started


def down(services: list[Service]) -> None:
    for service in reversed(services):
        stop(service)


def cosmos_pids(ports: set[int] | None = None) -> list[int]:
    """Every running local Cosmos emulator (started here or by another `make run`), by its command
    line; with ports, those serving one of them."""
    cli = str(ROOT / "node_modules" / "@vercel" / "cosmosdb-server" / "lib" / "cli.js")
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue  # gone meanwhile, or not ours to read
        if cli.encode() not in argv:
            continue
        serves = int(argv[argv.index(b"--port") + 1]) if b"--port" in argv[:-1] else COSMOS_PORT
        if ports is None or serves in ports:
            found.append(int(entry.name))
    return sorted(found)


def pause_databases(pause: bool, pids: list[int] | None = None) -> list[int]:
    """SIGSTOP (pause) or SIGCONT every local Cosmos emulator (or those pids): it keeps its data in
    memory and its connections open, and answers nothing until continued, as a database that stalls."""
    pids = cosmos_pids() if pids is None else pids
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGSTOP if pause else signal.SIGCONT)
    return pids


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["up", "down", "run", "db-down", "db-up"])
    parser.add_argument("--regions", type=int, default=1, choices=range(1, MAX_REGIONS + 1),
                        help="local regions to give storage and a Cosmos emulator of their own, "
                             "replicated (default 1)")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="for run: the command, after --")
    args = parser.parse_args(argv)
    services = default_services(args.regions)
    if args.action in ("db-down", "db-up"):
        pids = pause_databases(args.action == "db-down")
        state = "paused (answering nothing; data kept)" if args.action == "db-down" else "answering again"
        print(f"Cosmos emulators {state}: pids {', '.join(map(str, pids)) or 'none running'}", flush=True)
        return 0 if pids else 1
    if args.action == "down":
        down(default_services(MAX_REGIONS))  # whatever `up` started, however many regions
        return 0
    print("Local stack:", flush=True)
    started = up(services)
    if args.action == "up":
        return 0
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("run needs a command after --")
    # Ctrl-C goes to the whole foreground group: the command handles it, we wait and then clean up.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    child = None
    try:
        child = subprocess.Popen(command, cwd=ROOT)
        return child.wait()
    except KeyboardInterrupt:
        if child is not None:
            child.send_signal(signal.SIGINT)
            try:
                return child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()
        return 130
    finally:
        down(started)


if __name__ == "__main__":
    sys.exit(main())
