"""Local settings for `make run`, which never hold a secret from the repo.

    python tools/local_settings.py ensure     # create or complete local.settings.json
    python tools/local_settings.py hash KEY   # the SHA-256 a platform key is configured as

`ensure` copies local.settings.example.json (emulator values only) to the git-ignored
local.settings.json, adds any setting the example gained since, and generates this machine's own
token signing key once. The platform key's hash is given by `make run` from
VOICEMAIL_PLATFORM_KEY (default `local-dev-key`), so no key is ever written down.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def ensure(root: Path = ROOT) -> Path:
    example = json.loads((root / "local.settings.example.json").read_text())
    target = root / "local.settings.json"
    current = json.loads(target.read_text()) if target.exists() else {"IsEncrypted": False, "Values": {}}
    values = current.setdefault("Values", {})
    for name, value in example["Values"].items():
        values.setdefault(name, value)
    values.setdefault("TOKEN_SIGNING_KEY", base64.b64encode(secrets.token_bytes(32)).decode())
    target.write_text(json.dumps(current, indent=2) + "\n")
    return target


def main(argv: list[str]) -> int:
    if argv[:1] == ["ensure"]:
        ensure()
        return 0
    if argv[:1] == ["hash"] and len(argv) == 2:
        print(hashlib.sha256(argv[1].encode()).hexdigest())
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
