# What scripts/broker.sh and scripts/registry.sh share about running one background Java
# service from a data folder with a pid file, on 127.0.0.1. Sourced, not run; the sourcing
# script defines ROOT (the repository root) and die().

# resolve_dir DEFAULT [DIR]: DIR (or DEFAULT), relative to the repository root unless absolute.
resolve_dir() {
  local dir="${2:-$1}"
  case "$dir" in /*) ;; *) dir="$ROOT/$dir" ;; esac
  echo "$dir"
}

# port_open PORT: something accepts connections on 127.0.0.1:PORT.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

check_port() {
  [[ "$1" =~ ^[0-9]+$ ]] && (( $1 > 0 && $1 < 65536 )) || die "port must be a number (1-65535), got '$1'"
}

# pid_of PIDFILE PATTERN: the pid in PIDFILE, if that process is alive and its command line
# contains PATTERN (so a reused pid is not taken for the service).
pid_of() {
  local pidfile="$1" pattern="$2" pid
  [[ -f "$pidfile" ]] || return 1
  pid="$(cat "$pidfile")"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$pattern" || return 1
  echo "$pid"
}

# stop_service NAME DIR PIDFILE PATTERN SECONDS: stops the service whose pid is in DIR/PIDFILE
# (see pid_of): SIGTERM, then SIGKILL if it is still there after SECONDS.
stop_service() {
  local name="$1" dir="$2" pidfile="$2/$3" pattern="$4" seconds="$5" pid
  if ! pid="$(pid_of "$pidfile" "$pattern")"; then
    rm -f "$pidfile"
    echo "$name not running (data $dir)"
    return
  fi
  kill -TERM "$pid"
  for _ in $(seq 1 $((seconds * 10))); do
    kill -0 "$pid" 2>/dev/null || { rm -f "$pidfile"; echo "$name stopped (pid $pid)"; return; }
    sleep 0.1
  done
  echo "$name (pid $pid) ignored SIGTERM for $seconds s; killing it" >&2
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$pidfile"
}
