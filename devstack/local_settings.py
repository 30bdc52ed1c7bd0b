"""Local settings for `make run`, which never hold a secret from the repo.

    python devstack/local_settings.py ensure     # create or complete local.settings.json
    python devstack/local_settings.py hash KEY   # the SHA-256 a platform key is configured as

`ensure` copies local.settings.example.json (emulator values, and nothing that restates a default)
to the git-ignored local.settings.json, adds any setting the example gained since, the settings the
Functions host resolves itself (`%NAME%`, from shared/config.py's DEFAULTS), generates this machine's own
token signing key and PIN pepper once, and PLATFORM_KEY_HASHES: the hash of VOICEMAIL_API_KEY (default
`local-dev-key`) and OPERATOR_KEY_HASHES: of VOICEMAIL_OPERATOR_KEY (default `local-operator-key`),
so `func start` works from this file alone. Only the hash is written down;
`make run` passes the hash of the current VOICEMAIL_API_KEY, which wins over the file.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from shared.config import DEFAULTS, HOST_RESOLVED  # noqa: E402 - run by the venv's python (pydantic-settings)

LOCAL_KEY = "local-dev-key"
LOCAL_OPERATOR_KEY = "local-operator-key"


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def ensure(root: Path = ROOT) -> Path:
    example = json.loads((root / "local.settings.example.json").read_text())
    target = root / "local.settings.json"
    current = json.loads(target.read_text()) if target.exists() else {"IsEncrypted": False, "Values": {}}
    values = current.setdefault("Values", {})
    for name, value in example["Values"].items():
        values.setdefault(name, value)
    # What the Functions host resolves itself (%NAME%): set, from config.py's one table of defaults.
    for name in HOST_RESOLVED:
        values.setdefault(name, DEFAULTS[name])
    values.setdefault("TOKEN_SIGNING_KEY", base64.b64encode(secrets.token_bytes(32)).decode())
    values.setdefault("PIN_PEPPER", base64.b64encode(secrets.token_bytes(32)).decode())
    values.setdefault("PLATFORM_KEY_HASHES", key_hash(os.environ.get("VOICEMAIL_API_KEY") or LOCAL_KEY))
    values.setdefault("OPERATOR_KEY_HASHES", key_hash(os.environ.get("VOICEMAIL_OPERATOR_KEY") or LOCAL_OPERATOR_KEY))
    target.write_text(json.dumps(current, indent=2) + "\n")
    return target


def main(argv: list[str]) -> int:
    if argv[:1] == ["ensure"]:
        ensure()
        return 0
    if argv[:1] == ["hash"] and len(argv) == 2:
        print(key_hash(argv[1]))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
