# syntax=docker/dockerfile:1
# Build from the project root:  docker build -f deploy/Dockerfile -t rtc-token-service .
# No secret is baked in: every credential comes from the environment at run time.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
# A fixed numeric user, so Kubernetes' runAsNonRoot can check it.
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app --no-create-home app \
    && mkdir /data \
    && chown 10001:10001 /data

# Dependencies in their own layer: rebuilt only when pyproject.toml changes.
COPY pyproject.toml README.md ./
RUN mkdir service \
    && touch service/__init__.py \
    && pip install . \
    && pip uninstall --yes rtc-token-service \
    && rm -r service

COPY service ./service
RUN pip install --no-deps .

USER 10001:10001
ENV SERVER_HOST=0.0.0.0 \
    SERVER_PORT=6080 \
    EVENTS_DB_PATH=/data/events.sqlite3
EXPOSE 6080
VOLUME ["/data"]
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:6080/healthz', timeout=2).status != 200)"]
CMD ["rtc-token-service", "serve"]
