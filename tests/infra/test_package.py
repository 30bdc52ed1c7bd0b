"""The deployment package, built as the deploy builds it (ops/package.py: the project folder minus
.funcignore, which replaces azd's and Core Tools' defaults): the app and nothing else."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import pytest

from ops.package import ROOT, build, package_files

# Everything the app needs at run time, and where anything else in the package would have to live.
REQUIRED = {"function_app.py", "host.json", "requirements.txt", "constraints.txt", "functions/health.py",
            "shared/config.py", "shared/bootstrap.py"}
ALLOWED_TOP = {"function_app.py", "host.json", "requirements.txt", "constraints.txt", "functions", "shared"}
FORBIDDEN_PARTS = {"tests", "bench", "ops", "devstack", "samples", "docs", "infra", "client", "node_modules", "patches",
                   "__pycache__", ".pytest_cache", ".ruff_cache", ".localstack", ".azure", ".git", ".ci"}


def _problems(names: list[str]) -> list[str]:
    bad = []
    for name in names:
        parts = name.split("/")
        if (parts[0] not in ALLOWED_TOP or FORBIDDEN_PARTS & set(parts) or any(p.startswith(".venv") for p in parts)
                or name.endswith((".pyc", ".wav", ".md")) or "local.settings" in name):
            bad.append(name)
    return bad


def test_the_package_is_the_app_and_nothing_else(tmp_path):
    names = build(tmp_path / "app.zip")
    assert set(names) >= REQUIRED, sorted(REQUIRED - set(names))
    assert not _problems(names), _problems(names)
    with zipfile.ZipFile(tmp_path / "app.zip") as archive:
        assert sorted(archive.namelist()) == names
    # Code only, and the one data file the app reads at run time (the backups' windows, which the Bicep loads too).
    assert all(name.endswith(".py") or name == "shared/backups.json"
               for name in names if name.startswith(("functions/", "shared/")))
    assert "shared/backups.json" in names


@pytest.fixture
def cluttered(tmp_path) -> Path:
    """A copy of the app with what a working copy accumulates: venvs of every kind (some linked),
    caches, lock venvs, benchmark results, samples, azd environments, a local settings file."""
    root = tmp_path / "repo"
    root.mkdir()
    for name in (".funcignore", "function_app.py", "host.json", "requirements.txt", "constraints.txt"):
        shutil.copy(ROOT / name, root / name)
    for package in ("functions", "shared"):
        shutil.copytree(ROOT / package, root / package, ignore=shutil.ignore_patterns("__pycache__"))
    clutter = [".venv/lib/site.py", ".venv-infra/bin/checkov", ".venv-lock/lib/x.py", ".venv-infra-lock/x.py",
               "venv/lib/y.py", "shared/__pycache__/config.cpython-311.pyc", "functions/stale.pyc",
               ".pytest_cache/v/cache", ".ruff_cache/0.1/x", ".hypothesis/examples/a", ".python_packages/lib/z.py",
               "samples/hello.wav", "message.wav", "bench/results/api_throughput.json", "bench/common.py",
               "tests/unit/test_x.py", "devstack/regions.py", "ops/release.py", "docs/api.md", "README.md",
               "infra/main.bicep", "azure.yaml", ".azure/dev/.env", "local.settings.json",
               "local.settings.example.json", "node_modules/x/index.js", ".localstack/azurite/data",
               "client/voicemail_client/__init__.py",
               "requirements-dev.txt", "constraints-infra.txt", "Makefile", "pyproject.toml", ".vscode/settings.json"]
    for name in clutter:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("x")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "python").write_text("x")
    (root / ".venv-linked").symlink_to(tmp_path / "elsewhere")  # the worktrees' venvs are links
    return root


def test_clutter_of_a_working_copy_stays_out(cluttered):
    names = package_files(cluttered)
    assert not _problems(names), _problems(names)
    assert set(names) >= REQUIRED


def test_the_release_reads_its_stamps_from_the_azd_outputs():
    """ops/release.py's stamps, from what main.bicep outputs into the azd environment, in region order."""
    from ops.release import ReleaseError, Stamp, stamps_from_env

    env = {"REGIONS": "westeurope,northeurope", "API_ENDPOINTS": "https://a/api,https://b/api",
           "AZURE_FUNCTION_APP_NAMES": "func-a,func-b", "STORAGE_ACCOUNT_NAMES": "sta,stb"}
    assert stamps_from_env(env) == [Stamp("westeurope", "https://a/api", "func-a", "sta"),
                                    Stamp("northeurope", "https://b/api", "func-b", "stb")]
    with pytest.raises(ReleaseError, match="REGIONS and API_ENDPOINTS"):
        stamps_from_env({"REGIONS": "westeurope,northeurope", "API_ENDPOINTS": "https://a/api"})


def test_the_release_waits_for_the_build_the_package_holds(tmp_path):
    """The build id /api/health reports is computed from the package's files alone: the same from
    the tree and from the unzipped package (what runs in Azure)."""
    from shared.build_info import build_id

    build(tmp_path / "app.zip")
    with zipfile.ZipFile(tmp_path / "app.zip") as archive:
        archive.extractall(tmp_path / "unzipped")
    assert build_id(tmp_path / "unzipped") == build_id(ROOT)
