"""constraints.txt: the pinned runtime closure the Docker image and CI install. It pins
every runtime dependency inside pyproject.toml's bounds, nothing from the test extra, and
is what deploy/make_constraints.py writes from this environment when it was installed
with the pins."""

from __future__ import annotations

import importlib.util
import tomllib
from pathlib import Path
from types import ModuleType

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).parents[2]
CONSTRAINTS = ROOT / "constraints.txt"
GENERATOR = ROOT / "deploy" / "make_constraints.py"


def _pins() -> dict[str, Version]:
    pins: dict[str, Version] = {}
    for line in CONSTRAINTS.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[canonicalize_name(name)] = Version(version)
    return pins


def _runtime_requirements() -> list[Requirement]:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return [Requirement(line) for line in pyproject["project"]["dependencies"]]


def test_every_runtime_dependency_is_pinned_within_its_bounds() -> None:
    pins = _pins()
    for requirement in _runtime_requirements():
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name}: not pinned; regenerate constraints.txt (see its header)"
        assert pins[name] in requirement.specifier, f"{name}=={pins[name]} {requirement}"


def test_nothing_from_the_test_extra_is_pinned() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    tools = {
        canonicalize_name(Requirement(line).name)
        for line in pyproject["project"]["optional-dependencies"]["test"]
    }
    runtime = {canonicalize_name(r.name) for r in _runtime_requirements()}
    assert not (set(_pins()) & (tools - runtime))


def test_the_header_says_how_to_regenerate_it() -> None:
    assert "python deploy/make_constraints.py > constraints.txt" in CONSTRAINTS.read_text()


def test_the_image_and_ci_install_with_it() -> None:
    assert "pip install --requirement constraints.txt" in (ROOT / "Dockerfile").read_text()
    assert "-c constraints.txt -e '.[test]'" in (ROOT / ".ci" / "run").read_text()


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_constraints", GENERATOR)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_it_is_what_the_generator_writes_for_this_environment() -> None:
    closure = _generator().runtime_closure(ROOT)
    written: dict[str, Version] = {
        canonicalize_name(name): Version(version) for name, version in closure.items()
    }
    pins = _pins()
    if any(written.get(name) != version for name, version in pins.items() if name in written):
        # .ci/run's second run, against the newest versions the bounds allow.
        pytest.skip("this environment was installed without constraints.txt")
    assert written == pins, "regenerate constraints.txt (see its header)"
