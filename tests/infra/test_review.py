"""An Azure engineer's review of infra/ before it ships: each test pins one fix, read statically
(no Bicep CLI, no subscription here), with the Bicep text helpers of bicep_text.py."""

from __future__ import annotations

import re
from pathlib import Path

from tests.infra import bicep_text as bicep

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
MAIN = INFRA / "main.bicep"
GLOBAL = INFRA / "modules" / "global.bicep"
RBAC = INFRA / "modules" / "rbac.bicep"


def _module(text: str, name: str) -> str:
    """The whole `module <name> ...` declaration of main.bicep, its loop body included."""
    return bicep.declaration(text, f"module {name} ")


def test_imap_gateways_wait_for_the_private_endpoints():
    # With privateNetworking Key Vault takes no public traffic, and the container app reads its TLS
    # secrets as it is created or updated: the vault's private endpoint and its A record (the zone
    # group in privateendpoints.bicep) must exist before it. Nothing else orders the two modules.
    imap = _module(bicep.text(MAIN), "imap")
    depends = bicep.balanced(imap, "dependsOn: [")
    assert re.search(r"\bprivateEndpoints\b", depends), depends


def test_secrets_user_is_granted_on_the_app_secrets_not_the_vault():
    # The function apps read their secrets (their Key Vault references); the vault also holds the
    # IMAP gateway's TLS private key, which a vault-wide Secrets User would let every stamp read.
    rbac = bicep.text(RBAC)
    assignment = bicep.declaration(rbac, "resource secretsUser ")
    assert "scope: vault\n" not in assignment
    assert re.search(r"scope: appSecrets\[", assignment), assignment
    secrets = bicep.declaration(rbac, "resource appSecrets ", stop_at_comments=True)
    assert "'Microsoft.KeyVault/vaults/secrets@" in secrets and "parent: vault" in secrets
    assert "for name in keyVaultSecretNames" in secrets
    # Every stamp on every secret: the loop covers stamps x secrets.
    assert "range(0, stampCount * secretCount)" in assignment
    assert "var secretCount = length(keyVaultSecretNames)" in rbac

    # The names are global.bicep's app secrets, and exactly those the app settings reference.
    glob = bicep.text(GLOBAL)
    output = bicep.declaration(glob, "output appSecretNames ")
    assert sorted(re.findall(r"^\s+(\w+)\.name$", output, re.MULTILINE)) == [
        "operatorKeyHashesSecret", "pinPepperSecret", "platformKeyHashesSecret", "tokenSigningKeyPreviousSecret",
        "tokenSigningKeySecret"]
    rbac_call = _module(bicep.text(MAIN), "rbac")
    assert "keyVaultSecretNames: global.outputs.appSecretNames" in rbac_call
    stamp = bicep.text(INFRA / "modules" / "stamp.bicep")
    assert len(re.findall(r"@Microsoft\.KeyVault\(SecretUri=", stamp)) == 5
