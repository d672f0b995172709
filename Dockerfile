# syntax=docker/dockerfile:1
# labelbay image: `labelbay serve` by default; the same image runs `labelbay worker`.
#
#   docker build -t labelbay .
#   docker run -p 8000:8000 labelbay                   # embedded: SQLite + ./data inside the container
#   docker compose -f deploy/compose.yaml up           # distributed: api, worker, postgres, rabbitmq, minio

ARG PYTHON_IMAGE=python:3.11-slim

# --- builder: every wheel the runtime needs, built once (no compilers in the runtime image) ---
FROM ${PYTHON_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip wheel --wheel-dir /wheels . \
    # Only the carrier of the PP-OCRv4 ONNX files: its own dependencies (opencv-python with GUI
    # libraries) would clash with opencv-python-headless, so it goes in alone (as in the Makefile).
    && pip wheel --no-deps --wheel-dir /wheels-nodeps rapidocr-onnxruntime==1.4.4

# --- runtime: the wheels, a non-root user, nothing else ---
FROM ${PYTHON_IMAGE} AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    LABELBAY_HOST=0.0.0.0 \
    LABELBAY_PORT=8000 \
    LABELBAY_MODEL_CACHE_DIR=/app/data/model-cache
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    --mount=type=bind,from=builder,source=/wheels-nodeps,target=/wheels-nodeps \
    pip install --no-index --find-links /wheels labelbay \
    && pip install --no-index --no-deps /wheels-nodeps/*.whl \
    && groupadd --system --gid 10001 labelbay \
    && useradd --system --uid 10001 --gid labelbay --home-dir /app --shell /usr/sbin/nologin labelbay \
    && mkdir -p /app/data \
    && chown -R labelbay:labelbay /app
WORKDIR /app
USER 10001:10001
EXPOSE 8000
# No curl in the slim image: Python itself asks /health (200 while the process serves).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4)"]
CMD ["labelbay", "serve", "--host", "0.0.0.0"]
