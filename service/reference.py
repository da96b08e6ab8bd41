"""Generated parts of the reference docs: the error-code table in docs/errors.md comes
from service.errors.CODES. Run `python -m service.reference` after changing a code; a test
fails while the page and the code disagree."""

from __future__ import annotations

import sys
from pathlib import Path

from service.errors import CODES

START, END = "<!-- error-codes:start -->", "<!-- error-codes:end -->"
ERRORS_PAGE = Path(__file__).resolve().parent.parent / "docs" / "errors.md"


def error_table() -> str:
    rows = ["| status | `error` | when |", "|---|---|---|"]
    ordered = sorted(CODES.items(), key=lambda item: (item[1].statuses, item[0].value))
    for code, doc in ordered:
        statuses = ", ".join(str(status) for status in doc.statuses)
        rows.append(f"| {statuses} | `{code.value}` | {doc.when} |")
    return "\n".join(rows)


def with_error_table(page: str) -> str:
    """`page` with the text between the markers replaced by the current table."""
    before, start, rest = page.partition(START)
    _, end, after = rest.partition(END)
    if not start or not end:
        raise ValueError(f"the page lacks the markers {START} and {END}")
    return f"{before}{START}\n{error_table()}\n{END}{after}"


def main() -> None:
    page = ERRORS_PAGE.read_text(encoding="utf-8")
    updated = with_error_table(page)
    if updated != page:
        ERRORS_PAGE.write_text(updated, encoding="utf-8")
        print(f"updated {ERRORS_PAGE}")
    sys.exit(0)


if __name__ == "__main__":
    main()
