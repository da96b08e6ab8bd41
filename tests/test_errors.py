"""Error codes: one enum, each documented, and the docs' table generated from it."""

from __future__ import annotations

import ast
from pathlib import Path

from service.errors import CODES, ErrorCode
from service.reference import ERRORS_PAGE, error_table, with_error_table

SERVICE = Path(__file__).resolve().parent.parent / "service"


def test_every_error_code_has_a_documented_meaning() -> None:
    assert set(CODES) == set(ErrorCode)


def test_the_error_page_holds_the_table_generated_from_the_codes() -> None:
    page = ERRORS_PAGE.read_text(encoding="utf-8")
    assert with_error_table(page) == page, "run: python -m service.reference"


def test_each_code_is_listed_once_in_the_table() -> None:
    table = error_table()
    for code in ErrorCode:
        assert table.count(f"`{code.value}`") == 1


def test_no_module_names_an_error_code_as_a_bare_string() -> None:
    """ApiError's code is an ErrorCode: a string literal there is a code outside the enum."""
    offenders = []
    for path in SERVICE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", None) == "ApiError"
                and len(node.args) >= 2
                and isinstance(node.args[1], ast.Constant)
            ):
                offenders.append(f"{path.name}:{node.lineno}")
    assert offenders == []


def test_not_configured_and_policy_denied_are_each_said_by_one_helper() -> None:
    """503 platform_disabled only through ApiError.not_configured, 403 forbidden only
    through PolicyDenied: both are written in service/errors.py alone."""
    for path in SERVICE.rglob("*.py"):
        if path == SERVICE / "errors.py":
            continue
        text = path.read_text()
        assert "ErrorCode.PLATFORM_DISABLED" not in text, path
        assert "ErrorCode.FORBIDDEN" not in text, path
