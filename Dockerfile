# iomwatch: one container that runs for months. Config by environment (IOMWATCH_*) and/or a
# TOML file (IOMWATCH_CONFIG); data in the /data volume; logs to stdout/stderr.
#
# Build: `docker build -t iomwatch .` (needs Docker Hub for the default base image), or
# `make image`, which builds a Debian bookworm base locally (docker/base-image.sh) and passes it
# as BASE_IMAGE. Any image with Python 3.11+, its venv module and apt works as the base.
# Stop: the service needs its crawl grace (crawl.stop_grace_seconds, default 10 s) twice over to
# stop cleanly, more than Docker's default 10 s: `docker stop -t 60`, or `--stop-timeout 60` on
# `docker run`, `stop_grace_period: 60s` in compose.yaml.
ARG BASE_IMAGE=python:3.11-slim-bookworm

# The dependencies, installed from the lock file with their hashes into a venv (Debian's own
# Python refuses a system-wide pip install); the project itself after them, without deps.
FROM ${BASE_IMAGE} AS build
# build/ca-bundle.crt, when present (make image writes it from the host's PIP_CERT), lets pip
# reach the index through a TLS-intercepting proxy; it stays in this stage, not in the image.
# The build backend first (docker/build.lock), so that the few sdists (feedgen) build without
# build isolation, which would fetch setuptools unpinned and unhashed.
COPY requirements.lock docker/build.lock build/ca-bundle.cr[t] /tmp/
RUN if [ -f /tmp/ca-bundle.crt ]; then export PIP_CERT=/tmp/ca-bundle.crt; fi \
    && python3 -m venv /opt/iomwatch \
    && /opt/iomwatch/bin/pip install --no-cache-dir --disable-pip-version-check \
        --require-hashes -r /tmp/build.lock \
    && /opt/iomwatch/bin/pip install --no-cache-dir --disable-pip-version-check \
        --require-hashes --no-build-isolation -r /tmp/requirements.lock
# One COPY (what .dockerignore lets through): every layer is a full copy on vfs storage.
COPY . /src
RUN /opt/iomwatch/bin/pip install --no-cache-dir --disable-pip-version-check \
    --no-deps --no-build-isolation /src

FROM ${BASE_IMAGE}
# tini is PID 1: it forwards SIGTERM to the service (which stops its crawl worker in order) and
# reaps whatever gets orphaned. Debian stable's version is the pin (security updates only).
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends tini ca-certificates \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt /var/log/dpkg.log \
    && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin iomwatch \
    && mkdir -p /data && chown iomwatch /data
COPY --from=build /opt/iomwatch /opt/iomwatch

ENV PATH=/opt/iomwatch/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    IOMWATCH_DATA_DIR=/data \
    IOMWATCH_SERVER_HOST=0.0.0.0 \
    IOMWATCH_SERVER_PORT=8080

WORKDIR /data
USER 10001
VOLUME ["/data"]
EXPOSE 8080
# Roles all and web: /healthz, which answers 503 when the scheduler has stopped or the crawl
# worker is lost, not only when the HTTP loop is down; scheduler and worker: no port, healthy
# while running (scheduler/healthcheck.py).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-m", "scheduler.healthcheck"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["iomwatch", "run"]
