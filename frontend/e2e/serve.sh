#!/usr/bin/env bash
# A real `labelbay serve` for the end-to-end tests: a fresh temp data folder (SQLite + local
# objects), an admin user, the in-process job executor. Playwright starts it (webServer) and stops it.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
port="${LABELBAY_E2E_PORT:?set LABELBAY_E2E_PORT}"
data="$(mktemp -d "${TMPDIR:-/tmp}/labelbay-e2e.XXXXXX")"
trap 'rm -rf "$data"' EXIT
export LABELBAY_DATABASE_URL="sqlite:///$data/labelbay.db"
export LABELBAY_STORAGE_URL="file://$data/objects"
export LABELBAY_MODEL_CACHE_DIR="$data/model-cache"
export LABELBAY_ML_ANALYSIS_ENABLED=true
# playwright.config.ts makes the secret and hands it to the tests too (they sign pipeline calls).
export LABELBAY_ML_CALLBACK_HMAC_SECRET="${LABELBAY_E2E_HMAC_SECRET:-e2e-hmac-secret-$RANDOM$RANDOM}"
export LABELBAY_ML_ALLOWED_MODELS="${LABELBAY_E2E_ML_MODEL:-e2e_heatmapper}"
export LABELBAY_LOG_JSON=false
export LABELBAY_LOG_LEVEL=WARNING
cd "$data"
"$repo/.venv/bin/labelbay" user create --email "${LABELBAY_E2E_EMAIL:-admin@example.com}" \
  --password "${LABELBAY_E2E_PASSWORD:-e2e-password-123}" --admin >/dev/null
"$repo/.venv/bin/labelbay" serve --host 127.0.0.1 --port "$port" &
server=$!
trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null; rm -rf "$data"' EXIT INT TERM
wait "$server"
