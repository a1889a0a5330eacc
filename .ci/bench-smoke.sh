#!/usr/bin/env bash
# CI: the benchmark (issue #6) for a few seconds, to show that it works: the ceiling
# and SQLite (and PostgreSQL/MariaDB when LEAD_INBOX_BENCH_*_URL are set) at 1 and 8
# connections, 2 s each, the storage floor, the open-loop run, start-up and the read path
# on 5,000 leads.
# It fails only when the benchmark fails (the server does not start or dies, a stored
# count differs from the distinct references acknowledged `created`); its timings are
# printed, never asserted.
set -euo pipefail
cd "$(dirname "$0")/.."
# The servers .ci/run starts for the tests serve the benchmark too.
export LEAD_INBOX_BENCH_POSTGRES_URL="${LEAD_INBOX_BENCH_POSTGRES_URL:-${LEAD_INBOX_TEST_POSTGRES_URL:-}}"
export LEAD_INBOX_BENCH_MYSQL_URL="${LEAD_INBOX_BENCH_MYSQL_URL:-${LEAD_INBOX_TEST_MYSQL_URL:-}}"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
bench/run.sh --smoke --out "$out"
test -s "$out/results.json"
test -s "$out/throughput.svg"
