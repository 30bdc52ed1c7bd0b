"""Static checks of the IMAP gateway's deployment (there is no Bicep CLI, Docker daemon or Azure
subscription here): infra/modules/imap.bicep (one gateway per stamp), its Traffic Manager profile,
the registry, main.bicep's wiring and switch, azure.yaml's `imap` service, the hooks, and the image
(gateways/imap/Dockerfile, its requirements and the build context). Read as text, as test_infra.py
reads the templates; test_infra.py also parses every Bicep file and runs checkov over them."""

from __future__ import annotations

import json
import re
from importlib import metadata
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.infra import bicep_text as bicep

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
MAIN = INFRA / "main.bicep"
IMAP = INFRA / "modules" / "imap.bicep"
ROUTER = INFRA / "modules" / "imaptrafficmanager.bicep"
REGISTRY = INFRA / "modules" / "registry.bicep"
DOCKERFILE = ROOT / "gateways" / "imap" / "Dockerfile"
REQUIREMENTS = ROOT / "gateways" / "imap" / "requirements.txt"
SECRET_NAMES = ("imap-tls-cert", "imap-tls-key")


def _app() -> str:
    return bicep.balanced(bicep.text(IMAP), "resource app 'Microsoft.App/containerApps@")


def _container() -> str:
    return bicep.balanced(_app(), "containers: [")


def _variables(text: str) -> dict[str, str]:
    return dict(re.findall(r"^var (\w+) = (.+)$", text, re.MULTILINE))


def _env() -> dict[str, str]:
    """The container's `{ name: 'X', value: ... }` settings: name -> the Bicep value expression."""
    return dict(re.findall(r"\{ name: '([A-Z_]+)', value: (.+?) \}", bicep.balanced(_container(), "env: [")))


# --- the container app: TCP ingress on 993 ---------------------------------------------------------

def test_ingress_is_external_tcp_on_993_with_the_exposed_port():
    ingress = bicep.balanced(_app(), "ingress: {")
    assert re.search(r"external: true\n", ingress)
    assert re.search(r"transport: 'tcp'\n", ingress)
    variables = _variables(bicep.text(IMAP))
    for key in ("targetPort", "exposedPort"):
        value = re.search(rf"{key}: (\w+)\n", ingress)
        assert value, f"ingress has no {key}"
        assert variables.get(value.group(1), value.group(1)) == "993", (key, value.group(1))
    # The container listens where the ingress sends it: one variable for both.
    assert "targetPort: imapPort" in ingress and _env()["IMAP_PORT"] == "string(imapPort)"
    assert _env()["IMAP_HOST"] == "'0.0.0.0'"


def test_the_environment_is_on_a_delegated_subnet_of_its_own_with_a_consumption_profile():
    text = bicep.text(IMAP)
    vnet = bicep.balanced(text, "resource vnet 'Microsoft.Network/virtualNetworks@")
    assert re.search(r"serviceName: 'Microsoft.App/environments'", vnet), \
        "the subnet is not delegated to Container Apps"
    environment = bicep.balanced(text, "resource appEnvironment 'Microsoft.App/managedEnvironments@")
    assert re.search(r"infrastructureSubnetId: vnet\.properties\.subnets\[0\]\.id\n", environment)
    consumption = r"workloadProfiles: \[\s*\{\s*name: 'Consumption'\s*workloadProfileType: 'Consumption'\s*\}"
    assert re.search(consumption, environment)
    assert re.search(r"workloadProfileName: 'Consumption'\n", _app())
    assert re.search(r"environmentId: appEnvironment\.id\n", _app())
    # Logs reach the global workspace through a diagnostic setting (azure-monitor): no workspace key.
    assert re.search(r"destination: 'azure-monitor'", environment)
    diagnostics = bicep.balanced(text, "resource environmentDiagnostics 'Microsoft.Insights/diagnosticSettings@")
    assert "scope: appEnvironment\n" in diagnostics and "workspaceId: logAnalyticsWorkspaceId" in diagnostics
    assert "listKeys" not in text and "sharedKey" not in text


def test_one_replica_always_runs_and_the_ceiling_is_a_parameter():
    scale = bicep.balanced(_app(), "scale: {")
    assert re.search(r"minReplicas: 1\n", scale), "IMAP IDLE connections are long-lived: no scale to zero"
    assert re.search(r"maxReplicas: maxReplicas\n", scale)
    main = bicep.text(MAIN)
    assert re.search(r"^param imapMaxReplicas int = \d+$", main, re.MULTILINE)
    assert re.search(r"^\s+maxReplicas: imapMaxReplicas$", main, re.MULTILINE)


