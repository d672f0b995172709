# labelbay image: `labelbay serve` by default; the same image runs `labelbay worker` and
# `labelbay label`, with the built-in models' weights inside (no download at run time).
#
#   docker build -t labelbay .
#   docker run -p 8000:8000 labelbay                   # embedded: SQLite + /app/data in the container
#   docker compose -f deploy/compose.yaml up           # distributed: api, worker, postgres, rabbitmq, minio
#
# Builds with the classic builder (DOCKER_BUILDKIT=0) and with BuildKit: no `# syntax=` line (it
# would pull a frontend image from Docker Hub) and no `RUN --mount`. Without Docker Hub, pass other
# base images: `docker build $(scripts/docker-stand-in-bases.sh) .` (README, "Container image").
# Few instructions, and none after a big layer that need not be there: under Docker's vfs storage
# driver every step copies the whole file system.

ARG PYTHON_IMAGE=python:3.11-slim
ARG NODE_IMAGE=node:20-slim

# --- web: the web app, built by Vite into what becomes labelbay/static/app ---
FROM ${NODE_IMAGE} AS web
# Marks the build stages' images, so that their superseded copies can be pruned by label alone.
LABEL org.labelbay.build-stage=web
# EXTRA_CA_CERTS: PEM certificates for npm and pip to trust besides the usual ones, where a
# TLS-inspecting proxy stands between the build and the registries. Build stages only.
ARG NPM_CONFIG_REGISTRY=https://registry.npmjs.org/ EXTRA_CA_CERTS=""
COPY frontend/package.json frontend/package-lock.json /build/frontend/
RUN cd /build/frontend \
    && if [ -n "$EXTRA_CA_CERTS" ]; then printf '%s\n' "$EXTRA_CA_CERTS" > /tmp/extra-ca.pem \
        && export NODE_EXTRA_CA_CERTS=/tmp/extra-ca.pem; fi \
    && npm ci --no-audit --no-fund --no-update-notifier && npm cache clean --force
COPY frontend /build/frontend/
RUN cd /build/frontend && npm run build

# --- builder: a virtualenv with labelbay, its dependencies and the OCR weights ---
FROM ${PYTHON_IMAGE} AS builder
LABEL org.labelbay.build-stage=builder
ARG PIP_INDEX_URL=https://pypi.org/simple EXTRA_CA_CERTS=""
# Dependencies (and the build's own requirements) first, from pyproject.toml alone: this layer
# stays cached while src/ changes, and the install of labelbay itself needs no network.
COPY pyproject.toml /build/
RUN cd /build \
    && python3 -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb')); print('\n'.join(p['project']['dependencies'] + p['build-system']['requires']))" > requirements.txt \
    && python3 -m venv /opt/labelbay \
    && if [ -n "$EXTRA_CA_CERTS" ]; then \
        /opt/labelbay/bin/python -c "from pip._vendor import certifi; print(open(certifi.where()).read())" > /tmp/ca.pem \
        && printf '%s\n' "$EXTRA_CA_CERTS" >> /tmp/ca.pem && export PIP_CERT=/tmp/ca.pem; fi \
    && /opt/labelbay/bin/pip install --no-cache-dir --disable-pip-version-check -r requirements.txt \
    # Only the carrier of the PP-OCRv4 ONNX files: its own dependencies (opencv-python with GUI
    # libraries) would clash with opencv-python-headless, so it goes in alone (as in the Makefile).
    && /opt/labelbay/bin/pip install --no-cache-dir --no-deps rapidocr-onnxruntime==1.4.4
COPY README.md /build/
COPY src /build/src/
COPY --from=web /build/src/labelbay/static/app /build/src/labelbay/static/app/
RUN cd /build \
    && /opt/labelbay/bin/pip install --no-cache-dir --no-deps --no-build-isolation . \
    # What the runtime never runs: the installers and the packages' own test suites.
    && /opt/labelbay/bin/pip uninstall --yes pip setuptools wheel \
    && find /opt/labelbay -depth -type d -name tests -path '*/site-packages/*' -exec rm -rf {} + \
    && python3 -m compileall -q /opt/labelbay/lib

# --- runtime: a non-root user and the virtualenv, nothing else ---
FROM ${PYTHON_IMAGE} AS runtime
ENV PATH=/opt/labelbay/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    LABELBAY_HOST=0.0.0.0 \
    LABELBAY_PORT=8000 \
    LABELBAY_MODEL_CACHE_DIR=/app/data/model-cache
RUN groupadd --system --gid 10001 labelbay \
    && useradd --system --uid 10001 --gid labelbay --home-dir /app --shell /usr/sbin/nologin labelbay \
    && mkdir -p /app/data \
    && chown -R labelbay:labelbay /app
WORKDIR /app
USER 10001:10001
EXPOSE 8000
# No curl in the slim image: Python itself asks /health (200 while the process serves), on the
# port the server reads from LABELBAY_PORT.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('LABELBAY_PORT', '8000'), timeout=4)"]
CMD ["labelbay", "serve", "--host", "0.0.0.0"]
# Last, as one layer owned by root (read-only to the user).
COPY --from=builder /opt/labelbay /opt/labelbay
