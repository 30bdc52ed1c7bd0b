"""How shared/config.py reads its settings: `Environment`, the pydantic-settings source that reads each
setting by its name (a field's alias) into the groups; the value types settings share (a URL, a key,
a list); and `ConfigError`, which names every setting that is missing, malformed or unresolved."""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlparse

from pydantic import AfterValidator, BaseModel, BeforeValidator, ValidationError
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

KEY_VAULT_REFERENCE = "@Microsoft.KeyVault("
UNRESOLVED = "a Key Vault reference the platform has not resolved"


@dataclass(frozen=True)
class Problem:
    """One bad setting: its name, `missing`, `malformed` or `unresolved`, and why (never its value)."""

    setting: str
    problem: str
    detail: str = ""

    @property
    def public(self) -> str:
        return f"setting {self.setting} is {self.problem}"

    def __str__(self) -> str:
        return self.public + (f": {self.detail}" if self.detail else "")


class ConfigError(RuntimeError):
    """Settings are missing, malformed or unresolved; the message names every one of them.

    `public` names each setting and what is wrong with it, never its value (safe for anonymous callers).
    """

    def __init__(self, problems: Sequence[Problem]):
        self.problems = tuple(problems)
        self.setting, self.problem = self.problems[0].setting, self.problems[0].problem
        super().__init__("; ".join(map(str, self.problems)))

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.setting for p in self.problems)

    @property
    def public(self) -> str:
        return "; ".join(p.public for p in self.problems)


class Unresolved:
    """What the source passes for a Key Vault reference left in place (the identity's role not
    propagated yet, a deleted secret): never a usable value, so every field type refuses it."""

    def __repr__(self) -> str:
        return "<unresolved>"


def _is_group(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


class Environment(PydanticBaseSettingsSource):
    """Each field's setting by its alias from env (the process environment by default), stripped (a
    blank one is unset), into the field's group; an alias ending in `__` is a prefix: a dict of
    every setting named with it, by the rest of the name (PEER_STORAGE__<region>)."""

    def __init__(self, settings_cls: type[BaseSettings], env: Mapping[str, str] | None = None):
        super().__init__(settings_cls)
        self.env = os.environ if env is None else env

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self._read(field.alias or field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return self._values(self.settings_cls)

    def _values(self, model: type[BaseModel]) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name, field in model.model_fields.items():
            if _is_group(field.annotation):
                values[name] = self._values(field.annotation)
            elif field.alias and field.alias.endswith("__"):
                values[field.alias] = {key.removeprefix(field.alias): value for key in self.env
                                       if key.startswith(field.alias) and (value := self._read(key)) is not None}
            elif field.alias and (value := self._read(field.alias)) is not None:
                values[field.alias] = value
        return values

    def _read(self, name: str) -> str | Unresolved | None:
        value = (self.env.get(name) or "").strip()
        return Unresolved() if value.startswith(KEY_VAULT_REFERENCE) else value or None


def problems(error: ValidationError, groups: Sequence[str]) -> list[Problem]:
    """Each bad setting once, in the order of the fields: unresolved, else malformed, else missing."""
    found: dict[str, Problem] = {}
    rank = {"missing": 0, "malformed": 1, "unresolved": 2}
    for item in error.errors(include_url=False):
        loc, ctx = [str(part) for part in item["loc"]], item.get("ctx") or {}
        loc = loc[1:] if len(loc) > 1 and loc[0] in groups else loc
        name = ctx.get("setting") or (loc[0] + loc[1] if loc[0].endswith("__") and len(loc) > 1 else loc[0])
        if isinstance(item.get("input"), Unresolved):
            found_now = Problem(name, "unresolved", UNRESOLVED)
        elif item["type"] == "missing":
            found_now = Problem(name, "missing", ctx.get("detail", ""))
        else:
            found_now = Problem(name, "malformed", ctx.get("detail") or item["msg"].removeprefix("Value error, "))
        if name not in found or rank[found_now.problem] > rank[found[name].problem]:
            found[name] = found_now
    return list(found.values())


def missing(setting: str, detail: str = "") -> PydanticCustomError:
    """A setting required by another's value (the error of the field that needs it)."""
    return PydanticCustomError("missing", "{setting} is required", {"setting": setting, "detail": detail})


def malformed(detail: str, setting: str | None = None) -> PydanticCustomError:
    ctx = {"detail": detail} | ({"setting": setting} if setting else {})
    return PydanticCustomError("malformed", "{detail}", ctx)


def _url(value: str) -> str:
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise malformed("not an http(s) URL")
    return value


def _key(value: Any) -> Any:
    if not isinstance(value, str):
        return value  # refused as bytes: an unresolved reference
    try:
        key = base64.b64decode(value, validate=True)
    except ValueError:
        raise malformed("not base64") from None
    if len(key) < 32:
        raise malformed("at least 32 bytes of key are needed")
    return key


def comma_list(value: Any) -> Any:
    """The names in a comma-separated setting, blanks dropped (anything else as it is)."""
    return [part.strip() for part in value.split(",") if part.strip()] if isinstance(value, str) else value


Url = Annotated[str, AfterValidator(_url)]  # http(s), kept as written
Key = Annotated[bytes, BeforeValidator(_key)]  # base64 of 32 bytes or more
Listed = BeforeValidator(comma_list)
