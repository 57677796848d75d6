#!/usr/bin/env bash
# The whole job on the embedded default, in one command:
#
#   scripts/demo.sh [--keep]
#
# 1. installs what is missing (scripts/setup.sh packages kafka) and builds seaf-backup and
#    seaf-testgen, both at once;
# 2. starts a local Apache Kafka 4.1.1 (KRaft, scripts/broker.sh; 127.0.0.1:19092, data in .demo/kafka);
# 3. writes a demo primary: 20 Seafile libraries in the real on-disk format, with their rows in
#    a SQLite seafile database (.demo/primary/);
# 4. starts `seaf-backup primary` over it and `seaf-backup backup` into .demo/backup/ (another
#    SQLite database), waits until the backup holds every library;
# 5. makes 10 live updates, one a second, and waits until the backup has them all;
# 6. prints `seaf-backup status`, the lag and RPO figures from the backup's /metrics, and
#    `seaf-backup verify` of the backup;
# 7. stops everything (with --keep: leaves it running and prints how to stop it).
#
# Everything lives in .demo/ (recreated on each run). Ports: Kafka 19092 (its controller 19093),
# object API 18083, metrics 19108 (primary) and 19109 (backup), all on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
KEEP=0
[[ "${1:-}" == "--keep" ]] && KEEP=1

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/seaf-backup/target}"
DEMO="$ROOT/.demo"
BROKER_PORT=19092
TOKEN="$(head -c 20 /dev/urandom | od -An -tx1 | tr -d ' \n')"
LIBRARIES=20
UPDATES=10

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
die() { echo "demo: $*" >&2; exit 1; }

wait_for() { # seconds, description, command...
  local secs="$1" what="$2"; shift 2
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || die "timed out after ${secs}s waiting for $what (logs in $DEMO/*.log)"
    sleep 0.2
  done
}

pids=()
cleanup() {
  if ((KEEP)); then return; fi
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  scripts/broker.sh stop "$DEMO/kafka" >/dev/null 2>&1 || true
}
trap cleanup EXIT

step "preparing the machine and building (the first run takes a while)"
scripts/setup.sh packages
# The demo's databases are SQLite files: of the services it needs only Kafka, resolved from
# Maven Central while the build uses the CPU.
scripts/setup.sh kafka &
setup=$!
cargo build --bins -p seaf-backup -p seaf-testgen
wait "$setup" || die "scripts/setup.sh kafka failed (output above)"
BIN="$CARGO_TARGET_DIR/debug"
SEAF="$BIN/seaf-backup"

# A previous run's processes and data.
scripts/broker.sh stop "$DEMO/kafka" >/dev/null 2>&1 || true
pkill -f "$DEMO/(primary|backup).toml" 2>/dev/null || true
rm -rf "$DEMO"
mkdir -p "$DEMO/primary" "$DEMO/backup" "$DEMO/state"

step "starting Apache Kafka on 127.0.0.1:$BROKER_PORT"
scripts/broker.sh start "$BROKER_PORT" "$DEMO/kafka"

step "writing $LIBRARIES demo libraries (Seafile's on-disk format, SQLite database)"
"$BIN/seaf-testgen" --data-dir "$DEMO/primary/seafile-data" \
  --database-url "sqlite://$DEMO/primary/seafile.db?mode=rwc" \
  --libraries "$LIBRARIES" --updates "$UPDATES" --interval-ms 1000 \
  --updates-after "$DEMO/go" >"$DEMO/testgen.log" 2>&1 &
pids+=($!)
wait_for 120 "the demo libraries" grep -q '^created' "$DEMO/testgen.log"
cat "$DEMO/testgen.log"

cat >"$DEMO/primary.toml" <<EOF
sync_token = "$TOKEN"

[kafka]
brokers = "127.0.0.1:$BROKER_PORT"
topic = "seafile-repo-updates"
partitions = 3

