"""The deployment files, checked by the tools made for them: hadolint for the Dockerfile
(docker build cannot run here: no engine), kubernetes-validate for the manifests against
Kubernetes' schemas (the oldest and newest it knows), `kubectl kustomize` for the
kustomizations, nginx -t for the site configuration, systemd-analyze for the unit. A tool
that is missing skips its test with the reason."""

from __future__ import annotations

import configparser
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).parents[2]
DEPLOY = ROOT / "deploy"
DOCKERFILE = ROOT / "Dockerfile"
KUBERNETES = DEPLOY / "kubernetes"
# The oldest Kubernetes kubernetes-validate has schemas for, and its newest (the default).
KUBERNETES_VERSIONS = ["1.25.0", None]
SAFE_AUTH_MODES = {"api-key", "jwt"}


def _tool(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if found is None:
        pytest.skip(f"{name} is not installed (the test extra installs it)")
    return found


@pytest.mark.slow
def test_the_dockerfile_passes_hadolint() -> None:
    done = subprocess.run([_tool("hadolint"), str(DOCKERFILE)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_dockerfile_runs_as_a_non_root_user_with_a_healthcheck_and_no_secrets() -> None:
    text = DOCKERFILE.read_text()
    assert "\nUSER 10001:10001\n" in text
    assert "\nHEALTHCHECK " in text
    for secret in ("CERTIFICATE", "SECRET", "API_KEY", "ARG "):
        assert secret not in text, f"{secret} must come from the environment at run time"


def _instructions(text: str) -> list[str]:
    """The Dockerfile's instructions, continuation lines joined, comments left out."""
    joined = re.sub(r"\\\n\s*", " ", text)
    return [line for line in joined.splitlines() if line.strip() and not line.startswith("#")]


def test_the_image_is_built_in_a_builder_stage_from_the_pinned_versions() -> None:
    instructions = _instructions(DOCKERFILE.read_text())
    stages = [line for line in instructions if line.startswith("FROM ")]
    assert stages == ["FROM python:3.11-slim AS builder", "FROM python:3.11-slim"]
    final = instructions[instructions.index(stages[1]) :]
    builder = instructions[: instructions.index(stages[1])]
    assert "COPY constraints.txt ./" in builder
    assert any("pip install --requirement constraints.txt" in line for line in builder)
    assert any("--constraint constraints.txt ." in line for line in builder)
    assert "COPY --from=builder /opt/venv /opt/venv" in final
    assert not any("pip install" in line for line in final)  # nothing built in the image
    assert "USER 10001:10001" in final
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    assert "!constraints.txt" in ignored and "!service/" in ignored


def test_the_healthcheck_asks_the_port_the_service_binds() -> None:
    instructions = _instructions(DOCKERFILE.read_text())
    (healthcheck,) = [line for line in instructions if line.startswith("HEALTHCHECK ")]
    command = json.loads(healthcheck.split(" CMD ", 1)[1])
    assert command[:2] == ["python", "-c"]
    script = command[2]
    # SERVER_PORT, then its alias PORT (what PaaS platforms set), then the default.
    assert "os.environ.get('SERVER_PORT') or os.environ.get('PORT') or '6080'" in script
    assert "/healthz" in script
    # The image leaves SERVER_PORT unset, so a platform's PORT is obeyed.
    env_lines = " ".join(line for line in instructions if line.startswith("ENV "))
    assert "SERVER_PORT=" not in env_lines
    assert f"AUTH_MODE={'api-key'}" in env_lines


def _kubernetes_files() -> list[Path]:
    return sorted(path for path in KUBERNETES.rglob("*.yaml") if path.name != "kustomization.yaml")


def _documents(path: Path) -> list[dict[str, Any]]:
    return [document for document in yaml.safe_load_all(path.read_text()) if document]


def _operator_resource(path: Path) -> bool:
    return any(d["apiVersion"].startswith("monitoring.coreos.com/") for d in _documents(path))


@pytest.mark.slow
@pytest.mark.parametrize("version", KUBERNETES_VERSIONS, ids=lambda v: v or "newest")
@pytest.mark.parametrize(
    "manifest",
    [path for path in _kubernetes_files() if not _operator_resource(path)],
    ids=lambda p: str(p.relative_to(KUBERNETES)),
)
def test_each_kubernetes_manifest_matches_its_schema(manifest: Path, version: str | None) -> None:
    command = [_tool("kubernetes-validate"), "--strict", "--quiet"]
    if version is not None:
        command += ["--kubernetes-version", version]
    command.append(str(manifest))
    done = subprocess.run(command, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize(
    "manifest",
    [path for path in _kubernetes_files() if _operator_resource(path)],
    ids=lambda p: str(p.relative_to(KUBERNETES)),
)
def test_a_service_monitor_scrapes_the_services_metrics_port(manifest: Path) -> None:
    """kubernetes-validate has no schema for the Prometheus Operator's resources: the
    ServiceMonitor's shape is checked here instead."""
    (monitor,) = _documents(manifest)
    assert monitor["kind"] == "ServiceMonitor" and monitor["metadata"]["name"]
    selector = monitor["spec"]["selector"]["matchLabels"]
    service = next(d for d in _documents(KUBERNETES / "service.yaml") if d["kind"] == "Service")
    assert set(selector.items()) <= set(service["metadata"].get("labels", {}).items())
    ports = {port.get("name") for port in service["spec"]["ports"]}
    assert all(endpoint["port"] in ports for endpoint in monitor["spec"]["endpoints"])
    assert all(endpoint["path"] == "/metrics" for endpoint in monitor["spec"]["endpoints"])


def test_the_kustomize_base_lists_exactly_its_manifests_and_components_stay_out() -> None:
    base = yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text())
    present = {path.name for path in KUBERNETES.glob("*.yaml")}
    # The Secret example is filled in or replaced by `kubectl create secret`; never applied.
    assert set(base["resources"]) == present - {"kustomization.yaml", "secret.example.yaml"}
    for component in sorted((KUBERNETES / "components").iterdir()):
        kustomization = yaml.safe_load((component / "kustomization.yaml").read_text())
        assert kustomization["kind"] == "Component"
        listed = set(kustomization["resources"])
        assert listed == {p.name for p in component.glob("*.yaml")} - {"kustomization.yaml"}
    example = yaml.safe_load((DEPLOY / "kubernetes-example" / "kustomization.yaml").read_text())
    assert example["resources"] == ["../kubernetes"]
    assert example["components"] == ["../kubernetes/components/redis-example"]


def _kustomize(folder: Path) -> list[dict[str, Any]]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed: `kubectl kustomize` cannot build the kustomizations")
    done = subprocess.run([kubectl, "kustomize", str(folder)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return [document for document in yaml.safe_load_all(done.stdout) if document]


@pytest.mark.slow
def test_kustomize_builds_the_base_and_the_example(tmp_path: Path) -> None:
    base = {(doc["kind"], doc["metadata"]["name"]) for doc in _kustomize(KUBERNETES)}
    assert base == {
        ("Deployment", "rtc-token-service"),
        ("Service", "rtc-token-service"),
        ("PodDisruptionBudget", "rtc-token-service"),
        ("HorizontalPodAutoscaler", "rtc-token-service"),
        ("NetworkPolicy", "rtc-token-service"),
    }
    example = {
        (d["kind"], d["metadata"]["name"]) for d in _kustomize(DEPLOY / "kubernetes-example")
    }
    assert example == base | {
        ("Service", "redis"),
        ("StatefulSet", "redis"),
        ("NetworkPolicy", "redis"),
    }
    # The ServiceMonitor component, added by an overlay of the user's own.
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "resources": [os.path.relpath(KUBERNETES, overlay)],
                "components": [os.path.relpath(KUBERNETES / "components/servicemonitor", overlay)],
            }
        )
    )
    kinds = {doc["kind"] for doc in _kustomize(overlay)}
    assert "ServiceMonitor" in kinds


def _deployment() -> dict[str, Any]:
    return yaml.safe_load((KUBERNETES / "deployment.yaml").read_text())  # type: ignore[no-any-return]


def test_the_deployment_probes_and_limits_and_reads_a_secret() -> None:
    (container,) = _deployment()["spec"]["template"]["spec"]["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert set(container["resources"]) == {"requests", "limits"}
    assert container["envFrom"] == [{"secretRef": {"name": "rtc-token-service"}}]


def test_the_deployment_pauses_before_stopping_on_any_kubernetes_version() -> None:
    spec = _deployment()["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    # An exec of the image's python: preStop.sleep needs 1.30, the image has no `sleep`.
    assert container["lifecycle"]["preStop"] == {
        "exec": {"command": ["python", "-c", "import time; time.sleep(5)"]}
    }
    assert spec["terminationGracePeriodSeconds"] > 30 + 5  # SHUTDOWN_TIMEOUT + the pause


def test_the_deployment_spreads_over_zones_and_nodes() -> None:
    spec = _deployment()["spec"]["template"]["spec"]
    keys = {c["topologyKey"] for c in spec["topologySpreadConstraints"]}
    assert keys == {"topology.kubernetes.io/zone", "kubernetes.io/hostname"}
    for constraint in spec["topologySpreadConstraints"]:
        assert constraint["labelSelector"]["matchLabels"] == {
            "app.kubernetes.io/name": "rtc-token-service"
        }


def test_the_network_policy_admits_only_the_http_port() -> None:
    policy = yaml.safe_load((KUBERNETES / "networkpolicy.yaml").read_text())
    assert set(policy["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    (ingress,) = policy["spec"]["ingress"]
    (container,) = _deployment()["spec"]["template"]["spec"]["containers"]
    assert ingress["ports"] == [{"protocol": "TCP", "port": container["ports"][0]["containerPort"]}]


def test_compose_runs_nginx_two_replicas_and_redis() -> None:
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    services = compose["services"]
    assert set(services) == {"nginx", "rtc-token-service", "redis"}
    assert services["rtc-token-service"]["deploy"]["replicas"] == 2
    assert services["rtc-token-service"]["environment"]["REDIS_URL"].startswith("redis://redis:")
    assert "--appendonly" in services["redis"]["command"]


def test_the_systemd_unit_drains_on_sigterm_and_restarts_on_failure() -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.read(DEPLOY / "systemd" / "rtc-token-service.service")
    service = unit["Service"]
    assert service["ExecStart"].endswith("rtc-token-service serve --workers 2")
    assert (service["KillSignal"], service["Restart"]) == ("SIGTERM", "on-failure")
    assert int(service["TimeoutStopSec"]) > 30  # longer than SHUTDOWN_TIMEOUT
    assert service["User"] != "root"


@pytest.mark.slow
def test_the_nginx_site_configuration_is_valid(tmp_path: Path) -> None:
    nginx = _tool("nginx")
    from tests.deploy.nginx import INTERNAL_PATH, internal_snippet, self_signed_certificate

    certificate, key = self_signed_certificate(tmp_path)
    site = (DEPLOY / "nginx" / "rtc-token-service.conf").read_text()
    site = site.replace("/etc/ssl/certs/tokens.example.com.pem", str(certificate))
    site = site.replace("/etc/ssl/private/tokens.example.com.key", str(key))
    site = site.replace(
        "/etc/nginx/snippets/rtc-token-service-proxy.conf",
        str(DEPLOY / "nginx" / "rtc-token-service-proxy.conf"),
    )
    site = site.replace(INTERNAL_PATH, str(internal_snippet(tmp_path)))
    (tmp_path / "site.conf").write_text(site)
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid; error_log {tmp_path}/error.log;\n"
        f"events {{}}\nhttp {{ access_log off; include {tmp_path}/site.conf; }}\n"
    )
    done = subprocess.run(
        [nginx, "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr


SANDBOX = {
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "PrivateDevices": "yes",
    "ProtectKernelTunables": "yes",
    "ProtectKernelModules": "yes",
    "ProtectKernelLogs": "yes",
    "ProtectControlGroups": "yes",
    "RestrictNamespaces": "yes",
    "RestrictSUIDSGID": "yes",
    "LockPersonality": "yes",
    "CapabilityBoundingSet": "",
    "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
    "LimitNOFILE": "65536",
    "ReadWritePaths": "/var/lib/rtc-token-service",
}


def _unit_lines() -> list[tuple[str, str]]:
    """(key, value) of every setting, in order: a key may appear more than once."""
    text = (DEPLOY / "systemd" / "rtc-token-service.service").read_text()
    return [
        (key.strip(), value.strip())
        for key, _, value in (
            line.partition("=") for line in text.splitlines() if "=" in line and line[0] != "#"
        )
    ]


def test_the_systemd_unit_is_sandboxed_and_allows_many_connections() -> None:
    settings = _unit_lines()
    for key, value in SANDBOX.items():
        assert (key, value) in settings, f"{key}={value}"
    filters = [value for key, value in settings if key == "SystemCallFilter"]
    assert filters[0] == "@system-service"
    assert ("Environment", "AUTH_MODE=api-key") in settings


@pytest.mark.slow
def test_systemd_accepts_the_unit_and_rates_its_sandbox(tmp_path: Path) -> None:
    analyze = _tool("systemd-analyze")
    unit = (DEPLOY / "systemd" / "rtc-token-service.service").read_text()
    # verify wants the program and the environment file to exist: stand-ins for both.
    unit = unit.replace("/opt/rtc-token-service/bin/rtc-token-service", "/bin/true")
    unit = unit.replace("EnvironmentFile=/etc/", "EnvironmentFile=-/etc/")
    path = tmp_path / "rtc-token-service.service"
    path.write_text(unit)
    done = subprocess.run(
        [analyze, "verify", "--man=no", str(path)], capture_output=True, text=True, timeout=60
    )
    # Unknown or misspelt settings are only warnings: any output at all fails.
    assert (done.returncode, done.stdout + done.stderr) == (0, "")
    # Exposure 2.0 or less (of 10; `--threshold` counts tenths): "OK" in systemd's scale.
    done = subprocess.run(
        [analyze, "security", "--offline=yes", "--threshold=20", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr


def test_the_nginx_sites_keep_operator_routes_internal_and_hide_the_version() -> None:
    internal = (DEPLOY / "nginx" / "rtc-token-service-internal.conf").read_text()
    assert "location ~ ^/(metrics|v1/events|playground)(/|$) {" in internal
    assert internal.rstrip().endswith("}") and "deny all;" in internal
    for site in ("rtc-token-service.conf", "compose.conf"):
        text = (DEPLOY / "nginx" / site).read_text()
        assert "server_tokens off;" in text
        assert "include /etc/nginx/snippets/rtc-token-service-internal.conf;" in text
