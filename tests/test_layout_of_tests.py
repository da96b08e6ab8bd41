"""The tests' own layout (issue 20): helpers live in tests/helpers, conftest.py files hold
only fixtures and hooks, and no module imports from a conftest.py, which pytest loads on its
own and which is not meant to be imported (it can end up loaded twice, under two names).
And the fast tier, `pytest -m "not slow"`, starts no process: a test that does is marked."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

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


# What starts a process or an external program when a test calls it. The fixtures that do
# (conftest.PROCESS_FIXTURES) mark their tests slow by themselves.
STARTS_A_PROCESS = frozenset(
    {
        "running_service",
        "run_cli",
        "redis_server",
        "run_node_client",
        "nginx_in_front_of",
        "subprocess",
        "Popen",
        "fork",
        "create_subprocess_exec",
        "create_subprocess_shell",
    }
)


def _named(node: ast.AST) -> set[str]:
    """The names, attributes and parameters a definition mentions."""
    names: set[str] = set()
    for inner in ast.walk(node):
        if isinstance(inner, ast.Name):
            names.add(inner.id)
        elif isinstance(inner, ast.Attribute):
            names.add(inner.attr)
        elif isinstance(inner, ast.arg):
            names.add(inner.arg)
    return names


def unmarked_process_tests(tree: ast.Module) -> list[str]:
    """Tests of a module that start a process, themselves or through the module's own
    functions and fixtures, without being marked slow (or the whole module being)."""
    for statement in tree.body:
        if (
            isinstance(statement, ast.Assign)
            and [ast.unparse(target) for target in statement.targets] == ["pytestmark"]
            and "pytest.mark.slow" in ast.unparse(statement.value)
        ):
            return []
    functions = {
        statement.name: statement
        for statement in tree.body
        if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef)
    }

    def reached(name: str, seen: set[str]) -> set[str]:
        seen.add(name)
        names = _named(functions[name])
        for other in names & functions.keys() - seen:
            names |= reached(other, seen)
        return names

    return [
        name
        for name, function in functions.items()
        if name.startswith("test_")
        and not any(ast.unparse(d) == "pytest.mark.slow" for d in function.decorator_list)
        and reached(name, set()) & STARTS_A_PROCESS
    ]


def test_every_test_that_starts_a_process_is_marked_slow() -> None:
    unmarked = [
        f"{path.relative_to(TESTS.parent)}::{name}"
        for path in python_files()
        if path.name.startswith("test_")
        for name in unmarked_process_tests(ast.parse(path.read_text(), str(path)))
    ]
    assert not unmarked, f"mark these @pytest.mark.slow: {unmarked}"


@pytest.mark.parametrize(
    ("source", "unmarked"),
    [
        ("def test_a():\n    run_cli('x')", ["test_a"]),
        ("def _helper():\n    subprocess.run([])\ndef test_a():\n    _helper()", ["test_a"]),
        ("@pytest.fixture\ndef up():\n    os.fork()\ndef test_a(up):\n    pass", ["test_a"]),
        ("@pytest.mark.slow\ndef test_a():\n    run_cli('x')", []),
        ("pytestmark = pytest.mark.slow\ndef test_a():\n    run_cli('x')", []),
        ("pytestmark = [pytest.mark.slow]\ndef test_a():\n    run_cli('x')", []),
        ("def test_a():\n    assert 1 + 1 == 2", []),
    ],
)
def test_the_slow_check_follows_helpers_and_fixtures(source: str, unmarked: list[str]) -> None:
    assert unmarked_process_tests(ast.parse(source)) == unmarked
