"""python -m devstack.localhost [--script-root DIR] [--port 7071]: serve a Functions app locally."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from pathlib import Path

from devstack.localhost.invoker import invocation_id


class _InvocationFilter(logging.Filter):
    """Region and invocation id on every record, as Application Insights has them in Azure."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.region = os.environ.get("REGION", "-")
        record.invocation_id = invocation_id.get()
        return True


def _configure_logging(level: str) -> None:
    handler = logging.StreamHandler()
    handler.addFilter(_InvocationFilter())
    handler.setFormatter(logging.Formatter(
        "%(asctime)s %(levelname)s [%(region)s %(invocation_id)s] %(name)s: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler])
    logging.getLogger("azure").setLevel(logging.WARNING)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.localhost", description=__doc__)
    parser.add_argument("--script-root", type=Path, default=Path.cwd(), help="folder of function_app.py and host.json")
    parser.add_argument("--settings", type=Path, help="a local.settings.json (default: the script root's, if any)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("FUNCTIONS_HTTPWORKER_PORT", "7071")))
    parser.add_argument("--provision", action="store_true",
                        help="first create the app's database, containers and queues (devstack/provision.py)")
    parser.add_argument("--log-level", default=os.environ.get("LOCALHOST_LOG_LEVEL", "INFO"))
    args = parser.parse_args(argv)
    _configure_logging(args.log_level.upper())

    script_root = args.script_root.resolve()
    settings_file = args.settings or script_root / "local.settings.json"
    if settings_file.exists():
        from devstack.localhost.loader import load_settings_file

        load_settings_file(settings_file)
    os.chdir(script_root)
    if args.provision:
        from devstack.provision import provision
        from shared.config import ConfigError

        with contextlib.suppress(ConfigError):  # a bad setting: start-up below fails, naming it
            provision(os.environ)

    from devstack.localhost.host import Host
    from devstack.localhost.loader import HostConfig, load_app

    try:
        _, specs = load_app(script_root)
        host = Host(specs, HostConfig.read(script_root / "host.json"), script_root)
    except Exception as error:  # noqa: BLE001 - start-up fails loudly, naming the cause
        print(f"start-up failed: {type(error).__name__}: {error}", file=sys.stderr, flush=True)
        return 1

    import uvicorn

    base_url = f"http://{args.host}:{args.port}"
    host.base_url = base_url
    print(f"Functions ({os.environ.get('REGION', '-')}, host id {host.host_id}):", flush=True)
    print("\n".join(host.describe(base_url)), flush=True)
    # httptools parses a request in C: h11 (uvicorn's pure-Python fallback) was a tenth of the host's CPU.
    config = uvicorn.Config(host.frontend, host=args.host, port=args.port, lifespan="on", log_level="warning",
                            http="httptools",
                            access_log=False, timeout_graceful_shutdown=10,
                            proxy_headers=False)  # the real peer: http_server.py appends it to X-Forwarded-For
    server = uvicorn.Server(config)
    server.run()
    return 0 if server.started else 1


if __name__ == "__main__":
    sys.exit(main())