# --- TLS from Key Vault, by identity ---------------------------------------------------------------

def test_the_tls_files_come_from_key_vault_through_the_identity():
    app = _app()
    secrets = bicep.balanced(app, "secrets: [")
    entry = r"\{\s*name: '([a-z-]+)'\s*keyVaultUrl: (\w+)\.properties\.secretUri\s*identity: identity\.id\s*\}"
    entries = re.findall(entry, secrets)
    assert dict(entries) == {"tls-cert": "tlsCert", "tls-key": "tlsKey"}, entries
    assert "value:" not in secrets, "a secret with a value written in the template"
    text = bicep.text(IMAP)
    for symbol, param in (("tlsCert", "tlsCertSecretName"), ("tlsKey", "tlsKeySecretName")):
        existing = bicep.balanced(text, f"resource {symbol} 'Microsoft.KeyVault/vaults/secrets@")
        assert "parent: vault" in existing and f"name: {param}" in existing
    # The volume holds both secrets as files, mounted where the settings point.
    volume = bicep.balanced(bicep.balanced(app, "volumes: ["), "{")
    assert re.search(r"storageType: 'Secret'", volume)
    files = dict(re.findall(r"secretRef: '([a-z-]+)'\s*path: '([\w.]+)'", volume))
    assert files == {"tls-cert": "tls.crt", "tls-key": "tls.key"}, files
    mount = re.search(r"volumeMounts: \[\s*\{\s*volumeName: 'tls'\s*mountPath: (\w+)\s*\}", _container())
    assert mount and mount.group(1) == "tlsMountPath"
    env = _env()
    assert env["IMAP_TLS_CERT_FILE"] == "'${tlsMountPath}/tls.crt'"
    assert env["IMAP_TLS_KEY_FILE"] == "'${tlsMountPath}/tls.key'"


def test_no_setting_of_the_container_is_a_secret():
    container = _container()
    assert "secretRef" not in bicep.balanced(container, "env: ["), "a secret as an environment variable"
    env = _env()
    assert set(env) == {"IMAP_API_URL", "IMAP_HOST", "IMAP_PORT", "IMAP_TLS_CERT_FILE", "IMAP_TLS_KEY_FILE",
                        "IMAP_HEALTH_PORT", "IMAP_REGION"}, sorted(env)
    assert not re.search(r"BEGIN [A-Z ]*(PRIVATE KEY|CERTIFICATE)", bicep.text(IMAP) + bicep.text(MAIN))


def test_the_identity_may_pull_and_read_only_the_two_tls_secrets_before_the_app_exists():
    text = bicep.text(IMAP)
    assignments = {}
    for name, body in re.findall(r"^resource (\w+) 'Microsoft.Authorization/roleAssignments@[^']+' = (\{.*?^\})",
                                 text, re.MULTILINE | re.DOTALL):
        role = re.search(r"roles\.(\w+)\)", body).group(1)
        scope = re.search(r"scope: (\w+)\n", body).group(1)
        assert "principalId: identity.properties.principalId" in body, name
        assignments[name] = (role, scope)
    assert sorted(assignments.values()) == [("acrPull", "registry"), ("keyVaultSecretsUser", "tlsCert"),
                                            ("keyVaultSecretsUser", "tlsKey")], assignments
    assert "acrPull: '7f951dda-4ed3-4680-a7ca-43fe172d538d'" in text
    assert "keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6'" in text
    app = bicep.balanced(text, "resource app 'Microsoft.App/containerApps@")
    depends = re.findall(r"\w+", bicep.balanced(app[1:], "dependsOn: ["))
    assert set(assignments) <= set(depends), "the container app does not wait for its role assignments"
    identity = bicep.balanced(_app(), "identity: {")
    assert "type: 'UserAssigned'" in identity and "'${identity.id}': {}" in identity
    registries = r"registries: \[\s*\{\s*server: registry\.properties\.loginServer\s*identity: identity\.id\s*\}"
    assert re.search(registries, _app())


# --- probes ----------------------------------------------------------------------------------------

def _probe(kind: str) -> str:
    probes = bicep.balanced(_container(), "probes: [")
    at = probes.index(f"type: '{kind}'")
    return bicep.balanced(probes[probes.rindex("{", 0, at):], "{")


