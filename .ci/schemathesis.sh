#!/usr/bin/env bash
# Runs schemathesis (pinned) against a real Lead Inbox on a fresh SQLite database and
# the committed OpenAPI document, with every check and a fixed seed (.ci/schemathesis.toml).
# Usage: .ci/schemathesis.sh [path/to/lead-inbox]   (default: target/debug/lead-inbox)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
. "$root/.ci/venv.sh"
version=4.32.5
venv=${SCHEMATHESIS_VENV:-$root/target/schemathesis-venv}
pinned_venv schemathesis "$version" "$venv"
binary=$(realpath "${1:-$root/target/debug/lead-inbox}")
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
(
  cd "$work"
  LEAD_INBOX_WEBHOOK_TOKENS=schemathesis-token LEAD_INBOX_API_KEYS=schemathesis-key \
  LEAD_INBOX_BIND="127.0.0.1:$port" LEAD_INBOX_LOG=warn \
  LEAD_INBOX_AUTH_FAILURES_PER_MINUTE=1000000 LEAD_INBOX_API_REQUESTS_PER_MINUTE=1000000 \
  exec "$binary"
) > "$work/server.log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; rm -rf "$work"' EXIT
ready=no
for _ in $(seq 300); do
  if curl -fsS "http://127.0.0.1:$port/health/ready" >/dev/null 2>&1; then ready=yes; break; fi
  sleep 0.1
done
if [ "$ready" != yes ]; then
  echo "the server did not become ready; its log:" >&2
  cat "$work/server.log" >&2
  exit 1
fi
status=0
"$venv/bin/schemathesis" --config-file "$root/.ci/schemathesis.toml" run "$root/openapi/lead-inbox.yaml" \
  --url "http://127.0.0.1:$port" --max-examples 50 --no-color \
  -H "token: schemathesis-token" -H "Authorization: Bearer schemathesis-key" || status=$?
if grep -qE "ERROR|panicked" "$work/server.log"; then
  echo "the server logged an internal error during the run:" >&2
  cat "$work/server.log" >&2
  status=1
fi
exit "$status"
