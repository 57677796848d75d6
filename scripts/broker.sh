#!/usr/bin/env bash
# The local Kafka-protocol broker for tests and the demo: Tansu 0.6.0 with SQLite storage,
# listening on 127.0.0.1 only.
#
#   scripts/broker.sh install                   cargo-install tansu 0.6.0 unless already there
#   scripts/broker.sh start  [PORT] [DATA_DIR]  start it (default 9092, .tansu-data), wait until ready
#   scripts/broker.sh stop   [DATA_DIR]         stop it (SIGTERM, then SIGKILL after 30 s)
#   scripts/broker.sh status [DATA_DIR]         "running on ..." (exit 0) or "not running" (exit 1)
#
# DATA_DIR (relative to the repository root unless absolute) holds tansu.db, tansu.log,
# tansu.pid and tansu.port. Tansu takes its sqlite:// path relative to its working directory and
# mangles absolute ones, so it runs inside DATA_DIR with the relative path sqlite://tansu.db.
# Data and consumer-group offsets survive a restart.
set -euo pipefail

TANSU_VERSION=0.6.0
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CARGO_BIN="${CARGO_HOME:-$HOME/.cargo}/bin"
TANSU="${SEAF_TANSU_BIN:-$CARGO_BIN/tansu}"

die() { echo "broker.sh: $*" >&2; exit 1; }

data_dir() {
  local dir="${1:-.tansu-data}"
  case "$dir" in /*) ;; *) dir="$ROOT/$dir" ;; esac
  echo "$dir"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# The pid in DATA_DIR/tansu.pid if that process is alive and is a tansu broker.
running_pid() {
  local pidfile="$1/tansu.pid" pid
  [[ -f "$pidfile" ]] || return 1
  pid="$(cat "$pidfile")"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'tansu' || return 1
  echo "$pid"
}

installed_version() {
  [[ -x "$TANSU" ]] && "$TANSU" --version 2>/dev/null | awk '{print $2}'
}

cmd_install() {
  local have
  have="$(installed_version || true)"
  if [[ "$have" == "$TANSU_VERSION" ]]; then
    echo "tansu $TANSU_VERSION is installed: $TANSU"
    return
  fi
  echo "installing tansu $TANSU_VERSION (found: ${have:-none}); about 10 minutes on 2 cores..."
  cargo install tansu --locked --version "$TANSU_VERSION" --features libsql
  [[ "$(installed_version || true)" == "$TANSU_VERSION" ]] || die "tansu $TANSU_VERSION did not install to $TANSU"
}

cmd_start() {
  local port="${1:-9092}" dir pid
  [[ "$port" =~ ^[0-9]+$ ]] && (( port > 0 && port < 65536 )) || die "PORT must be a number (1-65535), got '$port'"
  dir="$(data_dir "${2:-}")"
  [[ -x "$TANSU" ]] || die "$TANSU not found: run scripts/broker.sh install"
  if pid="$(running_pid "$dir")"; then
    echo "tansu already running on 127.0.0.1:$(cat "$dir/tansu.port" 2>/dev/null || echo '?') (pid $pid, data $dir)"
    return
  fi
  port_open "$port" && die "127.0.0.1:$port is already in use by another process; pick another PORT"
  mkdir -p "$dir"
  # Run from DATA_DIR with a relative sqlite path; keep environment defaults of tansu's own
  # (schema registry, OTLP, listeners) from leaking in.
  (
    cd "$dir"
    env -u SCHEMA_REGISTRY -u OTEL_EXPORTER_OTLP_ENDPOINT -u STORAGE_ENGINE \
        -u LISTENER_URL -u ADVERTISED_LISTENER_URL \
      nohup "$TANSU" broker \
        --listener-url "tcp://127.0.0.1:$port" \
        --advertised-listener-url "tcp://127.0.0.1:$port" \
        --storage-engine "sqlite://tansu.db" \
        >>tansu.log 2>&1 </dev/null &
    echo $! >tansu.pid
  )
  echo "$port" >"$dir/tansu.port"
  pid="$(cat "$dir/tansu.pid")"
  for _ in $(seq 1 600); do
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -n 30 "$dir/tansu.log" >&2 || true
      rm -f "$dir/tansu.pid"
      die "tansu exited during start-up (log above: $dir/tansu.log)"
    fi
    if port_open "$port"; then
      echo "tansu running on 127.0.0.1:$port (pid $pid, data $dir)"
      return
    fi
    sleep 0.1
  done
  tail -n 30 "$dir/tansu.log" >&2 || true
  die "tansu (pid $pid) did not accept connections on 127.0.0.1:$port within 60 s"
}

cmd_stop() {
  local dir pid
  dir="$(data_dir "${1:-}")"
  if ! pid="$(running_pid "$dir")"; then
    rm -f "$dir/tansu.pid"
    echo "tansu not running (data $dir)"
    return
  fi
  kill -TERM "$pid"
  for _ in $(seq 1 300); do
    kill -0 "$pid" 2>/dev/null || { rm -f "$dir/tansu.pid"; echo "tansu stopped (pid $pid)"; return; }
    sleep 0.1
  done
  echo "tansu (pid $pid) ignored SIGTERM for 30 s; killing it" >&2
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$dir/tansu.pid"
}

cmd_status() {
  local dir pid port
  dir="$(data_dir "${1:-}")"
  if pid="$(running_pid "$dir")"; then
    port="$(cat "$dir/tansu.port" 2>/dev/null || echo '?')"
    if port_open "$port"; then
      echo "tansu running on 127.0.0.1:$port (pid $pid, data $dir)"
      return 0
    fi
    echo "tansu process $pid is alive but 127.0.0.1:$port does not accept connections (see $dir/tansu.log)"
    return 1
  fi
  echo "tansu not running (data $dir)"
  return 1
}

case "${1:-}" in
  install) cmd_install ;;
  start) shift; cmd_start "$@" ;;
  stop) shift; cmd_stop "$@" ;;
  status) shift; cmd_status "$@" ;;
  *) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