def test_liveness_and_readiness_probe_the_health_port():
    variables = _variables(bicep.text(IMAP))
    for kind, path in (("Liveness", "/health"), ("Readiness", "/health/ready")):
        probe = _probe(kind)
        get = bicep.balanced(probe, "httpGet: {")
        assert re.search(rf"path: '{re.escape(path)}'\n", get), (kind, get)
        port = re.search(r"port: (\w+)\n", get).group(1)
        assert variables.get(port, port) == "8080", (kind, port)
        assert "scheme: 'HTTP'" in get
    assert _env()["IMAP_HEALTH_PORT"] == "string(healthPort)" and variables["healthPort"] == "8080"


# --- wiring: each stamp's own API, the switch, the TLS gate ----------------------------------------

def _imap_module() -> str:
    return bicep.balanced(bicep.text(MAIN), "module imap 'modules/imap.bicep' = [")


def test_each_gateway_fronts_its_own_stamps_api():
    assert re.search(r"^\s+apiEndpoint: stamps\[i\]\.outputs\.apiEndpoint$", _imap_module(), re.MULTILINE)
    assert re.search(r"module imap 'modules/imap.bicep' = \[for \(stamp, i\) in stampNames:", bicep.text(MAIN))
    assert _env()["IMAP_API_URL"] == "apiEndpoint"
    stamp = bicep.text(INFRA / "modules" / "stamp.bicep")
    # The stamp's API app (functionapp.bicep, role api), not its management app.
    assert "output apiEndpoint string = 'https://${api.outputs.hostName}/api'" in stamp
    assert re.search(r"module api 'functionapp.bicep' = \{\n  name: '[^']+'\n  params: \{\n    role: 'api'\n", stamp)
    assert _env()["IMAP_REGION"] == "region"


def test_imap_is_one_switch_default_on_and_gated_on_the_tls_secrets():
    main = bicep.text(MAIN)
    assert re.search(r"^param imapEnabled bool = true$", main, re.MULTILINE)
    assert re.search(r"^param imapTlsReady bool = false$", main, re.MULTILINE)
    parameters = json.loads(bicep.text(INFRA / "main.parameters.json"))["parameters"]
    assert parameters["imapEnabled"]["value"] == "${IMAP_ENABLED=true}"
    assert parameters["imapTlsReady"]["value"] == "${IMAP_TLS_READY=false}"
    assert parameters["imapImageName"]["value"] == "${SERVICE_IMAP_IMAGE_NAME=}"  # what azd sets after a deploy
    assert re.search(r"^module registry 'modules/registry.bicep' = if \(imapEnabled\) \{$", main, re.MULTILINE)
    assert re.search(r"in stampNames: if \(imapEnabled && imapTlsReady\) \{", _imap_module())
    routing = r"^module imapRouting 'modules/imaptrafficmanager.bicep' = if \(imapEnabled\) \{$"
    assert re.search(routing, main, re.MULTILINE)
    # The names the preprovision hooks look for are the ones the gateways read.
    variables = _variables(main)
    assert (variables["imapTlsCertName"], variables["imapTlsKeyName"]) == tuple(f"'{n}'" for n in SECRET_NAMES)
    assert re.search(r"tlsCertSecretName: imapTlsCertName\n\s+tlsKeySecretName: imapTlsKeyName\n", _imap_module())
    # ... each looked up as a resource (metadata: no secret value is read), all of them.
    loops = {"preprovision.sh": r"for secret in ([\w -]+); do\n",
             "preprovision.ps1": r"foreach \(\$secret in @\(([^)]*)\)\)"}
    for script, loop in loops.items():
        hook = bicep.text(INFRA / "scripts" / script)
        names = re.search(loop, hook)
        assert names, f"{script}: no loop over the TLS secrets"
        assert tuple(re.findall(r"[\w-]+", names.group(1))) == SECRET_NAMES, (script, names.group(1))
        assert re.search(r"az resource show --ids \"\$vault/secrets/\$secret\"", hook), script
        assert re.search(r"azd env set IMAP_TLS_READY", hook), script
        assert "keyvault secret show" not in hook, f"{script}: reads a secret's value (metadata is enough)"


def test_only_the_primary_gateway_carries_the_azd_service_tag():
    app = _app()
    assert re.search(r"tags: isPrimary \? union\(tags, \{ 'azd-service-name': 'imap' \}\) : tags\n", app)
    assert re.search(r"^\s+isPrimary: i == 0$", _imap_module(), re.MULTILINE)
    assert re.search(r"image: empty\(image\) \? placeholderImage : image\n", app)
    assert re.search(r"^\s+image: imapImageName$", _imap_module(), re.MULTILINE)


