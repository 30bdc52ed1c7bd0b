"""How shared/config.py reads one setting: present or not, a Key Vault reference left unresolved, a
URL, a number within bounds, a flag, a value matching its pattern. Every failure is a `ConfigError`
naming the setting."""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import urlparse

KEY_VAULT_REFERENCE = "@Microsoft.KeyVault("
_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off", ""}


class ConfigError(RuntimeError):
    """A setting is missing, malformed or unresolved; the message names it.

    `public` names the setting and what is wrong with it, never its value (safe for anonymous callers).
    """

    def __init__(self, setting: str, problem: str = "missing", detail: str = ""):
        self.setting, self.problem = setting, problem
        super().__init__(f"setting {setting} is {problem}" + (f": {detail}" if detail else ""))

    @property
    def public(self) -> str:
        return f"setting {self.setting} is {self.problem}"


class Reader:
    """Each setting by name from env, stripped; `defaults` fill in what is not set."""

    def __init__(self, env: Mapping[str, str], defaults: Mapping[str, str]):
        self._env, self._defaults = env, defaults

    def raw(self, name: str) -> str | None:
        value = self._env.get(name)
        if value is not None and value.strip().startswith(KEY_VAULT_REFERENCE):
            # What the platform leaves in place while it cannot read the secret (the identity's role
            # not propagated yet, a deleted secret): never a usable value.
            raise ConfigError(name, "unresolved", "a Key Vault reference the platform has not resolved")
        return value.strip() if value is not None and value.strip() else None

    def required(self, name: str) -> str:
        value = self.raw(name)
        if value is None:
            raise ConfigError(name)
        return value

    def matching(self, name: str, pattern: re.Pattern[str]) -> str:
        value = self.raw(name) or self._defaults.get(name)
        if value is None:
            raise ConfigError(name)
        if not pattern.fullmatch(value):
            raise ConfigError(name, "malformed", f"{value!r} does not match {pattern.pattern}")
        return value

    def optional(self, name: str, pattern: re.Pattern[str]) -> str | None:
        """The setting when set (matching pattern), else None."""
        return None if self.raw(name) is None else self.matching(name, pattern)

    def url(self, name: str, required: bool = True) -> str | None:
        value = self.required(name) if required else self.raw(name)
        if value is None:
            return None
        parsed = urlparse(value)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ConfigError(name, "malformed", f"{value!r} is not an http(s) URL")
        return value

    def number(self, name: str, low: float, high: float) -> float:
        value = self.raw(name) or self._defaults[name]
        try:
            number = float(value)
        except ValueError:
            raise ConfigError(name, "malformed", f"{value!r} is not a number") from None
        if not low <= number <= high:
            raise ConfigError(name, "malformed", f"{value} is outside [{low}, {high}]")
        return number

    def flag(self, name: str) -> bool:
        value = self.raw(name) or self._defaults[name]
        if value.lower() in _TRUE:
            return True
        if value.lower() in _FALSE:
            return False
        raise ConfigError(name, "malformed", f"{value!r} is not true or false")


def peer_storage(read: Reader, region: str, regions: list[str]) -> dict[str, str]:
    """PEER_STORAGE__<region> of each other region that has one: a connection string or blob URL."""
    peers = {}
    for peer in regions:
        if peer == region:
            continue
        value = read.raw(f"PEER_STORAGE__{peer}")
        if value is None:
            continue  # a region without a reachable account is simply not replicated to
        if not (value.startswith("https://") or value.startswith("http://") or "AccountName=" in value):
            raise ConfigError(f"PEER_STORAGE__{peer}", "malformed", "a connection string or blob service URL")
        peers[peer] = value
    return peers
