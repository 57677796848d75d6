#!/usr/bin/env bash
# Prepares a machine for building and testing seaf-backup. Idempotent: every step checks first.
#
#   scripts/setup.sh [PART...]    PART: packages, databases, kafka, registry (default: all four)
#
# packages: build tools, Java 17 and Maven (from Debian, when missing); databases: MariaDB and
# PostgreSQL, installed, configured for the tests and started; kafka: Apache Kafka from Maven
# Central (scripts/broker.sh install); registry: Apicurio Registry (scripts/registry.sh install,
# only the schema-registry tests need it). Each part needs `packages` to have run once.
#
# Environment: CARGO_TARGET_DIR (default ~/.cache/seaf-backup/target, shared by every clone so a
# fresh clone reuses earlier builds).
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[setup] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# --- system packages -------------------------------------------------------------------------
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
apt_updated=
need_packages() { # installs the Debian packages given that are missing
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  ((${#missing[@]})) || return 0
  log "installing ${missing[*]}"
  if [ -z "$apt_updated" ]; then $SUDO apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
}
setup_packages() {
  # Build tools for the C parts of dependencies (librdkafka is built from source by
  # rdkafka-sys); Java and Maven for Apache Kafka and the registry; sqlite3 for the runbook test
  # (tests/runbook.rs runs docs/operations.md's SQLite dump and restore).
  need_packages build-essential pkg-config libssl-dev zlib1g-dev perl python3 curl sqlite3
  if ! command -v java >/dev/null 2>&1; then need_packages openjdk-17-jdk-headless; fi
  if ! command -v mvn >/dev/null 2>&1; then need_packages maven; fi
}

# --- database servers ------------------------------------------------------------------------
# The tests use MariaDB on 127.0.0.1:3306 (root, no password) and PostgreSQL on 127.0.0.1:5432
# (trust authentication), both from Debian's packages. Nothing runs them at boot on the project's
# machines, so this installs them when missing, gives them that contract and starts them.
# Loopback only: these are throw-away test servers, never reachable from another host.
wait_for() { # name, command
  for _ in $(seq 1 120); do
    if eval "$2" >/dev/null 2>&1; then return 0; fi
    sleep 0.5
  done
  die "$1 did not come up within 60 s"
}

setup_mariadb() {
  need_packages mariadb-server mariadb-client
  # Loopback only; enough connections for the parallel tests; the binary log in row format, as
  # the primary's binlog change capture needs it (docs/configuration.md, change_capture). The
  # file is rewritten when its content differs, and a running server restarted to read it.
  local conf=/etc/mysql/mariadb.conf.d/90-seaf-backup-tests.cnf want
  want="$(cat <<'CNF'
# Written by seaf-backup's scripts/setup.sh for its test suite.
[mysqld]
bind-address = 127.0.0.1
port = 3306
max_connections = 500
server_id = 1
log_bin = mysql-bin
binlog_format = ROW
binlog_row_image = FULL
expire_logs_days = 1
CNF
)"
  local changed=
  if [ "$(cat "$conf" 2>/dev/null)" != "$want" ]; then
    log "configuring MariaDB for the tests ($conf)"
    printf '%s\n' "$want" | $SUDO tee "$conf" >/dev/null
    changed=1
  fi
  if [ -n "$changed" ] && mariadb-admin -u root ping >/dev/null 2>&1; then
    log "restarting MariaDB to apply $conf"
    $SUDO /etc/init.d/mariadb restart >/dev/null || die "MariaDB did not restart: see /var/log/mysql/ or journalctl"
    wait_for MariaDB "mariadb-admin -u root ping"
  fi
  # Nothing starts it at boot, and Debian's policy-rc.d in containers keeps apt from starting it
  # on install: start it here when it does not answer.
  if ! mariadb-admin -u root ping >/dev/null 2>&1; then
    log "starting MariaDB"
    $SUDO /etc/init.d/mariadb start >/dev/null || die "MariaDB did not start: see /var/log/mysql/ or run 'mariadbd --user=mysql' by hand to read its error"
    wait_for MariaDB "mariadb-admin -u root ping"
  fi
  # Debian's root authenticates by unix socket only; the tests connect over TCP without a
  # password, so password authentication (empty) comes first, the socket second. The order
  # matters: clients that send an auth response (sqlx does) fail against unix_socket first.
  # Wanted: "IDENTIFIED VIA mysql_native_password OR unix_socket" (no USING: empty password).
  if ! $SUDO mariadb -u root -N -e "SHOW GRANTS FOR 'root'@'localhost'" \
      | grep -q 'IDENTIFIED VIA mysql_native_password OR unix_socket'; then
    log "letting root connect over 127.0.0.1 without a password (test server only)"
    $SUDO mariadb -u root <<'SQL'
ALTER USER 'root'@'localhost' IDENTIFIED VIA mysql_native_password USING PASSWORD('') OR unix_socket;
CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED VIA mysql_native_password USING PASSWORD('');
GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;
FLUSH PRIVILEGES;
SQL
  fi
  wait_for "MariaDB on 127.0.0.1:3306" "mariadb -h 127.0.0.1 -P 3306 -u root -e 'SELECT 1'"
}

setup_postgresql() {
  need_packages postgresql
  local version conf_dir
  version="$(ls /etc/postgresql 2>/dev/null | sort -V | tail -1)"
  [ -n "$version" ] || die "postgresql is installed but has no cluster in /etc/postgresql"
  conf_dir="/etc/postgresql/$version/main"
  # Trust for loopback TCP connections: the tests connect as postgres without a password.
  if ! grep -q 'seaf-backup tests' "$conf_dir/pg_hba.conf"; then
    log "PostgreSQL $version: trust authentication on 127.0.0.1 and ::1 (test server only)"
    local tmp
    tmp="$(mktemp)"
    {
      echo "# seaf-backup tests (scripts/setup.sh): loopback connections need no password"
      echo "host    all             all             127.0.0.1/32            trust"
      echo "host    all             all             ::1/128                 trust"
      echo "host    replication     all             127.0.0.1/32            trust"
      cat "$conf_dir/pg_hba.conf"
    } >"$tmp"
    $SUDO cp "$tmp" "$conf_dir/pg_hba.conf"
    rm -f "$tmp"
    pg_isready -h 127.0.0.1 -p 5432 >/dev/null 2>&1 && $SUDO pg_ctlcluster --skip-systemctl-redirect "$version" main reload
  fi
  if ! pg_isready -h 127.0.0.1 -p 5432 >/dev/null 2>&1; then
    log "starting PostgreSQL $version"
    $SUDO pg_ctlcluster --skip-systemctl-redirect "$version" main start || die "PostgreSQL did not start: see /var/log/postgresql/"
    wait_for PostgreSQL "pg_isready -h 127.0.0.1 -p 5432"
  fi
  wait_for "PostgreSQL on 127.0.0.1:5432" "psql -h 127.0.0.1 -p 5432 -U postgres -w -c 'SELECT 1'"
}

parts=("$@")
((${#parts[@]})) || parts=(packages databases kafka registry)
for part in "${parts[@]}"; do
  case "$part" in
    packages) setup_packages ;;
    databases) setup_mariadb; setup_postgresql ;;
    kafka) scripts/broker.sh install ;;
    registry) scripts/registry.sh install ;;
    *) die "unknown part '$part' (packages, databases, kafka, registry)" ;;
  esac
done

log "ready: ${parts[*]}"
