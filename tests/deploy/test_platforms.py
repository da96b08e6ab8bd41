"""The one-click deploy files (render.yaml, railway.json, fly.toml, app.json + heroku.yml)
and every other shipped example: each builds the project's Dockerfile, starts the command
the package installs, names only variables the service reads, and never runs without
authentication (AUTH_MODE api-key or jwt, never none)."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).parents[2]
DEPLOY = ROOT / "deploy"
SAFE_AUTH_MODES = {"api-key", "jwt"}
COMMAND = "rtc-token-service serve"


def _service_variables() -> set[str]:
    """Every variable both documented in docs/configuration.md and read in service/."""
    documented = set(
        re.findall(r"`([A-Z][A-Z0-9_]+)`", (ROOT / "docs" / "configuration.md").read_text())
    )
    source = "\n".join(path.read_text() for path in (ROOT / "service").rglob("*.py"))
    return {name for name in documented if f'"{name}"' in source}


SERVICE_VARIABLES = _service_variables()


def test_the_variable_list_is_the_services() -> None:
    # A sanity check of the helper itself: the alias PORT counts, a made-up name does not.
    assert {"AUTH_MODE", "API_KEYS", "SERVER_PORT", "PORT", "AGORA_APP_ID"} <= SERVICE_VARIABLES
    assert "NOT_A_SETTING" not in SERVICE_VARIABLES


def test_the_command_is_the_one_the_package_installs() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert pyproject["project"]["scripts"]["rtc-token-service"] == "service.cli:main"
    assert '"serve"' in (ROOT / "service" / "cli.py").read_text()
    assert f"CMD {json.dumps(COMMAND.split())}\n" in (ROOT / "Dockerfile").read_text()


def _render() -> tuple[dict[str, Any], dict[str, Any]]:
    blueprint = yaml.safe_load((ROOT / "render.yaml").read_text())
    (service,) = blueprint["services"]
    return service, {v["key"]: v for v in service["envVars"]}


def _railway() -> dict[str, Any]:
    return json.loads((ROOT / "railway.json").read_text())  # type: ignore[no-any-return]


def _fly() -> dict[str, Any]:
    return tomllib.loads((ROOT / "fly.toml").read_text())


def _heroku() -> tuple[dict[str, Any], dict[str, Any]]:
    app = json.loads((ROOT / "app.json").read_text())
    manifest = yaml.safe_load((ROOT / "heroku.yml").read_text())
    return app, manifest


def test_every_platform_builds_the_projects_dockerfile() -> None:
    service, _ = _render()
    assert (service["runtime"], service["dockerfilePath"], service["dockerContext"]) == (
        "docker",
        "./Dockerfile",
        ".",
    )
    railway = _railway()
    assert railway["build"] == {"builder": "DOCKERFILE", "dockerfilePath": "Dockerfile"}
    assert _fly()["build"] == {"dockerfile": "Dockerfile"}
    app, manifest = _heroku()
    assert app["stack"] == "container"
    assert manifest["build"]["docker"] == {"web": "Dockerfile"}
    assert (ROOT / "Dockerfile").is_file()


def test_every_platform_starts_the_same_command_and_checks_readiness() -> None:
    service, _ = _render()
    assert "dockerCommand" not in service  # the image's CMD
    assert service["healthCheckPath"] == "/readyz"
    railway = _railway()["deploy"]
    assert (railway["startCommand"], railway["healthcheckPath"]) == (COMMAND, "/readyz")
    fly = _fly()
    assert fly["processes"] == {"app": COMMAND}
    assert [check["path"] for check in fly["http_service"]["checks"]] == ["/readyz"]
    _, manifest = _heroku()
    assert manifest["run"] == {"web": COMMAND}


def test_every_platform_names_only_variables_the_service_reads() -> None:
    _, render = _render()
    app, _ = _heroku()
    named = {
        "render.yaml": set(render),
        "fly.toml": set(_fly()["env"]),
        "app.json": set(app["env"]),
    }
    for where, names in named.items():
        unknown = names - SERVICE_VARIABLES
        assert not unknown, f"{where} sets {sorted(unknown)}, which the service never reads"
    # The same credentials are asked for everywhere they can be.
    assert set(render) == set(app["env"])


@pytest.mark.parametrize("pair", [("AGORA_APP_ID", "AGORA_APP_CERTIFICATE"),
                                  ("LIVEKIT_API_KEY", "LIVEKIT_API_SECRET"),
                                  ("VIDEOSDK_API_KEY", "VIDEOSDK_SECRET_KEY")])  # fmt: skip
def test_credentials_are_asked_for_never_shipped(pair: tuple[str, str]) -> None:
    _, render = _render()
    app, _ = _heroku()
    for name in pair:
        assert render[name] == {"key": name, "sync": False}
        assert "value" not in app["env"][name] and app["env"][name]["required"] is False
        assert name not in _fly()["env"]


def test_every_platform_requires_authentication_with_a_generated_key() -> None:
    _, render = _render()
    app, _ = _heroku()
    assert render["AUTH_MODE"]["value"] in SAFE_AUTH_MODES
    assert render["API_KEYS"] == {"key": "API_KEYS", "generateValue": True}
    assert app["env"]["AUTH_MODE"]["value"] in SAFE_AUTH_MODES
    assert app["env"]["API_KEYS"]["generator"] == "secret"
    assert _fly()["env"]["AUTH_MODE"] in SAFE_AUTH_MODES
    # Railway's file has no variables: the image's own AUTH_MODE applies there.
    assert "\nENV AUTH_MODE=api-key \\\n" in (ROOT / "Dockerfile").read_text()


def test_fly_routes_to_the_port_the_service_binds() -> None:
    fly = _fly()
    assert int(fly["env"]["SERVER_PORT"]) == fly["http_service"]["internal_port"]
    assert fly["kill_signal"] == "SIGTERM" and fly["kill_timeout"] > 30


def _env_file(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {key.strip(): value.strip() for key, value in pairs if not key.startswith("#")}


def test_every_shipped_example_sets_a_safe_auth_mode() -> None:
    deployment = yaml.safe_load((DEPLOY / "kubernetes" / "deployment.yaml").read_text())
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    env = {item["name"]: item.get("value") for item in container["env"]}
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    compose_mode = compose["services"]["rtc-token-service"]["environment"]["AUTH_MODE"]
    unit = (DEPLOY / "systemd" / "rtc-token-service.service").read_text()
    found = {
        "kubernetes": env["AUTH_MODE"],
        "compose": compose_mode.removeprefix("${AUTH_MODE:-").removesuffix("}"),
        "example.env": _env_file(DEPLOY / "example.env")["AUTH_MODE"],
        "systemd": re.findall(r"^Environment=AUTH_MODE=(.*)$", unit, re.MULTILINE)[0],
    }
    for where, mode in found.items():
        assert mode in SAFE_AUTH_MODES, f"{where}: AUTH_MODE={mode}"
    # The variables the examples set are the service's too.
    assert set(env) <= SERVICE_VARIABLES
    assert set(_env_file(DEPLOY / "example.env")) <= SERVICE_VARIABLES
    secret = yaml.safe_load((DEPLOY / "kubernetes" / "secret.example.yaml").read_text())
    assert set(secret["stringData"]) <= SERVICE_VARIABLES
    assert "API_KEYS" in secret["stringData"]
