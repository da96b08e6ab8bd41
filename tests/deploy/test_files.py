"""The deployment files, checked by the tools made for them: hadolint for the Dockerfile
(docker build cannot run here: no engine), kubernetes-validate for the manifests against
Kubernetes' schemas, nginx -t for the site configuration."""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

DEPLOY = Path(__file__).parents[2] / "deploy"


def _tool(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if found is None:
        pytest.skip(f"{name} is not installed (the test extra installs it)")
    return found


@pytest.mark.slow
def test_the_dockerfile_passes_hadolint() -> None:
    done = subprocess.run(
        [_tool("hadolint"), str(DEPLOY / "Dockerfile")], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_dockerfile_runs_as_a_non_root_user_with_a_healthcheck_and_no_secrets() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    assert "\nUSER 10001:10001\n" in text
    assert "\nHEALTHCHECK " in text
    for secret in ("CERTIFICATE", "SECRET", "API_KEY", "ARG "):
        assert secret not in text, f"{secret} must come from the environment at run time"


@pytest.mark.slow
@pytest.mark.parametrize(
    "manifest", sorted((DEPLOY / "kubernetes").glob("*.yaml")), ids=lambda p: p.name
)
def test_each_kubernetes_manifest_matches_its_schema(manifest: Path) -> None:
    done = subprocess.run(
        [_tool("kubernetes-validate"), "--strict", "--quiet", str(manifest)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_deployment_probes_and_limits_and_reads_a_secret() -> None:
    deployment = yaml.safe_load((DEPLOY / "kubernetes" / "deployment.yaml").read_text())
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert set(container["resources"]) == {"requests", "limits"}
    assert container["envFrom"] == [{"secretRef": {"name": "rtc-token-service"}}]


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
    from tests.deploy.nginx import self_signed_certificate

    certificate, key = self_signed_certificate(tmp_path)
    site = (DEPLOY / "nginx" / "rtc-token-service.conf").read_text()
    site = site.replace("/etc/ssl/certs/tokens.example.com.pem", str(certificate))
    site = site.replace("/etc/ssl/private/tokens.example.com.key", str(key))
    site = site.replace(
        "/etc/nginx/snippets/rtc-token-service-proxy.conf",
        str(DEPLOY / "nginx" / "rtc-token-service-proxy.conf"),
    )
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
