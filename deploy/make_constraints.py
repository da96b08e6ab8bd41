"""Write constraints.txt: the installed version of every package the service needs at run
time (pyproject.toml's dependencies and theirs, for this Python and platform), nothing from
the test extra. Run it from the project root in a venv where the tests just passed:

    .venv/bin/python deploy/make_constraints.py > constraints.txt

To move to newer versions: `pip install --upgrade -e '.[test]'` (no -c), run the tests, then
regenerate. The Docker image and .ci/run install with these pins."""

from __future__ import annotations

import sys
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

HEADER = """\
# Pinned versions of the service's runtime dependencies (pyproject.toml's and theirs),
# the ones the tests last passed with. Used by the Dockerfile (`pip install -r`) and by
# .ci/run (`pip install -c constraints.txt -e '.[test]'`); .ci/run also runs the fast tier
# once against the newest versions pyproject.toml allows, so drift shows early.
# Regenerate, after upgrading and running the tests, with:
#     .venv/bin/python deploy/make_constraints.py > constraints.txt
"""


def _applies(requirement: Requirement, extras: frozenset[str]) -> bool:
    """Whether this Python, on this platform, with these extras asked for, needs it."""
    if requirement.marker is None:
        return True
    return any(requirement.marker.evaluate({"extra": extra}) for extra in extras | {""})


def runtime_closure(project: Path) -> dict[str, str]:
    """Installed name -> version for the runtime dependencies and theirs (no test extra)."""
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    waiting = [
        requirement
        for requirement in map(Requirement, pyproject["project"]["dependencies"])
        if _applies(requirement, frozenset())
    ]
    found: dict[str, str] = {}
    seen: set[tuple[str, frozenset[str]]] = set()
    while waiting:
        requirement = waiting.pop()
        name, extras = canonicalize_name(requirement.name), frozenset(requirement.extras)
        if (name, extras) in seen:
            continue
        seen.add((name, extras))
        distribution = metadata.distribution(requirement.name)
        found[name] = distribution.version
        for line in distribution.requires or ():
            needed = Requirement(line)
            if _applies(needed, extras):
                waiting.append(needed)
    return found


def main() -> int:
    pins = runtime_closure(Path(__file__).resolve().parents[1])
    sys.stdout.write(HEADER + "".join(f"{name}=={pins[name]}\n" for name in sorted(pins)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