[primary]
seafile_data_dir = "$DEMO/primary/seafile-data"
database_url = "sqlite://$DEMO/primary/seafile.db"
listen = "127.0.0.1:18083"
metrics_listen = "127.0.0.1:19108"
node_id = "demo-primary"
poll_interval = "500ms"
heartbeat_interval = "2s"
state_dir = "$DEMO/state"
EOF
cat >"$DEMO/backup.toml" <<EOF
sync_token = "$TOKEN"

[kafka]
brokers = "127.0.0.1:$BROKER_PORT"
topic = "seafile-repo-updates"
group_id = "seaf-backup-demo"
partitions = 3

[backup]
primary_url = "http://127.0.0.1:18083"
seafile_data_dir = "$DEMO/backup/seafile-data"
database_url = "sqlite://$DEMO/backup/seafile.db?mode=rwc"
metrics_listen = "127.0.0.1:19109"
sync_poll_interval = "1h"
workers = 4
EOF

step "starting seaf-backup primary and backup"
"$SEAF" primary -c "$DEMO/primary.toml" >"$DEMO/primary.log" 2>&1 &
pids+=($!)
"$SEAF" backup -c "$DEMO/backup.toml" >"$DEMO/backup.log" 2>&1 &
pids+=($!)
wait_for 60 "the primary's /healthz" curl -fsS http://127.0.0.1:19108/healthz
wait_for 60 "the backup's /healthz" curl -fsS http://127.0.0.1:19109/healthz
echo "primary: object API http://127.0.0.1:18083, metrics http://127.0.0.1:19108/metrics"
echo "backup:  metrics http://127.0.0.1:19109/metrics"

synced() { # every library of the primary synced, at least $1 applied syncs
  local json
  json="$("$SEAF" status -c "$DEMO/backup.toml" --json 2>/dev/null)" || return 1
  python3 - "$json" "$LIBRARIES" <<'PY'
import json, sys
s = json.loads(sys.argv[1]); want = int(sys.argv[2])
sys.exit(0 if s["synced"] >= want and s["waiting"] == 0 and s["syncing"] == 0 else 1)
PY
}
step "waiting for the first full backup of $LIBRARIES libraries"
wait_for 180 "the first full backup" synced
"$SEAF" status -c "$DEMO/backup.toml"

step "making $UPDATES live updates, one a second"
touch "$DEMO/go"
wait_for 120 "the live updates" grep -q "^update $UPDATES/$UPDATES" "$DEMO/testgen.log"
grep '^update' "$DEMO/testgen.log"
heads_equal() { # the backup's Branch table holds every head of the primary's
  python3 - "$DEMO/primary/seafile.db" "$DEMO/backup/seafile.db" <<'PY'
import sqlite3, sys
q = "SELECT repo_id, commit_id FROM Branch WHERE name = 'master'"
heads = [dict(sqlite3.connect(f"file:{p}?mode=ro", uri=True).execute(q).fetchall()) for p in sys.argv[1:]]
sys.exit(0 if heads[0] == heads[1] and heads[0] else 1)
PY
}
wait_for 60 "the backup to hold every head of the primary" heads_equal
echo "the backup holds the primary's head of every library"

step "seaf-backup status"
"$SEAF" status -c "$DEMO/backup.toml"

step "lag and RPO from the backup's /metrics"
# The lag of every assigned partition is reported from the assignment on, every 2 s.
wait_for 30 "the consumer lag in the backup's /metrics" \
  sh -c 'curl -fsS http://127.0.0.1:19109/metrics | grep -q "^seaf_backup_consumer_lag{"'
curl -fsS http://127.0.0.1:19109/metrics | grep -E '^seaf_backup_(consumer_lag|seconds_behind_primary|rpo_seconds_(sum|count)|consistent_as_of_seconds|repo_sync_seconds|events_total|objects_fetched_total|bytes_fetched_total|repos)' || true

step "seaf-backup verify of the backup (every head's full history is present and intact)"
"$SEAF" verify -c "$DEMO/backup.toml"

if ((KEEP)); then
  step "left running (--keep)"
  echo "stop with: kill ${pids[*]}; scripts/broker.sh stop $DEMO/kafka"
else
  step "done; stopping the demo (run with --keep to leave it running)"
fi
