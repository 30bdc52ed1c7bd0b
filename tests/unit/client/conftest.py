"""This checkout's client, whichever checkout the virtual environment installed (as tests/integration/test_cli.py
runs it): its tests test the code beside them."""

from __future__ import annotations

import sys

from tests.support import ROOT

if "voicemail_client" not in sys.modules:
    sys.path.insert(0, str(ROOT / "client"))
