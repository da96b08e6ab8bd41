"""Clients written for Agora's Go token-server sample work against us unchanged."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest

from service.agora.settings import DEV_AGORA_APP_CERTIFICATE
from tests.helpers import ORACLE_DIR, Oracle

pytestmark = pytest.mark.slow


def test_the_samples_web_and_android_clients_get_tokens_the_official_parser_accepts(
    served: Any, oracle: Oracle
) -> None:
    port, _ = served
    done = subprocess.run(
        [
            oracle.node,
            str(ORACLE_DIR / "sample_client.js"),
            f"http://127.0.0.1:{port}/fetch_rtc_token",
            DEV_AGORA_APP_CERTIFICATE,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    answers = json.loads(done.stdout)
    for answer in answers.values():
        assert (answer["status"], answer["code"], answer["signature_valid"]) == (200, "200", True)
        assert answer["channel"] == "demo"
        assert answer["cors"] == "*"
    assert (answers["web"]["uid"], answers["web"]["privileges"]) == ("1234", [1, 2, 3, 4])
    assert (answers["android"]["uid"], answers["android"]["privileges"]) == ("5678", [1])
