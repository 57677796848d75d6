#!/usr/bin/env bash
# A Confluent-compatible schema registry for tests and trials: Apicurio Registry on 127.0.0.1
# only, in-memory storage, built from the Maven Central artifacts of the pinned version.
#
#   scripts/registry.sh install                   build the runnable registry with Maven (cached)
#   scripts/registry.sh start  [PORT] [DATA_DIR]  start it, wait until the API answers
#   scripts/registry.sh stop   [DATA_DIR]         stop it (SIGTERM, then SIGKILL after 30 s)
#   scripts/registry.sh status [DATA_DIR]         "running on ..." (exit 0) or "not running" (exit 1)
#   scripts/registry.sh jar                       print the runnable jar (after install)
#
# PORT defaults to 8081 (the usual schema registry port), DATA_DIR to .registry-data (relative
# to the repository root unless absolute). DATA_DIR holds registry.log, registry.pid and
# registry.port only: schemas live in memory (an H2 database inside the process), so a restart
# starts empty and hands out ids from 1 again. The Confluent-compatible API is at
# http://127.0.0.1:PORT/apis/ccompat/v6, the URL for kafka.schema_registry_url.
# REGISTRY_HEAP_OPTS (default -Xms64m -Xmx512m) sets the JVM heap.
#
# Where it comes from: Maven Central has Apicurio Registry's application classes
# (io.apicurio:apicurio-registry-app:$REGISTRY_VERSION) but no runnable distribution, so
# `install` runs Maven on scripts/registry/pom.xml, which depends on the app and runs
# quarkus-maven-plugin's build (Quarkus $REGISTRY_QUARKUS_VERSION, the one that release was built
# with); the result goes to $SEAF_REGISTRY_CACHE/$REGISTRY_VERSION (default
# ~/.cache/seaf-backup/registry). Nothing else is downloaded. Needs Java 11+ and Maven.
# Why this version and not a newer one: see scripts/registry/pom.xml.
set -euo pipefail

REGISTRY_VERSION=2.1.5.Final
REGISTRY_QUARKUS_VERSION=2.2.3.Final
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${SEAF_REGISTRY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/seaf-backup/registry}"
APP="$CACHE/$REGISTRY_VERSION/app"
JAR="$APP/apicurio-registry-$REGISTRY_VERSION-runner.jar"
READY_TIMEOUT_S="${REGISTRY_READY_TIMEOUT_S:-120}"
API_PATH=/apis/ccompat/v6

# shellcheck source=lib/service.sh
source "$ROOT/scripts/lib/service.sh"

die() { echo "registry.sh: $*" >&2; exit 1; }

data_dir() { resolve_dir .registry-data "${1:-}"; }

# Whether GET $API_PATH/subjects on 127.0.0.1:PORT answers 200: the registry serves, storage
# included (the request reads it).
api_answers() {
  (
    exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
    printf 'GET %s/subjects HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$API_PATH" >&3
    IFS= read -r -t 5 status <&3 || exit 1
    [[ "$status" == "HTTP/1."?" 200"* ]]
  ) 2>/dev/null
}

# The pid in DATA_DIR/registry.pid if that process is alive and is this registry.
running_pid() { pid_of "$1/registry.pid" apicurio-registry-; }

installed() { [[ -f "$APP/.complete" && -f "$JAR" ]]; }

