# syntax=docker/dockerfile:1
# One image for the API (`shoa serve`, the default) and the worker (`docker run <image> worker`).

FROM python:3.12-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/shoa
# Dependencies first, so that a code change does not reinstall them.
COPY pyproject.toml README.md ./
RUN for package in shoa_api shoa_kernel accounts catalog personalization notify orders support insights winback migrations; do \
        mkdir "$package" && touch "$package/__init__.py"; \
    done \
    && /opt/shoa/bin/pip install . \
    && /opt/shoa/bin/pip uninstall --yes shoa
COPY shoa_api ./shoa_api
COPY shoa_kernel ./shoa_kernel
COPY accounts ./accounts
COPY catalog ./catalog
COPY personalization ./personalization
COPY notify ./notify
COPY orders ./orders
COPY support ./support
COPY insights ./insights
COPY winback ./winback
COPY migrations ./migrations
RUN /opt/shoa/bin/pip install --no-deps . \
    && /opt/shoa/bin/python -c "import shoa_api.app, shoa_api.cli, shoa_api.migrate"

FROM python:3.12-slim-bookworm AS runtime
RUN groupadd --system shoa \
    && useradd --system --gid shoa --home-dir /app --no-create-home --shell /usr/sbin/nologin shoa \
    && mkdir /app && chown shoa:shoa /app
COPY --from=build /opt/shoa /opt/shoa
ENV PATH=/opt/shoa/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    SHOA_ENV=production \
    SHOA_SEARCH_DIR=/app/search
WORKDIR /app
USER shoa
EXPOSE 8000
# Liveness only: readiness (/health/ready) belongs to the orchestrator, which knows what depends on what.
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health/live', timeout=2)"]
ENTRYPOINT ["shoa"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "2"]
