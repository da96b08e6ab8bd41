"""A real nginx on 127.0.0.1, configured with deploy/nginx's proxy and internal-routes
snippets (as the shipped sites include them), for tests."""

from __future__ import annotations

import contextlib
import datetime
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.helpers import free_port

NGINX = Path(__file__).parents[2] / "deploy" / "nginx"
SNIPPET = NGINX / "rtc-token-service-proxy.conf"
INTERNAL = NGINX / "rtc-token-service-internal.conf"
SNIPPET_PATH = "/etc/nginx/snippets/rtc-token-service-proxy.conf"
INTERNAL_PATH = "/etc/nginx/snippets/rtc-token-service-internal.conf"


def internal_snippet(folder: Path) -> Path:
    """deploy/nginx's internal-routes snippet, including the proxy snippet from here."""
    text = INTERNAL.read_text()
    assert SNIPPET_PATH in text
    copy = folder / INTERNAL.name
    copy.write_text(text.replace(SNIPPET_PATH, str(SNIPPET)))
    return copy


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tokens.example.com")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    certificate_path, key_path = folder / "cert.pem", folder / "key.pem"
    certificate_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return certificate_path, key_path


@contextlib.contextmanager
def nginx_in_front_of(upstream_port: int, folder: Path) -> Iterator[int]:
    """nginx listening on 127.0.0.1:<port>, proxying to the service with our snippet."""
    nginx = shutil.which("nginx")
    if nginx is None:
        pytest.skip("nginx is not installed: apt-get install nginx")
    port = free_port()
    internal = internal_snippet(folder)
    user = "user root;\n" if os.geteuid() == 0 else ""
    (folder / "nginx.conf").write_text(
        f"""{user}worker_processes 1;
pid {folder}/nginx.pid;
error_log {folder}/error.log;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {folder}/body;
    proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/scgi;
    upstream rtc_token_service {{
        server 127.0.0.1:{upstream_port};
        keepalive 8;
    }}
    server {{
        listen 127.0.0.1:{port};
        server_tokens off;
        include {internal};
        location / {{
            include {SNIPPET};
        }}
    }}
}}
"""
    )
    process = subprocess.Popen(
        [nginx, "-p", str(folder), "-c", str(folder / "nginx.conf"), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            assert process.poll() is None, process.stderr.read() if process.stderr else b""
            try:
                import socket

                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail("nginx did not start")
                time.sleep(0.05)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)
