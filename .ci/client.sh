#!/usr/bin/env bash
# Generates a Python client from the committed openapi/lead-inbox.yaml with a pinned
# third-party generator (openapi-python-client), starts a real Lead Inbox on a fresh
# SQLite database, and drives it with that client (.ci/client_smoke.py).
# Usage: .ci/client.sh [path/to/lead-inbox]   (default: target/debug/lead-inbox)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
. "$root/.ci/venv.sh"
version=0.26.2
venv=${CLIENT_VENV:-$root/target/openapi-client-venv}
pinned_venv openapi-python-client "$version" "$venv"
binary=$(realpath "${1:-$root/target/debug/lead-inbox}")
work=$(mktemp -d)
(
  cd "$work"
  "$venv/bin/openapi-python-client" generate --path "$root/openapi/lead-inbox.yaml" \
    --meta none --config "$root/.ci/openapi-python-client.yaml" --fail-on-warning
)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
(
  cd "$work"
  LEAD_INBOX_WEBHOOK_TOKENS=client-token LEAD_INBOX_API_KEYS=client-key \
  LEAD_INBOX_BIND="127.0.0.1:$port" LEAD_INBOX_LOG=warn exec "$binary"
) > "$work/server.log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 300); do
  if curl -fsS "http://127.0.0.1:$port/health/ready" >/dev/null 2>&1; then break; fi
  sleep 0.1
done
PYTHONPATH="$work" LEAD_INBOX_URL="http://127.0.0.1:$port" WEBHOOK_TOKEN=client-token \
  API_KEY=client-key "$venv/bin/python" "$root/.ci/client_smoke.py"