# --- routing: Traffic Manager on TCP 993, an endpoint per stamp -------------------------------------

def test_the_imap_traffic_manager_monitors_tcp_993():
    profile = bicep.balanced(bicep.text(ROUTER), "resource profile 'Microsoft.Network/trafficmanagerprofiles@")
    monitor = bicep.balanced(profile, "monitorConfig: {")
    assert re.search(r"protocol: 'TCP'\n", monitor) and re.search(r"port: 993\n", monitor)
    assert "path:" not in monitor, "a TCP monitor has no path"
    assert re.search(r"trafficRoutingMethod: '(Performance|Priority)'", profile)
    # The same routing method as the HTTP alternative.
    http = bicep.text(INFRA / "modules" / "trafficmanager.bicep")
    assert re.search(r"trafficRoutingMethod: '(\w+)'", profile).group(1) == \
        re.search(r"trafficRoutingMethod: '(\w+)'", http).group(1)


def test_the_imap_traffic_manager_has_an_endpoint_per_stamp_whatever_the_http_router():
    text = bicep.text(ROUTER)
    endpoints = bicep.balanced(text, "var stampEndpoints = [")
    assert re.search(r"\[for \(target, i\) in targets:", endpoints)
    assert re.search(r"target: target\n", endpoints) and re.search(r"endpointLocation: regions\[i\]\n", endpoints)
    assert "type: 'Microsoft.Network/trafficManagerProfiles/externalEndpoints'" in endpoints
    assert re.search(r"endpoints: hasEndpoints \? stampEndpoints : \[\]\n", text)
    routing = bicep.balanced(bicep.text(MAIN), "module imapRouting 'modules/imaptrafficmanager.bicep'")
    targets = r"targets: \[for \(stamp, i\) in stampNames: imapTlsReady \? imap\[i\]\.outputs\.fqdn : ''\]"
    assert re.search(targets, routing)
    assert "regions: regionList" in routing and "hasEndpoints: imapTlsReady" in routing
    declared = re.search(r"module imapRouting [^\n]*", bicep.text(MAIN)).group(0)
    assert "routing" not in declared, "tied to the HTTP router"
    assert "output fqdn string = app.properties.configuration.ingress.fqdn" in bicep.text(IMAP)
    assert re.search(r"^output IMAP_HOSTNAME string = imapEnabled \? imapRouting\.outputs\.fqdn : ''$",
                     bicep.text(MAIN), re.MULTILINE)


# --- the registry and azure.yaml --------------------------------------------------------------------

def test_the_registry_is_basic_without_admin_user_and_azd_finds_it():
    registry = bicep.balanced(bicep.text(REGISTRY), "resource registry 'Microsoft.ContainerRegistry/registries@")
    assert re.search(r"sku: \{\s*name: 'Basic'\s*\}", registry)
    assert re.search(r"adminUserEnabled: false\n", registry) and re.search(r"anonymousPullEnabled: false\n", registry)
    output = r"^output AZURE_CONTAINER_REGISTRY_ENDPOINT string = imapEnabled \? registry\.outputs\.loginServer : ''$"
    assert re.search(output, bicep.text(MAIN), re.MULTILINE)


def test_azure_yaml_deploys_the_gateway_image_to_a_container_app():
    project = yaml.safe_load(bicep.text(ROOT / "azure.yaml"))
    imap = project["services"]["imap"]
    assert {k: imap[k] for k in ("project", "host", "language")} == \
        {"project": ".", "host": "containerapp", "language": "python"}
    assert imap["docker"] == {"path": "gateways/imap/Dockerfile", "context": "."}
    assert (ROOT / imap["project"] / imap["docker"]["path"]).is_file()
    assert imap["condition"] == "${IMAP_TLS_READY}"
    # azd would deploy infra/<service>.bicep + .parameters.json instead of updating the image: none here.
    assert not (INFRA / "imap.parameters.json").exists() and not (INFRA / "imap.bicepparam").exists()


def test_the_deploy_hooks_touch_only_the_function_app():
    """predeploy/postdeploy drain and roll the function app service; the gateway is not theirs."""
    for hook in ("predeploy", "postdeploy"):
        for suffix in (".sh", ".ps1"):
            text = bicep.text(INFRA / "scripts" / f"{hook}{suffix}")
            assert not re.search(r"imap|containerapp|services", text, re.IGNORECASE), f"{hook}{suffix}"
            assert all(re.fullmatch(r"azd package api", call) for call in re.findall(r"azd package \S+", text))


