"""Reading Bicep (and the other infra files) as text, for the infra tests: a file's text, and the
blocks the tests cut out of it. Not a test file: the test modules of tests/infra import it.

Two kinds of block:
- `balanced`: a brace- or bracket-balanced block (an object `{ ... }` or an array `[ ... ]`),
  nested blocks included;
- `declaration`: a top-level declaration (`resource`, `var`, `param`, `output`, `module`, a
  decorator), from its first line to the next top-level declaration, whatever its brackets.
"""

from __future__ import annotations

import re
from pathlib import Path

# A line that starts a top-level declaration: the end of the one before it.
_DECLARATION = re.compile(r"^(resource|var|param|output|module|@) ?", re.MULTILINE)
# The same, or a top-level comment line.
_DECLARATION_OR_COMMENT = re.compile(r"^(resource|var|param|output|module|@|//) ?", re.MULTILINE)


def text(path: Path) -> str:
    """The whole file, as UTF-8 text."""
    return path.read_text(encoding="utf-8")


def _closing(text: str, at: int) -> tuple[int, int] | None:
    """(opening, end) of the brace- or bracket-balanced block whose opening `{` or `[` is the first
    at or after index `at`: the block is text[opening:end]. None if it never closes. ValueError if
    there is no `{` or `[` at or after `at`."""
    opening = min(i for i in (text.find("{", at), text.find("[", at)) if i >= 0)
    closing = {"{": "}", "[": "]"}[text[opening]]
    depth = 0
    for i in range(opening, len(text)):
        depth += {text[opening]: 1, closing: -1}.get(text[i], 0)
        if depth == 0:
            return opening, i + 1
    return None


def balanced(text: str, at: int | str, *, from_at: bool = False) -> str:
    """The brace- or bracket-balanced block whose opening `{` or `[` is the first at or after `at`
    (an index, or a string: its first occurrence, e.g. `balanced(text, "rules: [")`), from that
    opening to the matching `}` or `]`; with `from_at`, from `at` itself instead, so that a
    declaration found at `at` comes whole, its head (`resource x '...' = `) included.
    ValueError if a string `at` is not in the text or no `{` or `[` follows; AssertionError if the
    block never closes."""
    index = text.index(at) if isinstance(at, str) else at
    span = _closing(text, index)
    if span is None:
        raise AssertionError(f"unbalanced block after {at!r}" if isinstance(at, str) else "unbalanced block")
    opening, end = span
    return text[index if from_at else opening:end]


def declaration(text: str, start: str, stop_at_comments: bool = False) -> str:
    """The top-level declaration that begins at the first occurrence of `start`, from there to the
    next line starting a top-level declaration (`resource`, `var`, `param`, `output`, `module`, a
    `@` decorator) or, with `stop_at_comments`, a `//` comment line; to the end of the text if none
    follows. ValueError if `start` is not in the text."""
    begin = text.index(start)
    pattern = _DECLARATION_OR_COMMENT if stop_at_comments else _DECLARATION
    following = pattern.search(text[begin + len(start):])
    return text[begin:begin + len(start) + following.start()] if following else text[begin:]
