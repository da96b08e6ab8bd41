"""The tests' own layout (issue 20): helpers live in tests/helpers, conftest.py files hold
only fixtures and hooks, and no module imports from a conftest.py, which pytest loads on its
own and which is not meant to be imported (it can end up loaded twice, under two names)."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).parent


def python_files() -> list[Path]:
    return sorted(p for p in TESTS.rglob("*.py") if "node_modules" not in p.parts)


def imported_modules(tree: ast.Module) -> list[str]:
    """Every module an import statement names, relative ones with their leading dots."""
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = "." * node.level + (node.module or "")
            names.append(module)
            # `from tests import conftest`, `from . import conftest`
            names += [f"{module}.{alias.name}" for alias in node.names]
    return names


def test_no_module_imports_from_a_conftest() -> None:
    offenders = [
        f"{path.relative_to(TESTS.parent)}: {name}"
        for path in python_files()
        for name in imported_modules(ast.parse(path.read_text(), str(path)))
        if name.split(".")[-1] == "conftest"
    ]
    assert not offenders, f"import these from tests.helpers instead: {offenders}"


def test_the_import_check_sees_every_form_of_import() -> None:
    forms = [
        "from tests.conftest import APP_ID",
        "import tests.conftest",
        "from tests import conftest",
        "from .conftest import APP_ID",
        "from . import conftest",
        "def f():\n    from tests.conftest import running_service",
    ]
    for source in forms:
        names = imported_modules(ast.parse(source))
        assert any(n.split(".")[-1] == "conftest" for n in names), source


def test_conftest_files_hold_only_fixtures_and_hooks() -> None:
    helpers = []
    for path in TESTS.rglob("conftest.py"):
        for node in ast.parse(path.read_text(), str(path)).body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                decorators = [ast.unparse(d) for d in node.decorator_list]
                fixture = any(d.startswith("pytest.fixture") for d in decorators)
                if not (fixture or node.name.startswith("pytest_")):
                    helpers.append(f"{path.relative_to(TESTS.parent)}: {node.name}")
    assert not helpers, f"move these to tests/helpers: {helpers}"


def test_the_helpers_are_a_package() -> None:
    assert (TESTS / "helpers" / "__init__.py").is_file()
