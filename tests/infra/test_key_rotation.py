"""Rotating the token signing key, and the PIN pepper (issue 23): TOKEN_SIGNING_KEY_PREVIOUS, which config.py reads, is
a Key Vault reference in every stamp like TOKEN_SIGNING_KEY, to a secret that always exists (the
current key again outside a rotation, never empty), readable by the stamps through its own role
assignment; the app accepts each key once; the runbook is in docs/operations.md."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

from shared.config import load_settings
from tests.infra import bicep_text as bicep
from tests.infra.test_infra import SAMPLE_VALUES

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
MAIN, GLOBAL = INFRA / "main.bicep", INFRA / "modules" / "global.bicep"
STAMP, RBAC = INFRA / "modules" / "stamp.bicep", INFRA / "modules" / "rbac.bicep"


def test_the_stamp_reads_the_previous_key_through_a_key_vault_reference():
    stamp = bicep.text(STAMP)
    settings = bicep.balanced(stamp, "var baseSettings = [")
    assert ("{ name: 'TOKEN_SIGNING_KEY_PREVIOUS', value: "
            "'@Microsoft.KeyVault(SecretUri=${tokenSigningKeyPreviousSecretUri})' }") in settings
    assert re.search(r"^param tokenSigningKeyPreviousSecretUri string$", stamp, re.MULTILINE)
    stamps = bicep.declaration(bicep.text(MAIN), "module stamps ")
    assert "tokenSigningKeyPreviousSecretUri: global.outputs.tokenSigningKeyPreviousSecretUri" in stamps


def test_the_previous_secret_always_exists_and_is_never_empty():
    glob = bicep.text(GLOBAL)
    secret = bicep.declaration(glob, "resource tokenSigningKeyPreviousSecret ")
    assert "name: 'token-signing-key-previous'" in secret and "parent: vault" in secret
    assert "if (" not in secret.split("{", 1)[0]  # not conditional: its reference always resolves
    # Outside a rotation it holds the current key: the reference never resolves to an empty value.
    assert "value: empty(tokenSigningKeyPrevious) ? tokenSigningKey : tokenSigningKeyPrevious" in secret
    assert "output tokenSigningKeyPreviousSecretUri string = tokenSigningKeyPreviousSecret.properties.secretUri" in glob


def test_the_previous_key_is_a_secure_parameter_from_the_azd_environment():
    main = bicep.text(MAIN)
    assert re.search(r"@secure\(\)\n@description\('The signing key being rotated out[^\n]*\)\n"
                     r"param tokenSigningKeyPrevious string = ''\n", main)
    assert "tokenSigningKeyPrevious: tokenSigningKeyPrevious" in bicep.declaration(main, "module global ")
    glob = bicep.text(GLOBAL)
    assert re.search(r"@secure\(\)\n@description\([^\n]*\)\nparam tokenSigningKeyPrevious string\n", glob)
    parameters = json.loads((INFRA / "main.parameters.json").read_text(encoding="utf-8"))["parameters"]
    assert parameters["tokenSigningKeyPrevious"]["value"] == "${TOKEN_SIGNING_KEY_PREVIOUS=}"


def test_the_stamps_may_read_the_previous_secret_and_only_the_app_secrets():
    names = bicep.declaration(bicep.text(GLOBAL), "output appSecretNames ")
    assert "tokenSigningKeyPreviousSecret.name" in names
    rbac = bicep.text(RBAC)
    assert "for name in keyVaultSecretNames" in rbac and "range(0, stampCount * secretCount)" in rbac


def test_the_app_takes_each_key_once_and_an_empty_previous_as_none():
    current, previous = base64.b64encode(b"c" * 32).decode(), base64.b64encode(b"p" * 32).decode()
    env = {name: value for name, value in SAMPLE_VALUES.items() if name != "TOKEN_SIGNING_KEY_PREVIOUS"}
    env["TOKEN_SIGNING_KEY"] = current

    def keys(value: str | None) -> tuple[bytes, ...]:
        extra = {} if value is None else {"TOKEN_SIGNING_KEY_PREVIOUS": value}
        return load_settings({**env, **extra}).auth.token_signing_keys

    assert keys(None) == keys("") == keys("  ") == (b"c" * 32,)
    assert keys(current) == (b"c" * 32,)  # outside a rotation the secret holds the current key
    assert keys(previous) == (b"c" * 32, b"p" * 32)  # current signs, both verify


def test_the_runbook_moves_the_current_key_to_previous_then_retires_it():
    ops = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    runbook = ops.split("### Runbook: rotating the token signing key", 1)[1].split("\n## ", 1)[0]
    for step in ("azd env set TOKEN_SIGNING_KEY_PREVIOUS \"$new\"", "azd env set TOKEN_SIGNING_KEY_PREVIOUS \"$old\"",
                 "azd env set TOKEN_SIGNING_KEY_PREVIOUS \"\"", "infra.parameters.tokenSigningKey",
                 "az functionapp restart", "TOKEN_TTL_SECONDS"):
        assert step in runbook, step
    readme = (INFRA / "README.md").read_text(encoding="utf-8")
    assert "operations.md#runbook-rotating-the-token-signing-key" in readme


def test_the_pin_pepper_is_a_generated_key_vault_secret_every_stamp_reads():
    main = bicep.text(MAIN)
    assert re.search(r"@secure\(\)\n@minLength\(44\)\n@description\([^\n]*\)\n@metadata\(\{\n  azd: \{\n"
                     r"    type: 'generate'[^@]*\}\)\nparam pinPepper string\n", main)
    assert "pinPepper: pinPepper" in bicep.declaration(main, "module global ")
    glob = bicep.text(GLOBAL)
    secret = bicep.declaration(glob, "resource pinPepperSecret ")
    assert "name: 'pin-pepper'" in secret and "value: pinPepper" in secret
    assert "pinPepperSecret.name" in bicep.declaration(glob, "output appSecretNames ")
    settings = bicep.balanced(bicep.text(STAMP), "var baseSettings = [")
    assert "{ name: 'PIN_PEPPER', value: '@Microsoft.KeyVault(SecretUri=${pinPepperSecretUri})' }" in settings
    assert "pinPepperSecretUri: global.outputs.pinPepperSecretUri" in bicep.declaration(main, "module stamps ")
