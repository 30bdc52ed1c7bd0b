"""Build the deployment package as `azd deploy` (and `func azure functionapp publish`) build it:
every file of the project folder, minus what `.funcignore` lists (gitignore syntax; when the file
exists it replaces the tools' defaults), zipped with paths relative to the root.

    python -m ops.package [OUT.zip]     # default: .localstack/package/app.zip; prints the file list

tests/infra/test_package.py builds it and fails on venvs, tests, benches, caches or samples inside.
"""

from __future__ import annotations

import os
import sys
import zipfile
from pathlib import Path

import pathspec

ROOT = Path(__file__).resolve().parents[1]


def ignore_spec(root: Path = ROOT) -> pathspec.PathSpec:
    path = root / ".funcignore"
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    return pathspec.GitIgnoreSpec.from_lines(lines)


def package_files(root: Path = ROOT) -> list[str]:
    """The package's paths (posix, relative to root), sorted. A directory an ignore line matches is
    not entered; a symbolic link to a directory counts as a directory (the worktree's venvs are)."""
    spec = ignore_spec(root)
    kept: list[str] = []
    for folder, dirs, files in os.walk(root):
        relative = Path(folder).relative_to(root)
        for name in list(dirs):
            rel = (relative / name).as_posix()
            if spec.match_file(rel + "/") or (root / rel).is_symlink():
                if not spec.match_file(rel + "/"):
                    kept.extend(_linked(root, rel, spec))
                dirs.remove(name)
        kept.extend(rel for name in files if not spec.match_file(rel := (relative / name).as_posix()))
    return sorted(kept)


def _linked(root: Path, rel: str, spec: pathspec.PathSpec) -> list[str]:
    """A linked directory the ignore file does not exclude is packaged like any other."""
    found = []
    for folder, _dirs, files in os.walk(root / rel, followlinks=True):
        relative = Path(folder).relative_to(root)
        found.extend(p for name in files if not spec.match_file(p := (relative / name).as_posix()))
    return found


def build(out: Path, root: Path = ROOT) -> list[str]:
    names = package_files(root)
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in names:
            archive.write(root / name, name)
    return names


def main(argv: list[str]) -> int:
    out = Path(argv[0]) if argv else ROOT / ".localstack" / "package" / "app.zip"
    names = build(out)
    print("\n".join(names))
    print(f"{len(names)} files, {out.stat().st_size} bytes: {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
