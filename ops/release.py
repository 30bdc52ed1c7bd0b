"""Rolling, zero-downtime release across the regional stamps: one stamp at a time,

    drain → wait until the router has moved its traffic → deploy the API app → wait until ready on
    the new build (`/api/health` reports it) → undrain → wait until it serves → deploy the stamp's
    management app (same package) → wait until it runs the new build → next stamp.

The management app (APP_ROLE=management: timers, orchestrations, admin routes, the change feed) takes
no client traffic, so it is deployed once its stamp's API app serves again: the drain covers only
what the router sends, and a management app that fails to come up stops the release without
keeping its region's API out of rotation. A failure stops the release where it is: a stamp whose API
app failed stays drained (out of rotation; the others carry the load, as the N+1 sizing intends,
docs/capacity.md) and the stamps after it are not touched. The one script for the azd hooks
(infra/scripts/) and for operators:

    python3 ops/release.py roll                      # every stamp of the azd environment
    python3 ops/release.py roll --skip westeurope    # all but one (postdeploy: azd did that one)
    python3 ops/release.py drain westeurope          # drain one and wait for the router (predeploy)
    python3 ops/release.py undrain westeurope        # wait until ready on this build, undrain, then wait
                                                     # for its management app's build (postdeploy: azd
                                                     # deployed both)

Stamps come from the azd environment's outputs (REGIONS, AZURE_FUNCTION_APP_NAMES, API_ENDPOINTS,
AZURE_MANAGEMENT_APP_NAMES, MANAGEMENT_ENDPOINTS, STORAGE_ACCOUNT_NAMES, AZURE_RESOURCE_GROUP), or
from --stamps (JSON: [{region, endpoint, ...}]). Each action is a command template (fields: {region}
{app} {endpoint} {storage} {resource_group} {package} {python}; {app} is the management app's name
when the management app is deployed); the defaults use the Azure CLI (`az login`). With
PRIVATE_NETWORKING=true (storage takes no public traffic, so the drain blob can't be written from
here) the drain is the DRAIN app setting of the API app instead. The local test gives its own:
ops/drain.py against the emulators, and a no-op or a restart as the deploy.

Standard library only (and shared/build_info.py), so the hooks run it with any python3.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from shared.build_info import build_id  # noqa: E402 - after the path, so any python3 finds it

AZ_DRAIN = ("az storage blob upload --auth-mode login --only-show-errors --overwrite --account-name {storage} "
            "--container-name ops --name drain/{region} --data drained-by-release")
AZ_UNDRAIN = ("az storage blob delete --auth-mode login --only-show-errors --account-name {storage} "
              "--container-name ops --name drain/{region}")
# Private networking: the same switch as an app setting (shared/config.py DRAIN); the app restarts.
AZ_DRAIN_SETTING = ("az functionapp config appsettings set --only-show-errors --output none "
                    "--resource-group {resource_group} --name {app} --settings DRAIN=true")
AZ_UNDRAIN_SETTING = ("az functionapp config appsettings set --only-show-errors --output none "
                      "--resource-group {resource_group} --name {app} --settings DRAIN=false")
AZ_DEPLOY = ("az functionapp deployment source config-zip --resource-group {resource_group} --name {app} "
             "--src {package} --build-remote true")
# Front Door probes every 30 s and judges on 4 samples (frontdoor.bicep); Traffic Manager every 30 s,
# 3 failures tolerated. Either has moved the traffic within 4 intervals of the first 503.
ROUTER_WAIT_S = 4 * 30


class ReleaseError(RuntimeError):
    """A step failed: the message names the stamp and the step."""


@dataclass(frozen=True)
class Stamp:
    region: str
    endpoint: str  # https://…/api
    app: str = ""
    storage: str = ""
    management: str = ""  # the management app's name; empty: none to release
    management_endpoint: str = ""  # https://…/api of the management app; empty: not waited for


@dataclass(frozen=True)
class Plan:
    stamps: list[Stamp]
    drain: str
    undrain: str
    deploy: str
    build: str
    package: str = ""
    resource_group: str = ""
    router_wait_s: float = ROUTER_WAIT_S
    ready_timeout_s: float = 600.0
    poll_s: float = 2.0


def get_json(url: str, timeout: float = 10.0) -> tuple[int, dict]:
    """(status, body) of a GET; (0, {}) when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - our own endpoints
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        try:
            return error.code, json.loads(error.read() or b"{}")
        except ValueError:
            return error.code, {}
    except (OSError, ValueError):
        return 0, {}


def ready(stamp: Stamp) -> bool:
    return get_json(f"{stamp.endpoint}/health/ready")[0] == 200


