"""The README's "First five minutes" commands, run exactly as written, against a live local host."""

from __future__ import annotations

import json
import re
import subprocess

import pytest

from tests.integration.api_support import new_mailbox_id
from tests.support import PLATFORM_KEY, ROOT

pytestmark = pytest.mark.integration


def quickstart_script() -> str:
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"<!-- quickstart:begin -->\s*```sh\n(.*?)```\s*<!-- quickstart:end -->", readme, re.S)
    assert block, "README.md lost its quickstart block"
    return block.group(1)


def test_readme_quickstart_runs_as_written(product, tmp_path):
    host, api = product
    (tmp_path / "samples").symlink_to(ROOT / "samples")
    mailbox = new_mailbox_id()
    env = {"API": f"{host.base_url}/api", "VOICEMAIL_API_KEY": PLATFORM_KEY, "MBX": mailbox.replace("+", "%2B"),
           "PATH": "/usr/bin:/bin:/usr/local/bin"}
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", quickstart_script()], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    outputs = [line for line in result.stdout.splitlines() if line.startswith("{")]
    provisioned, listing, mailbox_doc, heard = (json.loads(line) for line in outputs)
    assert provisioned["id"] == mailbox
    message_id = re.search(r"^message (\w+)$", result.stdout, re.M).group(1)
    assert [m["id"] for m in listing["items"]] == [message_id]
    assert mailbox_doc["counts"]["new"] == 1
    assert heard["heard"] is True and heard["id"] == message_id
    assert (tmp_path / "message.wav").read_bytes() == (ROOT / "samples" / "hello.wav").read_bytes()
    assert api.http.get(api.mailbox_path(mailbox), headers={"x-api-key": PLATFORM_KEY}).json()["counts"]["new"] == 0
