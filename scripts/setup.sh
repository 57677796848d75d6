#!/usr/bin/env bash
# Prepares a machine for building and testing seaf-backup. Idempotent: every step checks first.
#
#   scripts/setup.sh          system packages, database servers, Kafka-protocol broker
#
# Environment: CARGO_TARGET_DIR (default ~/.cache/seaf-backup/target, shared by every clone so a
# fresh clone reuses earlier builds).
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[setup] %s\n' "$*" >&2; }

# --- system packages -------------------------------------------------------------------------
# Build tools for the C parts of dependencies (librdkafka is built from source by rdkafka-sys).
packages=(build-essential pkg-config libssl-dev zlib1g-dev perl python3 curl)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  log "installing ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi

# --- database servers ------------------------------------------------------------------------
# The machine's MariaDB (127.0.0.1:3306, root, no password) and PostgreSQL (127.0.0.1:5432,
# trust) are used by the tests. Start them if they are installed but stopped.
wait_for() { # name, command
  for _ in $(seq 1 60); do
    if eval "$2" >/dev/null 2>&1; then return 0; fi
    sleep 0.5
  done
  log "WARNING: $1 did not come up"
  return 1
}
if command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ]; then
  if ! mariadb-admin -h 127.0.0.1 -u root ping >/dev/null 2>&1; then
    log "starting MariaDB"
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd || true
    wait_for MariaDB "mariadb-admin -h 127.0.0.1 -u root ping" || true
  fi
else
  log "MariaDB is not installed: MySQL tests will fail under CI and skip locally"
fi
if command -v pg_ctlcluster >/dev/null 2>&1; then
  if ! pg_isready -h 127.0.0.1 -p 5432 >/dev/null 2>&1; then
    log "starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
    wait_for PostgreSQL "pg_isready -h 127.0.0.1 -p 5432" || true
  fi
else
  log "PostgreSQL is not installed: PostgreSQL tests will fail under CI and skip locally"
fi

# --- Kafka-protocol broker -------------------------------------------------------------------
if [ -x scripts/broker.sh ]; then
  scripts/broker.sh install
fi

log "ready"