java_major() { # the major version of `java` on PATH (8 for 1.8)
  local v
  v="$(java -version 2>&1 | sed -n 's/.*version "\([^"]*\)".*/\1/p' | head -n 1)"
  case "$v" in 1.*) v="${v#1.}" ;; esac
  echo "${v%%[.+-]*}"
}

require_java() {
  command -v java >/dev/null || die "java not found: install Java 11 or newer (Debian: openjdk-17-jre-headless)"
  local major
  major="$(java_major)"
  [[ "$major" =~ ^[0-9]+$ ]] && (( major >= 11 )) \
    || die "Apicurio Registry $REGISTRY_VERSION needs Java 11 or newer; \`java\` on PATH is '${major:-unknown}'"
}

cmd_install() {
  if installed; then
    echo "Apicurio Registry $REGISTRY_VERSION is installed: $JAR"
    return
  fi
  require_java
  command -v mvn >/dev/null || die "mvn not found: install Maven (Debian: maven)"
  local build="$CACHE/$REGISTRY_VERSION/build"
  echo "building Apicurio Registry $REGISTRY_VERSION from Maven Central into $APP ..."
  rm -rf "$build" "$APP"
  mkdir -p "$build"
  # -DskipDefault switches off the parent POM's external_repos profile (JitPack, Confluent):
  # only Maven Central is asked.
  mvn -q -B -f "$ROOT/scripts/registry/pom.xml" -DskipDefault \
    -Dregistry.version="$REGISTRY_VERSION" -Dquarkus.version="$REGISTRY_QUARKUS_VERSION" \
    -Dregistry.build.dir="$build" package \
    || die "Maven could not build io.apicurio:apicurio-registry-app:$REGISTRY_VERSION (is Maven Central reachable? output above)"
  [[ -f "$build/apicurio-registry-runtime-1-runner.jar" && -d "$build/lib" ]] \
    || die "Maven ran but $build has no apicurio-registry-runtime-1-runner.jar and lib/"
  mkdir -p "$APP"
  # The runner's manifest finds its jars in lib/ beside it.
  mv "$build/apicurio-registry-runtime-1-runner.jar" "$JAR"
  mv "$build/lib" "$APP/lib"
  rm -rf "$build"
  touch "$APP/.complete"
  echo "Apicurio Registry $REGISTRY_VERSION installed: $JAR ($(ls "$APP/lib" | wc -l) jars)"
}

require_installed() {
  installed || die "Apicurio Registry $REGISTRY_VERSION is not installed: run scripts/registry.sh install"
}

cmd_start() {
  local port="${1:-8081}" dir pid
  check_port "$port"
  dir="$(data_dir "${2:-}")"
  require_installed
  if pid="$(running_pid "$dir")"; then
    echo "Apicurio Registry already running on http://127.0.0.1:$(cat "$dir/registry.port" 2>/dev/null || echo '?')$API_PATH (pid $pid, data $dir)"
    return
  fi
  require_java
  port_open "$port" && die "127.0.0.1:$port is already in use by another process; pick another PORT"
  mkdir -p "$dir"
  # Where this start's log begins: the wait below looks only at what follows.
  stat -c %s "$dir/registry.log" 2>/dev/null >"$dir/log.start" || echo 0 >"$dir/log.start"
  (
    cd "$dir"
    # The shell becomes the JVM, so the pid saved is the registry's.
    # shellcheck disable=SC2086
    (exec java ${REGISTRY_HEAP_OPTS:--Xms64m -Xmx512m} -Djava.awt.headless=true \
      -Dquarkus.http.host=127.0.0.1 -Dquarkus.http.port="$port" \
      -Dquarkus.log.console.color=false \
      -jar "$JAR") >>"$dir/registry.log" 2>&1 </dev/null &
    echo $! >"$dir/registry.pid"
  )
  echo "$port" >"$dir/registry.port"
  wait_ready "$dir"
}

# Until this start's log says Quarkus started and the API answers.
wait_ready() {
  local dir="$1" pid port from
  pid="$(cat "$dir/registry.pid")"
  port="$(cat "$dir/registry.port")"
  from="$(( $(cat "$dir/log.start" 2>/dev/null || echo 0) + 1 ))"
  for _ in $(seq 1 $((READY_TIMEOUT_S * 10))); do
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -c "+$from" "$dir/registry.log" | tail -n 30 >&2 || true
      rm -f "$dir/registry.pid"
      die "Apicurio Registry exited during start-up (log above: $dir/registry.log)"
    fi
    if tail -c "+$from" "$dir/registry.log" 2>/dev/null | grep -q 'started in .*Listening on' && api_answers "$port"; then
      echo "Apicurio Registry $REGISTRY_VERSION running on http://127.0.0.1:$port$API_PATH (pid $pid, data $dir)"
      return
    fi
    sleep 0.1
  done
  tail -c "+$from" "$dir/registry.log" | tail -n 30 >&2 || true
  die "Apicurio Registry (pid $pid) did not answer on http://127.0.0.1:$port$API_PATH within $READY_TIMEOUT_S s"
}

cmd_stop() { stop_service "Apicurio Registry" "$(data_dir "${1:-}")" registry.pid apicurio-registry- 30; }

cmd_status() {
  local dir pid port
  dir="$(data_dir "${1:-}")"
  if pid="$(running_pid "$dir")"; then
    port="$(cat "$dir/registry.port" 2>/dev/null || echo '?')"
    if api_answers "$port"; then
      echo "Apicurio Registry running on http://127.0.0.1:$port$API_PATH (pid $pid, data $dir)"
      return 0
    fi
    echo "Apicurio Registry process $pid is alive but http://127.0.0.1:$port$API_PATH does not answer (see $dir/registry.log)"
    return 1
  fi
  echo "Apicurio Registry not running (data $dir)"
  return 1
}

cmd_jar() {
  require_installed
  echo "$JAR"
}

case "${1:-}" in
  install) cmd_install ;;
  start) shift; cmd_start "$@" ;;
  stop) shift; cmd_stop "$@" ;;
  status) shift; cmd_status "$@" ;;
  jar) cmd_jar ;;
  *) sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
