# iomwatch: one container that runs for months. Config by environment (IOMWATCH_*) and/or a
# TOML file (IOMWATCH_CONFIG); data in the /data volume; logs to stdout/stderr.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    IOMWATCH_DATA_DIR=/data \
    IOMWATCH_SERVER_HOST=0.0.0.0 \
    IOMWATCH_SERVER_PORT=8080

WORKDIR /app
COPY pyproject.toml README.md scrapy.cfg ./
COPY crawler ./crawler
COPY scheduler ./scheduler
COPY feeds ./feeds
COPY replica ./replica
RUN pip install --no-cache-dir . \
    && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin iomwatch \
    && mkdir -p /data && chown iomwatch /data

USER 10001
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('IOMWATCH_SERVER_PORT', '8080'), timeout=4)"]
STOPSIGNAL SIGTERM
CMD ["iomwatch", "run"]
