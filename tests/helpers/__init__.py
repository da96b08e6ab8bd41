"""What tests share that is not a fixture: credentials and settings (settings.py), the
in-process client's types (clients.py), the Node.js oracle and client scripts (node.py),
and real processes (processes.py). Test modules import these from `tests.helpers`;
conftest.py holds only fixtures and hooks, and nothing imports from it."""

from tests.helpers.clients import Client, MakeClient, preflight
from tests.helpers.node import ORACLE_DIR, TESTS, Oracle, run_node_client
from tests.helpers.processes import (
    environ_without_settings,
    free_port,
    redis_server,
    run_cli,
    running_service,
    wait_for,
    wait_until_listening,
)
from tests.helpers.settings import (
    APP_ID,
    CERTIFICATE,
    LIVEKIT_KEY,
    LIVEKIT_OLD_KEY,
    LIVEKIT_OLD_SECRET,
    LIVEKIT_SECRET,
    LIVEKIT_URL,
    NOW,
    SALT,
    VIDEOSDK_KEY,
    VIDEOSDK_SECRET,
    VIDEOSDK_UNREACHABLE,
    agora_settings,
    livekit_settings,
    make_settings,
    videosdk_settings,
)

__all__ = [
    "APP_ID",
    "CERTIFICATE",
    "LIVEKIT_KEY",
    "LIVEKIT_OLD_KEY",
    "LIVEKIT_OLD_SECRET",
    "LIVEKIT_SECRET",
    "LIVEKIT_URL",
    "NOW",
    "ORACLE_DIR",
    "SALT",
    "TESTS",
    "VIDEOSDK_KEY",
    "VIDEOSDK_SECRET",
    "VIDEOSDK_UNREACHABLE",
    "Client",
    "MakeClient",
    "Oracle",
    "agora_settings",
    "environ_without_settings",
    "free_port",
    "livekit_settings",
    "make_settings",
    "preflight",
    "redis_server",
    "run_cli",
    "run_node_client",
    "running_service",
    "videosdk_settings",
    "wait_for",
    "wait_until_listening",
]
