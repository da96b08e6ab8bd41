"""Command line: `serve` (the default), `check-config`, `agora-token`, `inspect` and
`loadtest`."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from typing import Any

from service import __version__
from service.access.callers import ANONYMOUS
from service.access.policy import AgoraPolicy
from service.agora.admission import (
    ROLES_BY_NAME,
    ChatTokenRequest,
    RtcTokenRequest,
    RtmTokenRequest,
    admit_chat,
    admit_rtc,
    admit_rtm,
)
from service.agora.inspect import describe_token
from service.agora.issue import issue_chat_token, issue_rtc_token, issue_rtm_token
from service.agora.salts import random_salt
from service.agora.wire import TokenFormatError
from service.apps import App
from service.config import ConfigError, Settings, load_settings, summarize_settings
from service.env import Env
from service.errors import ApiError
from service.store.base import StoreUnavailable

PROG = "rtc-token-service"
COMMANDS = ("serve", "check-config", "agora-token", "inspect", "loadtest")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Token server for Agora, LiveKit and VideoSDK apps."
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the HTTP service (the default command)")
    serve.add_argument(
        "--host",
        help="address to bind (env SERVER_HOST; default 0.0.0.0; with --dev 127.0.0.1)",
    )
    serve.add_argument("--port", type=int, help="port to bind (env SERVER_PORT; default 6080)")
    serve.add_argument(
        "--workers",
        type=int,
        help="worker processes on one port, run by gunicorn (env WORKERS; default 1)",
    )
    serve.add_argument(
        "--dev",
        action="store_true",
        help="bind 127.0.0.1 and fill missing credentials with development values",
    )

    check = commands.add_parser(
        "check-config",
        help="read the configuration as serve would, print a summary without secrets, and exit",
    )
    check.add_argument("--host", help="as serve's --host")
    check.add_argument("--port", type=int, help="as serve's --port")
    check.add_argument("--workers", type=int, help="as serve's --workers")
    check.add_argument("--dev", action="store_true", help="as serve's --dev")
    check.add_argument("--json", action="store_true", help="print the summary as JSON")

    mint = commands.add_parser("agora-token", help="mint an Agora token from the command line")
    mint.add_argument("--dev", action="store_true", help="use development credentials if unset")
    mint.add_argument("--json", action="store_true", help="print the full answer as JSON")
    mint.add_argument(
        "--app-name", help="the app (of APPS_FILE) whose credentials sign it (default: default)"
    )
    kinds = mint.add_subparsers(dest="kind", metavar="KIND", required=True)
    rtc = kinds.add_parser("rtc", help="an RTC token (optionally with RTM login)")
    rtc.add_argument("--channel", required=True)
    who = rtc.add_mutually_exclusive_group(required=True)
    who.add_argument("--uid", type=int, help="numeric uid, 0 = any uid")
    who.add_argument("--account", help="string user account")
    rtc.add_argument("--role", choices=sorted(ROLES_BY_NAME), default="publisher")
    rtc.add_argument("--expire", type=int, help="token lifetime in seconds")
    rtc.add_argument("--privilege-expire", type=int, help="privilege lifetime in seconds")
    rtc.add_argument("--with-rtm", action="store_true", help="also grant RTM login")
    rtm = kinds.add_parser("rtm", help="an RTM login token")
    rtm.add_argument("--user-id", required=True)
    rtm.add_argument("--expire", type=int)
    chat = kinds.add_parser("chat", help="a Chat user token, or with --app an app token")
    chat_who = chat.add_mutually_exclusive_group(required=True)
    chat_who.add_argument("--user-id")
    chat_who.add_argument("--app", action="store_true")
    chat.add_argument("--expire", type=int)

    load = commands.add_parser(
        "loadtest", help="renew tokens from a fleet of virtual clients and report"
    )
    load.add_argument("--url", default="http://127.0.0.1:6080", help="the service to load")
    load.add_argument("--mode", choices=("agora", "livekit", "videosdk"), default="agora")
    load.add_argument("--clients", type=int, default=100, help="virtual clients")
    load.add_argument("--expire", type=int, default=40, help="token lifetime in seconds")
    load.add_argument("--duration", type=float, default=60.0, help="seconds to run (max 3600)")
    load.add_argument(
        "--compression", type=float, default=1.0, help="time compression: 10 = ten times faster"
    )
    load.add_argument("--jitter", type=float, default=0.1, help="renewal jitter, share of cycle")
    load.add_argument("--connections", type=int, default=64, help="most open connections")
    load.add_argument("--api-key", help="send X-API-Key (AUTH_MODE=api-key)")
    load.add_argument("--bearer", help="send Authorization: Bearer (AUTH_MODE=jwt)")
    load.add_argument("--json", action="store_true", help="print the summary as JSON")
    load.add_argument("--allow-remote", action="store_true", help="load a non-loopback host")
    load.add_argument("--app", help="the app to load, as /apps/<name>/ before every path")

    inspect = commands.add_parser("inspect", help="decode a 006 or 007 token")
    inspect.add_argument("token")
    inspect.add_argument(
        "--certificate",
        help="check the signature with this app certificate (default: $AGORA_APP_CERTIFICATE)",
    )
    inspect.add_argument(
        "--app-name", help="check the signature with this app's certificate (of APPS_FILE)"
    )
    inspect.add_argument("--channel", help="006 only: the channel the token was made for")
    inspect.add_argument("--uid", help="006 only: the uid or account ('' for uid 0)")
    return parser


def _with_default_command(argv: Sequence[str]) -> list[str]:
    # `rtc-token-service` and `python -m service --dev` mean `serve`.
    args = list(argv)
    if not args or (args[0] not in COMMANDS and args[0] not in ("-h", "--help", "--version")):
        args.insert(0, "serve")
    return args


def _serve(args: argparse.Namespace) -> int:
    settings = load_settings(
        os.environ, dev=args.dev, host=args.host, port=args.port, workers=args.workers
    )
    if settings.workers == 1:
        from service.server import run

        run(settings)
        return 0
    # Metrics from several processes are summed through files in one folder; it must be
    # named before anything imports prometheus_client.
    metrics_dir = None
    if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        metrics_dir = tempfile.mkdtemp(prefix="rtc-token-service-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    from service.server import announce, prepare
    from service.workers import run_workers

    prepare(settings)
    announce(settings)
    run_workers(settings, metrics_dir=metrics_dir)
    return 0


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _summary_lines(summary: dict[str, Any]) -> list[str]:
    workers = summary["workers"]
    lines = [
        f"{PROG}: configuration OK" + (" (--dev)" if summary["dev"] else ""),
        f"  listen:       {summary['host']}:{summary['port']}, {_count(workers, 'worker')}",
        f"  apps:         {len(summary['apps'])} (from {summary['apps_source']})",
    ]
    for app in summary["apps"]:
        enabled = [name for name, on in app["platforms"].items() if on]
        details = [
            "platforms " + (", ".join(enabled) or "none"),
            _count(app["api_keys"], "API key"),
            "policy" if app["policy"] else "no policy",
        ]
        if app["forward_host"]:
            details.append(f"forwards to {app['forward_host']}")
        if app["own_login_rules"]:
            details.append("own login-token rules")
        lines.append(f"    {app['name']}: {'; '.join(details)}")
    auth = summary["auth_mode"]
    if auth == "api-key":
        auth += f" ({_count(summary['api_keys'], 'service-wide API key')})"
    elif summary["login_tokens"]:
        auth += f" (login tokens: {summary['login_tokens']})"
    store = summary["event_store"]
    if summary["events_db_path"]:
        store += f" ({summary['events_db_path']})"
    lines += [
        f"  AUTH_MODE:    {auth}",
        f"  POLICY_FILE:  {'set' if summary['policy'] else 'unset (no policy)'}",
        f"  event store:  {store}",
        f"  forwarding:   {summary['forward_host'] or 'off'}",
        f"  events API:   {'on' if summary['events_api'] else 'off (EVENTS_API_TOKEN unset)'}",
    ]
    if summary["trusted_proxies"]:
        lines.append(f"  proxies:      {', '.join(summary['trusted_proxies'])}")
    if summary["secret_files"]:
        lines.append(f"  secret files: {', '.join(summary['secret_files'])}")
    lines += [f"  warning: {warning}" for warning in summary["warnings"]]
    return lines


def _check_config(args: argparse.Namespace) -> int:
    """Everything serve reads, read the same way (every file it names too), then a summary
    that holds no secret. A bad value raises ConfigError, printed as serve prints it."""
    settings = load_settings(
        os.environ, dev=args.dev, host=args.host, port=args.port, workers=args.workers
    )
    summary = summarize_settings(settings, os.environ)
    print(json.dumps(summary, indent=2) if args.json else "\n".join(_summary_lines(summary)))
    return 0


def _app(settings: Settings, name: str | None) -> App:
    """The app `name` (or the default one) among the configured apps."""
    apps = settings.apps()
    app = apps.default if name is None else apps.get(name)
    if app is None:
        known = ", ".join(sorted(apps.by_name))
        raise ConfigError(f"--app-name: no such app {name!r} (apps: {known})")
    return app


def _mint(args: argparse.Namespace) -> int:
    settings: Settings = load_settings(os.environ, dev=args.dev)
    agora = _app(settings, args.app_name).agora
    stamp = {"issue_ts": int(time.time()), "salt": random_salt()}
    # The operator at the command line is not a caller: configuration alone governs.
    operator, open_policy = ANONYMOUS, AgoraPolicy()
    if args.kind == "rtc":
        rtc = RtcTokenRequest(
            channel=args.channel,
            uid=args.uid,
            user_account=args.account,
            role=ROLES_BY_NAME[args.role],
            expire=args.expire,
            privilege_expire=args.privilege_expire,
            with_rtm=args.with_rtm,
        )
        answer = issue_rtc_token(agora, admit_rtc(agora, operator, open_policy, rtc), **stamp)
    elif args.kind == "rtm":
        rtm = RtmTokenRequest(user_id=args.user_id, expire=args.expire)
        answer = issue_rtm_token(agora, admit_rtm(agora, operator, open_policy, rtm), **stamp)
    else:
        chat = ChatTokenRequest(
            kind="app" if args.app else "user", user_id=args.user_id, expire=args.expire
        )
        answer = issue_chat_token(agora, admit_chat(agora, operator, open_policy, chat), **stamp)
    print(json.dumps(answer, indent=2) if args.json else answer["token"])
    return 0


def _inspect(args: argparse.Namespace) -> int:
    certificate = args.certificate or Env(os.environ).text("AGORA_APP_CERTIFICATE")
    if args.app_name is not None:
        credentials = _app(load_settings(os.environ), args.app_name).agora.credentials
        if credentials is None:
            raise ConfigError(f"--app-name: app {args.app_name!r} has no Agora credentials")
        certificate = credentials.certificate
    try:
        described = describe_token(
            args.token, certificate=certificate, channel=args.channel, uid=args.uid
        )
    except TokenFormatError as exc:
        print(f"{PROG}: not a valid Agora token: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(described, indent=2, ensure_ascii=False))
    return 1 if described["signature"] == "invalid" else 0


def _loadtest(args: argparse.Namespace) -> int:
    from service.loadtest import LoadConfig
    from service.loadtest import main as run_loadtest

    headers = {}
    if args.api_key:
        headers["X-API-Key"] = args.api_key
    if args.bearer:
        headers["Authorization"] = f"Bearer {args.bearer}"
    config = LoadConfig(
        url=args.url,
        mode=args.mode,
        clients=args.clients,
        expire=args.expire,
        duration=args.duration,
        compression=args.compression,
        jitter=args.jitter,
        connections=args.connections,
        headers=headers,
        allow_remote=args.allow_remote,
        app=args.app,
    )
    return run_loadtest(config, as_json=args.json)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(_with_default_command(sys.argv[1:] if argv is None else argv))
    try:
        if args.command == "check-config":
            return _check_config(args)
        if args.command == "agora-token":
            return _mint(args)
        if args.command == "inspect":
            return _inspect(args)
        if args.command == "loadtest":
            return _loadtest(args)
        return _serve(args)
    except ConfigError as exc:
        print(f"{PROG}: configuration error: {exc}", file=sys.stderr)
        return 2
    except StoreUnavailable as exc:
        print(f"{PROG}: cannot start: {exc}", file=sys.stderr)
        return 2
    except ApiError as exc:
        print(f"{PROG}: {exc.message}", file=sys.stderr)
        return 2
