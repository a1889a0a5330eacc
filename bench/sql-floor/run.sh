#!/usr/bin/env bash
# The storage floor in plain SQL, beside the benchmark's own (docs/benchmarks.md, "The
# storage floor"): 32 leads in flight, in batches of the server's shape, written to
# Lead Inbox's schema by the database's own client, with nothing of Lead Inbox's code
# in the path; once with the benchmark's payload (one sender for every lead) and once
# with a new sender (email, phone, contact) per lead.
#
#   bench/sql-floor/run.sh                 # SQLite (the sqlite3 command, 1 x 32)
#   LEAD_INBOX_BENCH_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test \
#   bench/sql-floor/run.sh                 # and PostgreSQL (pgbench, 1 x 32 and 4 x 8)
#
# Needs target/release/lead-inbox (for its migrations), sqlite3 and, for PostgreSQL,
# pgbench and psql. The sqlite3 command uses the system's SQLite, which syncs with
# fsync (the server's bundled SQLite uses fdatasync).
set -euo pipefail
cd "$(dirname "$0")/../.."
binary=target/release/lead-inbox
seconds=${SECONDS_PER_RUN:-10}
batches=${SQLITE_BATCHES:-500}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

sqlite_floor() {
  local senders=$1 email phone contact
  if [ "$senders" = random ]; then
    email="lower(hex(randomblob(8))) || '@example.pt'"
    phone="CAST(910000000 + abs(random()) % 9999999 AS TEXT)"
    contact="lower(hex(randomblob(16)))"
  else
    email="'maria.smith@example.pt'"
    phone="'912345678'"
    contact="'5f1c0b2e9a7d4c3b8e6f0a1d2c3b4a59'"
  fi
  rm -f "$work"/floor.db*
  LEAD_INBOX_DATABASE_URL="sqlite://$work/floor.db" "$binary" migrate > /dev/null 2>&1
  {
    echo "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA secure_delete=ON;"
    for _ in $(seq "$batches"); do
      cat <<SQL
BEGIN IMMEDIATE;
SELECT tombstone FROM erased_leads WHERE tombstone IN (lower(hex(randomblob(32))), lower(hex(randomblob(32))));
INSERT INTO leads (lead_reference, entity_type, entity_public_id, entity_reference, source,
    created_date, created_at_us, message, sender_name, sender_email, sender_email_normalised,
    sender_phone, sender_phone_e164, number_residents, has_pets, move_timeline, monthly_income,
    presentation_letter, anomalies, anomaly_count, raw_payload, received_at_us, status, version,
    sort_created_us, search_text, contact_id)
SELECT 'CY-Listing-A3bT7Y2xL6w-' || lower(hex(randomblob(16))), 'Listing', 'A3bT7Y2xL6w',
    'REF-1', 'CasaYes', '2026-11-29T10:00:00.1234567Z', now_us, message, 'Maria Smith',
    email, email, phone, '+351' || phone, 2, 1, 'Soon', 2000, printf('%.320c', 'x'), '[]', 0,
    zeroblob(1200), now_us + value, 'new', 1, now_us, lower(message || ' maria smith ' || email),
    contact FROM (SELECT value, $email AS email, $phone AS phone, $contact AS contact,
        CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER) AS now_us,
        'Olá, gostaria de visitar o apartamento. Olá, gostaria de visitar o apartamento.' AS message
    FROM generate_series(1, 32))
WHERE true
ON CONFLICT (lead_reference) DO NOTHING;
INSERT INTO lead_events (lead_id, kind, at_us)
SELECT id, 'created', received_at_us FROM leads WHERE id > coalesce((SELECT max(lead_id) FROM lead_events), 0);
COMMIT;
SQL
    done
  } > "$work/batches.sql"
  local started ended stored
  started=$(date +%s.%N)
  sqlite3 "$work/floor.db" < "$work/batches.sql" > /dev/null
  ended=$(date +%s.%N)
  stored=$(sqlite3 "$work/floor.db" "SELECT count(*) FROM leads")
  echo "SQLite (sqlite3 $(sqlite3 --version | cut -d' ' -f1)), senders: $senders, 1 x 32: $(echo "$stored / ($ended - $started)" | bc) leads/s ($stored leads)"
}
sqlite_floor one
sqlite_floor random

url=${LEAD_INBOX_BENCH_POSTGRES_URL:-}
if [ -n "$url" ]; then
  name="li_sql_floor_$$"
  base=${url%/*}
  psql -q "$url" -c "CREATE DATABASE $name"
  trap 'psql -q "$url" -c "DROP DATABASE IF EXISTS $name WITH (FORCE)"; rm -rf "$work"' EXIT
  LEAD_INBOX_DATABASE_URL="$base/$name" "$binary" migrate > /dev/null 2>&1
  for senders in 0 1; do
    for split in 1:32 4:8; do
      clients=${split%:*}
      batch=${split#*:}
      tps=$(pgbench -n -c "$clients" -j "$clients" -T "$seconds" -D batch="$batch" \
          -D random_senders="$senders" -f bench/sql-floor/postgres.sql "$base/$name" 2>&1 |
        sed -n 's/^tps = \([0-9.]*\).*/\1/p')
      echo "PostgreSQL, senders: $([ "$senders" = 1 ] && echo random || echo one), $clients x $batch: $(echo "$tps * $batch / 1" | bc) leads/s ($tps commits/s)"
    done
  done
fi