def would_serve(stamp: Stamp) -> bool:
    """Readiness says: ready, or drained with every dependency check passing (ready once undrained)."""
    status, body = get_json(f"{stamp.endpoint}/health/ready")
    checks = body.get("checks") or {}
    return status == 200 or (status == 503 and body.get("drained") is True and bool(checks) and all(
        check.get("status") == "ok" for check in checks.values()))


def wait(predicate: Callable[[], bool], timeout_s: float, poll_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise ReleaseError(f"timed out after {timeout_s:g} s waiting for {what}")
        time.sleep(poll_s)


def log(message: str) -> None:
    print(f"release: {message}", flush=True)


class Release:
    def __init__(self, plan: Plan, run: Callable[[list[str]], int] | None = None):
        self.plan = plan
        self._run = run or (lambda argv: subprocess.run(argv, check=False).returncode)

    def command(self, template: str, stamp: Stamp, step: str, app: str | None = None) -> None:
        fields = {"region": stamp.region, "app": stamp.app if app is None else app, "endpoint": stamp.endpoint,
                  "storage": stamp.storage,
                  "resource_group": self.plan.resource_group, "package": self.plan.package,
                  "python": sys.executable}
        argv = shlex.split(template.format(**fields))
        log(f"{stamp.region}: {step}: {shlex.join(argv)}")
        code = self._run(argv)
        if code != 0:
            raise ReleaseError(f"{stamp.region}: {step} failed (exit {code})")

    def drain(self, stamp: Stamp) -> None:
        others = [s for s in self.plan.stamps if s != stamp]
        if others and ready(stamp):
            # One readiness probe can fail on a busy stamp: wait for another to serve (as long as the
            # release waits for anything) before refusing to take the last one out of rotation.
            try:
                wait(lambda: any(ready(other) for other in others), self.plan.ready_timeout_s, self.plan.poll_s,
                     "another region to serve")
            except ReleaseError:
                raise ReleaseError(f"{stamp.region}: not drained: it is the only region serving") from None
        serving = ready(stamp)
        self.command(self.plan.drain, stamp, "drain")
        # What the router's probes see: 503, drained (or nothing answering: a stamp never deployed).
        wait(lambda: not ready(stamp), self.plan.ready_timeout_s, self.plan.poll_s, f"{stamp.region} to report drained")
        if serving:  # a stamp that served nothing has no traffic to move
            log(f"{stamp.region}: drained; waiting {self.plan.router_wait_s:g} s for the router to move its traffic")
            time.sleep(self.plan.router_wait_s)

    def deploy(self, stamp: Stamp) -> None:
        self.command(self.plan.deploy, stamp, "deploy")

    def on_build(self, endpoint: str) -> bool:
        status, body = get_json(f"{endpoint}/health")
        return status == 200 and body.get("build") == self.plan.build

    def undrain(self, stamp: Stamp) -> None:
        wait(lambda: self.on_build(stamp.endpoint), self.plan.ready_timeout_s, self.plan.poll_s,
             f"{stamp.region} to run build {self.plan.build}")
        wait(lambda: would_serve(stamp), self.plan.ready_timeout_s, self.plan.poll_s,
             f"{stamp.region}'s dependencies to answer")
        log(f"{stamp.region}: build {self.plan.build} is up and its dependencies answer")
        self.command(self.plan.undrain, stamp, "undrain")
        wait(lambda: ready(stamp), self.plan.ready_timeout_s, self.plan.poll_s, f"{stamp.region} to be ready")
        log(f"{stamp.region}: ready and serving")

    def management(self, stamp: Stamp, deploy: bool = True) -> None:
        """The stamp's management app, after its API app serves the build again: deploy the same
        package (unless azd just did), then wait until it runs the build and its dependencies answer."""
        if not stamp.management:
            return
        if deploy:
            self.command(self.plan.deploy, stamp, "deploy management", app=stamp.management)
        if not stamp.management_endpoint:
            return
        target = Stamp(stamp.region, stamp.management_endpoint)
        wait(lambda: self.on_build(target.endpoint), self.plan.ready_timeout_s, self.plan.poll_s,
             f"{stamp.region}'s management app to run build {self.plan.build}")
        wait(lambda: would_serve(target), self.plan.ready_timeout_s, self.plan.poll_s,
             f"{stamp.region}'s management app's dependencies to answer")
        log(f"{stamp.region}: management app runs build {self.plan.build}")

    def roll(self, skip: set[str] = frozenset()) -> None:
        for stamp in self.plan.stamps:
            if stamp.region in skip:
                continue
            self.drain(stamp)
            self.deploy(stamp)
            self.undrain(stamp)
            self.management(stamp)
        log(f"every stamp runs build {self.plan.build}")


def stamps_from_env(env: dict[str, str]) -> list[Stamp]:
    """The azd environment's outputs (main.bicep), one entry per region, in the same order."""
    def split(name: str) -> list[str]:
        return [value.strip() for value in env.get(name, "").split(",") if value.strip()]

    regions, endpoints = split("REGIONS"), split("API_ENDPOINTS")
    apps, storages = split("AZURE_FUNCTION_APP_NAMES"), split("STORAGE_ACCOUNT_NAMES")
    managements, management_endpoints = split("AZURE_MANAGEMENT_APP_NAMES"), split("MANAGEMENT_ENDPOINTS")
    if not regions or len(endpoints) != len(regions):
        raise ReleaseError("REGIONS and API_ENDPOINTS are missing or disagree: run from an azd environment "
                           "(`azd env get-values`) or give --stamps")

    def nth(values: list[str], i: int) -> str:
        return values[i] if i < len(values) else ""

    return [Stamp(region, endpoint, nth(apps, i), nth(storages, i), nth(managements, i),
                  nth(management_endpoints, i))
            for i, (region, endpoint) in enumerate(zip(regions, endpoints, strict=True))]


def switch_commands(env: dict[str, str]) -> tuple[str, str]:
    """The drain switch's commands: the blob in the stamp's `ops` container, or, when the storage
    accounts take no public traffic (main.bicep privateNetworking), the API app's DRAIN setting."""
    if env.get("PRIVATE_NETWORKING", "").strip().lower() == "true":
        return AZ_DRAIN_SETTING, AZ_UNDRAIN_SETTING
    return AZ_DRAIN, AZ_UNDRAIN


def parse(argv: list[str]) -> tuple[argparse.Namespace, Plan]:
    parser = argparse.ArgumentParser(prog="ops/release.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["roll", "drain", "undrain"])
    parser.add_argument("region", nargs="?", help="drain/undrain: the stamp's region")
    parser.add_argument("--skip", action="append", default=[], help="roll: leave this region out (repeatable)")
    parser.add_argument("--stamps", help='JSON [{"region", "endpoint", "app"?, "storage"?, "management"?, '
                        '"management_endpoint"?}]; default: azd outputs')
    parser.add_argument("--drain-cmd", help="default: the drain blob, or with PRIVATE_NETWORKING=true the DRAIN "
                                            "app setting")
    parser.add_argument("--undrain-cmd", help="default: as --drain-cmd")
    parser.add_argument("--deploy-cmd", default=AZ_DEPLOY, help="e.g. a restart or `true` locally")
    parser.add_argument("--package", default="", help="the zip the deploy command sends ({package})")
    parser.add_argument("--build", help="the build id to wait for; default: this tree's (shared/build_info.py)")
    parser.add_argument("--router-wait", type=float, default=ROUTER_WAIT_S, help="seconds after the drain shows")
    parser.add_argument("--ready-timeout", type=float, default=600.0)
    parser.add_argument("--poll", type=float, default=2.0)
    args = parser.parse_args(argv)
    if args.action != "roll" and not args.region:
        parser.error(f"{args.action} needs a region")
    env = dict(os.environ)
    stamps = ([Stamp(**entry) for entry in json.loads(args.stamps)] if args.stamps else stamps_from_env(env))
    drain_cmd, undrain_cmd = switch_commands(env)
    plan = Plan(stamps, args.drain_cmd or drain_cmd, args.undrain_cmd or undrain_cmd, args.deploy_cmd,
                args.build or build_id(ROOT),
                args.package, env.get("AZURE_RESOURCE_GROUP", ""), args.router_wait, args.ready_timeout, args.poll)
    return args, plan


def main(argv: list[str] | None = None) -> int:
    try:
        args, plan = parse(sys.argv[1:] if argv is None else argv)
        release = Release(plan)
        if args.action == "roll":
            release.roll(set(args.skip))
            return 0
        stamp = next((s for s in plan.stamps if s.region == args.region), None)
        if stamp is None:
            raise ReleaseError(f"no stamp in region {args.region}")
        if args.action == "drain":
            release.drain(stamp)
        else:  # after azd deployed both apps of the stamp: the API back in rotation, then its management app
            release.undrain(stamp)
            release.management(stamp, deploy=False)
        return 0
    except ReleaseError as error:
        log(f"STOPPED: {error}. Stamps after it are untouched; a drained stamp stays drained until "
            f"`ops/release.py undrain <region>` (or the drain switch) puts it back.")
        return 1


if __name__ == "__main__":
    sys.exit(main())