# --- the image ------------------------------------------------------------------------------------

def _instructions() -> list[tuple[str, str]]:
    joined = re.sub(r"\\\n", " ", bicep.text(DOCKERFILE))
    return [(m.group(1).upper(), m.group(2).strip()) for m in
            re.finditer(r"^\s*([A-Za-z]+)\s+(.*)$", joined, re.MULTILINE) if not m.group(0).lstrip().startswith("#")]


def test_the_image_runs_the_gateway_as_a_non_root_user():
    instructions = _instructions()
    assert instructions[0] == ("FROM", "python:3.12-slim")
    users = [i for i, (op, _) in enumerate(instructions) if op == "USER"]
    assert users, "no USER: the gateway would run as root"
    user = instructions[users[-1]][1].split(":")[0]
    assert user not in {"root", "0"}, user
    cmd = [i for i, (op, _) in enumerate(instructions) if op == "CMD"]
    assert cmd and users[-1] < cmd[-1], "USER after CMD"
    assert json.loads(instructions[cmd[-1]][1]) == ["python", "-m", "gateways.imap"]
    # The user exists in the image with that id, and may bind 993 without root.
    runs = " ".join(arg for op, arg in instructions if op == "RUN")
    assert re.search(rf"useradd [^&]*--uid {re.escape(user)}\b", runs)
    assert re.search(r"setcap cap_net_bind_service=\+ep ", runs)


def test_the_image_copies_only_the_gateway_and_exposes_its_ports():
    instructions = _instructions()
    copies = [arg.split() for op, arg in instructions if op == "COPY"]
    assert copies and all(source.startswith("gateways/") for parts in copies for source in parts[:-1]), copies
    assert [arg.split() for op, arg in instructions if op == "EXPOSE"] == [["993", "8080"]]
    installs = [arg for op, arg in instructions if op == "RUN" and "pip install" in arg]
    assert installs and all("--no-deps" in arg and "pip check" in arg for arg in installs)
    # The build context (the root) is cut down to the gateway package.
    ignore = [line for line in bicep.text(ROOT / ".dockerignore").splitlines() if line and not line.startswith("#")]
    assert ignore[:3] == ["*", "!gateways/__init__.py", "!gateways/imap/"], ignore
    # ... and the gateways stay out of the function app's package.
    assert {"gateways/", ".dockerignore"} <= set(bicep.text(ROOT / ".funcignore").splitlines())


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split("#")[0].strip()
        if line and not line.startswith("-"):
            requirement = Requirement(line)
            (spec,) = requirement.specifier
            assert spec.operator == "==", f"{path.name}: {line} is not pinned exactly"
            pins[canonicalize_name(requirement.name)] = spec.version
    return pins


IMAGE_PYTHON = {"python_version": "3.12", "python_full_version": "3.12.0", "sys_platform": "linux",
                "platform_system": "Linux", "os_name": "posix", "implementation_name": "cpython",
                "platform_python_implementation": "CPython", "platform_machine": "x86_64", "extra": ""}


def test_the_gateway_requirements_are_the_lock_and_all_of_it():
    """Every pin is constraints.txt's, and the listed set is exactly what twisted, httpx and pyopenssl
    pull in on the image's Python (read from the venv the tests run in, made from the lock)."""
    pins, lock = _pins(REQUIREMENTS), _pins(ROOT / "constraints.txt")
    drifted = {name: (version, lock.get(name)) for name, version in pins.items() if lock.get(name) != version}
    assert not drifted, f"gateways/imap/requirements.txt and constraints.txt disagree: {drifted}"
    direct = {"twisted", "httpx", "pyopenssl"}
    assert direct <= set(pins)
    closure, pending = set(), list(direct)
    while pending:
        name = canonicalize_name(pending.pop())
        if name in closure:
            continue
        closure.add(name)
        try:
            requires = metadata.distribution(name).requires or []
        except metadata.PackageNotFoundError:
            pytest.fail(f"{name} is not installed in the test venv (make install)")
        pending += [r.name for r in map(Requirement, requires) if r.marker is None or r.marker.evaluate(IMAGE_PYTHON)]
    assert set(pins) == closure, {"missing": sorted(closure - set(pins)), "extra": sorted(set(pins) - closure)}
