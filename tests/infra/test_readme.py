"""The README a newcomer reads: self-contained (every link inside the repository), small, the two
commands first, "Deploy to Azure" near the top in at most 8 commands, the CLI put on PATH, one
name for the platform key, the reference in docs/ reachable from its table."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"


def _sections() -> list[str]:
    return re.findall(r"^## (.+)$", README.read_text(encoding="utf-8"), re.MULTILINE)


def _section(title: str) -> str:
    text = README.read_text(encoding="utf-8")
    return text.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


def test_small_and_self_contained():
    text = README.read_text(encoding="utf-8")
    assert len(text.encode()) < 25 * 1024
    assert "../" not in text, "a path outside the repository"
    links = re.findall(r"\]\(([^)]+)\)", text)
    assert links
    for link in links:
        assert not re.match(r"[a-z]+:", link), f"a link outside the repository: {link}"
        assert (ROOT / link.split("#")[0]).exists(), f"a dead link: {link}"


def test_the_two_commands_then_deploy_near_the_top():
    sections = _sections()
    assert sections[0] == "The two commands"
    assert sections.index("Deploy to Azure") <= 2
    commands = [line for line in re.search(r"```sh\n(.*?)```", _section("Deploy to Azure"), re.S).group(1)
                .splitlines() if line.strip() and not line.startswith("#")]
    assert 1 <= len(commands) <= 8, commands
    assert "azd up" in commands
    assert (ROOT / "azure.yaml").exists()  # azd up runs from the root


def test_the_cli_is_put_on_path_and_the_platform_key_has_one_name():
    text = README.read_text(encoding="utf-8")
    assert ". .venv/bin/activate" in _section("The CLI")
    assert "VOICEMAIL_PLATFORM_KEY" not in text and "$PLATFORM_KEY" not in text
    assert "VOICEMAIL_API_KEY" in _section("First five minutes") and "VOICEMAIL_API_KEY" in _section("Deploy to Azure")


def test_every_reference_doc_is_in_the_table():
    table = _section("Reference (docs/)")
    for doc in sorted((ROOT / "docs").glob("*.md")):
        assert f"(docs/{doc.name})" in table, f"docs/{doc.name} is not in the README's reference table"
