"""Node.js programs that judge the service: Agora's official `agora-token` npm package
(tests/oracle) and the JavaScript client scripts (tests/clients)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from tests.helpers.settings import CERTIFICATE

TESTS = Path(__file__).parent.parent
ORACLE_DIR = TESTS / "oracle"


class Oracle:
    """Runs Agora's official `agora-token` npm package (tests/oracle/oracle.js)."""

    def __init__(self, node: str) -> None:
        self.node = node

    def run(self, requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
        completed = subprocess.run(
            [self.node, str(ORACLE_DIR / "oracle.js")],
            input=json.dumps(requests),
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        )
        answers: list[dict[str, Any]] = json.loads(completed.stdout)
        for answer in answers:
            assert "error" not in answer, answer
        return answers

    def parse(self, tokens: list[str], certificate: str = CERTIFICATE) -> list[dict[str, Any]]:
        return self.run([{"op": "parse", "token": t, "certificate": certificate} for t in tokens])


def run_node_client(node: str, script: str, *args: str) -> Any:
    """Run a client script from tests/clients and return the JSON it prints."""
    done = subprocess.run(
        [node, str(TESTS / "clients" / script), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(done.stdout)
