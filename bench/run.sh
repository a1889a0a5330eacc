#!/usr/bin/env bash
# Issue #6's benchmark in one command: builds the server and the benchmark (release),
# then runs every scenario and writes docs/benchmarks/{results.md,results.json,throughput.svg}.
#
#   bench/run.sh                                   # ceiling + SQLite (+ the servers below if set)
#   LEAD_INBOX_BENCH_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test \
#   LEAD_INBOX_BENCH_MYSQL_URL=mysql://root@127.0.0.1:3306/test bench/run.sh
#   bench/run.sh --duration 5 --connections 1,32     # any lead-inbox-bench option
#   bench/run.sh --smoke --out /tmp/bench            # a few seconds, for CI
#
# The PostgreSQL and MariaDB URLs name a server the benchmark may create (and drop)
# databases on; it never touches the database the URL names.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet -p lead-inbox-server -p lead-inbox-bench
exec target/release/lead-inbox-bench --server-binary target/release/lead-inbox "$@"
