"""The service uses other libraries through their public APIs only (issue 20): no
assignment to another package's module or class attributes (monkeypatching), and no
attribute starting with `_` read from another library's objects. A workaround for an
upstream behaviour lives in service/workarounds.py, on public APIs too.

A plain scan of service/'s syntax trees. Names bound by an import of a package that is
neither the standard library nor `service` are "foreign": no attribute of theirs is
assigned. A private attribute (`x._name`) is read only from `self` or `cls`, and not at
all in a class with a foreign base, whose private names are that library's."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

SERVICE = Path(__file__).resolve().parent.parent / "service"


def _foreign(module: str | None) -> bool:
    top = (module or "").split(".")[0]
    return bool(top) and top != "service" and top not in sys.stdlib_module_names


def _root(node: ast.expr) -> str | None:
    """The name an attribute chain or call chain starts from: `a` in a.b.c, a.b().c."""
    while isinstance(node, ast.Attribute | ast.Call | ast.Subscript):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


class _Scan(ast.NodeVisitor):
    def __init__(self, path: Path, foreign: set[str]) -> None:
        self.path, self.foreign = path, foreign
        self.found: list[str] = []
        self.foreign_classes: list[bool] = []

    def report(self, node: ast.AST, what: str) -> None:
        line = getattr(node, "lineno", 0)
        self.found.append(f"{self.path.relative_to(SERVICE.parent)}:{line}: {what}")

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self.foreign_classes.append(any(_root(base) in self.foreign for base in node.bases))
        self.generic_visit(node)
        self.foreign_classes.pop()

    def _may_be_foreign(self, node: ast.expr) -> bool:
        if not isinstance(node, ast.Name) or node.id not in {"self", "cls"}:
            return True  # not tracked: any object but our own self
        return bool(self.foreign_classes) and self.foreign_classes[-1]

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if _private(node.attr) and self._may_be_foreign(node.value):
            self.report(node, f"private attribute {ast.unparse(node)}")
        if isinstance(node.ctx, ast.Store | ast.Del) and _root(node.value) in self.foreign:
            self.report(node, f"assignment to another package's {ast.unparse(node)}")
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        name = node.func.id if isinstance(node.func, ast.Name) else None
        if name in {"setattr", "delattr"} and node.args and _root(node.args[0]) in self.foreign:
            self.report(node, f"{name} on another package's {ast.unparse(node.args[0])}")
        if name == "getattr" and len(node.args) >= 2 and self._may_be_foreign(node.args[0]):
            attribute = node.args[1]  # a name computed at run time is not judged here
            if isinstance(attribute, ast.Constant) and _private(str(attribute.value)):
                self.report(node, f"getattr {ast.unparse(node)}")
        self.generic_visit(node)


def _foreign_names(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if _foreign(alias.name):
                    names.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and _foreign(node.module):
            names.update(alias.asname or alias.name for alias in node.names)
    return names


def reaching_in(source: str, path: Path = SERVICE / "example.py") -> list[str]:
    tree = ast.parse(source)
    scan = _Scan(path, _foreign_names(tree))
    scan.visit(tree)
    return scan.found


def test_the_scan_finds_what_it_looks_for() -> None:
    assert reaching_in("from aiohttp import worker\nworker.web.SockSite = object\n")
    assert reaching_in("import aiohttp.web\nsetattr(aiohttp.web, 'SockSite', None)\n")
    assert reaching_in("from prometheus_client import Histogram\nH = Histogram()\nH._sum\n")
    assert reaching_in("def f(histogram):\n  histogram._buckets[0].inc(1)\n")
    assert reaching_in(
        "import prometheus_client\nprometheus_client.REGISTRY._names_to_collectors\n"
    )
    assert reaching_in("from aiohttp import web\nweb.Application()._router\n")
    assert reaching_in(
        "from aiohttp import web\nclass S(web.SockSite):\n  def f(self): self._sock\n"
    )
    assert reaching_in("from gunicorn.workers import base\ngetattr(base.Worker, '_x')\n")
    # Ours: a private name of our own class, or a standard-library object.
    assert reaching_in("class A:\n  def f(self): self._x = 1\n") == []
    assert reaching_in("class A:\n  @classmethod\n  def f(cls): cls._x\n") == []


def test_service_uses_other_libraries_through_public_apis_only() -> None:
    found = [
        line
        for path in sorted(SERVICE.rglob("*.py"))
        for line in reaching_in(path.read_text(), path)
    ]
    assert found == [], "\n".join(found)
