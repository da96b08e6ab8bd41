# syntax=docker/dockerfile:1
# Build from the project root:  docker build -t rtc-token-service .
# No secret is baked in: every credential comes from the environment at run time.
# Render, Railway, Fly.io and Heroku (render.yaml, railway.json, fly.toml, heroku.yml beside
# it) and deploy/docker-compose.yml all build this same file.

# --- builder: a virtual environment with the pinned dependencies and the service ---------
FROM python:3.11-slim AS builder

ENV PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src

# Dependencies in their own layer, at the versions constraints.txt pins (the runtime
# closure the tests ran against): rebuilt only when constraints.txt changes.
COPY constraints.txt ./
RUN pip install --requirement constraints.txt

COPY pyproject.toml README.md LICENSE ./
COPY service ./service
# `--constraint` again, so a dependency pyproject.toml gained since constraints.txt was made
# fails `pip check` below rather than arriving at whatever version is newest today.
RUN pip install --no-deps --constraint constraints.txt . \
    && pip check \
    && pip uninstall --yes pip setuptools

# --- the image: slim, no build tools, no pip in the venv, a non-root user ----------------
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH

# A fixed numeric user, so Kubernetes' runAsNonRoot can check it.
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app --no-create-home app \
    && mkdir /data /app \
    && chown 10001:10001 /data

COPY --from=builder /opt/venv /opt/venv
WORKDIR /app

USER 10001:10001
# SERVER_PORT is deliberately not set here: the service reads SERVER_PORT, then PORT (what
# Heroku, Render and Railway assign), then 6080. Set SERVER_PORT to choose a port yourself.
# Token callers must authenticate unless the deployment says otherwise (jwt, or a key
# list): without keys the service refuses to start rather than serve tokens to anyone.
ENV AUTH_MODE=api-key \
    SERVER_HOST=0.0.0.0 \
    EVENTS_DB_PATH=/data/events.sqlite3
EXPOSE 6080
VOLUME ["/data"]
STOPSIGNAL SIGTERM
# Follows the port the service really binds: SERVER_PORT, else PORT, else 6080.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request; port = (os.environ.get('SERVER_PORT') or os.environ.get('PORT') or '6080').strip(); sys.exit(urllib.request.urlopen(f'http://127.0.0.1:{port}/healthz', timeout=2).status != 200)"]
CMD ["rtc-token-service", "serve"]
