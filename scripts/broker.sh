#!/usr/bin/env bash
# Apache Kafka for tests, the demo and the benchmarks: a KRaft node (broker and controller in one
# process) on 127.0.0.1 only, run from the Maven Central artifacts of the pinned version.
#
#   scripts/broker.sh install                   resolve Kafka and its dependencies with Maven (cached)
#   scripts/broker.sh start  [PORT] [DATA_DIR]  format DATA_DIR if new, start, wait until it serves
#   scripts/broker.sh stop   [DATA_DIR]         stop it (SIGTERM, then SIGKILL after 60 s)
#   scripts/broker.sh kill   [DATA_DIR]         SIGKILL at once, like a crash (fault tests)
#   scripts/broker.sh wait   [DATA_DIR]         wait until a started node serves (see KAFKA_NO_WAIT)
#   scripts/broker.sh status [DATA_DIR]         "running on ..." (exit 0) or "not running" (exit 1)
#   scripts/broker.sh libs                      print the folder of Kafka's jars (after install)
#   scripts/broker.sh cluster-id                print a new random cluster id (for KAFKA_CLUSTER_ID)
#
# PORT defaults to 9092, DATA_DIR to .kafka-data (relative to the repository root unless
# absolute). DATA_DIR holds server.properties, the log segments, server.log, kafka.pid and
# kafka.port; data and consumer-group offsets survive a restart. The controller listens on
# PORT+1 unless KAFKA_CONTROLLER_PORT says otherwise.
#
# A multi-node cluster (the fault suite's) starts each node with the same KAFKA_CLUSTER_ID and
# KAFKA_VOTERS ("1@127.0.0.1:PORT,2@...", the controller ports), its own KAFKA_NODE_ID, and
# KAFKA_NO_WAIT=1 (a node cannot finish starting before a quorum of controllers is up), then
# `wait`s for each. KAFKA_HEAP_OPTS (default -Xms256m -Xmx1g) sets the JVM heap.
#
# Where Kafka comes from: `install` runs Maven on scripts/kafka/pom.xml, which names
# org.apache.kafka:kafka_2.13:$KAFKA_VERSION; Maven resolves it and its runtime dependencies
# from Maven Central into ~/.m2 and copies the jars to $SEAF_KAFKA_CACHE/$KAFKA_VERSION/libs
# (default ~/.cache/seaf-backup/kafka). Nothing else is downloaded. Needs Java 17+ and Maven.
set -euo pipefail

KAFKA_VERSION=4.1.1
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${SEAF_KAFKA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/seaf-backup/kafka}"
LIBS="$CACHE/$KAFKA_VERSION/libs"
READY_TIMEOUT_S="${KAFKA_READY_TIMEOUT_S:-120}"

# shellcheck source=lib/service.sh
source "$ROOT/scripts/lib/service.sh"

die() { echo "broker.sh: $*" >&2; exit 1; }

data_dir() { resolve_dir .kafka-data "${1:-}"; }

# The pid in DATA_DIR/kafka.pid if that process is alive and is a Kafka node.
running_pid() { pid_of "$1/kafka.pid" kafka.Kafka; }

installed() { [[ -f "$LIBS/.complete" ]]; }

cmd_install() {
  if installed; then
    echo "Apache Kafka $KAFKA_VERSION is installed: $LIBS"
    return
  fi
  command -v java >/dev/null || die "java not found: install Java 17 or newer (Debian: openjdk-17-jre-headless)"
  command -v mvn >/dev/null || die "mvn not found: install Maven (Debian: maven)"
  echo "resolving Apache Kafka $KAFKA_VERSION from Maven Central into $LIBS ..."
  rm -rf "$LIBS"
  mkdir -p "$LIBS"
  mvn -q -B -f "$ROOT/scripts/kafka/pom.xml" -Dkafka.version="$KAFKA_VERSION" \
    dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$LIBS" \
    || die "Maven could not resolve org.apache.kafka:kafka_2.13:$KAFKA_VERSION (is Maven Central reachable?)"
  [[ -f "$LIBS/kafka_2.13-$KAFKA_VERSION.jar" ]] || die "Maven ran but $LIBS has no kafka_2.13-$KAFKA_VERSION.jar"
  touch "$LIBS/.complete"
  echo "Apache Kafka $KAFKA_VERSION installed: $LIBS ($(ls "$LIBS" | wc -l) jars)"
}

require_installed() {
  installed || die "Apache Kafka $KAFKA_VERSION is not installed: run scripts/broker.sh install"
}

kafka_java() { # main class and arguments; the shell becomes the JVM (its pid is the broker's)
  # shellcheck disable=SC2086
  exec java ${KAFKA_HEAP_OPTS:--Xms256m -Xmx1g} -XX:+UseG1GC -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$dir/log4j2.properties" -cp "$LIBS/*" "$@"
}

random_cluster_id() { # 16 random bytes, base64url without padding: Kafka's Uuid text form
  # Like Kafka's own Uuid.randomUuid, never one starting with '-' (it reads as an option).
  local id=-
  while [[ "$id" == -* ]]; do
    id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
  done
  printf '%s' "$id"
}

write_config() { # dir port controller_port node_id voters
  local dir="$1" port="$2" cport="$3" node="$4" voters="$5"
  cat >"$dir/server.properties" <<EOF
# Written by seaf-backup's scripts/broker.sh: one KRaft node on loopback.
process.roles=broker,controller
node.id=$node
controller.quorum.voters=$voters
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$dir/logs
# Like most production clusters: topics are created on purpose (seaf-backup creates its own).
auto.create.topics.enable=false
num.partitions=1
# Internal topics are as replicated as the cluster allows (1 for one node, 3 for three).
offsets.topic.replication.factor=$(( $(tr ',' '\n' <<<"$voters" | wc -l) < 3 ? 1 : 3 ))
transaction.state.log.replication.factor=$(( $(tr ',' '\n' <<<"$voters" | wc -l) < 3 ? 1 : 3 ))
transaction.state.log.min.isr=1
# Tests and the demo join groups often; waiting 3 s for more members only slows them.
group.initial.rebalance.delay.ms=0
EOF
  cat >"$dir/log4j2.properties" <<EOF
status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = $dir/server.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.file.ref = file
logger.kafka.name = kafka
logger.kafka.level = info
logger.state.name = state.change.logger
logger.state.level = warn
EOF
}

format_storage() { # dir cluster_id
  local dir="$1" cluster_id="$2"
  [[ -f "$dir/logs/meta.properties" ]] && return
  (kafka_java kafka.tools.StorageTool format --ignore-formatted --cluster-id="$cluster_id" \
    -c "$dir/server.properties") >>"$dir/server.log" 2>&1 \
    || { tail -n 20 "$dir/server.log" >&2; die "formatting $dir/logs failed"; }
}

cmd_start() {
  local port="${1:-9092}" dir pid cport node voters cluster_id
  check_port "$port"
  dir="$(data_dir "${2:-}")"
  require_installed
  if pid="$(running_pid "$dir")"; then
    echo "Apache Kafka already running on 127.0.0.1:$(cat "$dir/kafka.port" 2>/dev/null || echo '?') (pid $pid, data $dir)"
    return
  fi
  cport="${KAFKA_CONTROLLER_PORT:-$((port + 1))}"
  check_port "$cport"
  node="${KAFKA_NODE_ID:-1}"
  voters="${KAFKA_VOTERS:-$node@127.0.0.1:$cport}"
  port_open "$port" && die "127.0.0.1:$port is already in use by another process; pick another PORT"
  port_open "$cport" && die "127.0.0.1:$cport (controller) is already in use; set KAFKA_CONTROLLER_PORT"
  mkdir -p "$dir"
  if [[ ! -f "$dir/cluster.id" ]]; then
    echo "${KAFKA_CLUSTER_ID:-$(random_cluster_id)}" >"$dir/cluster.id"
  fi
  cluster_id="$(cat "$dir/cluster.id")"
  write_config "$dir" "$port" "$cport" "$node" "$voters"
  format_storage "$dir" "$cluster_id"
  # Where this start's log begins: `wait` looks only at what follows.
  stat -c %s "$dir/server.log" 2>/dev/null >"$dir/log.start" || echo 0 >"$dir/log.start"
  (
    cd "$dir"
    (kafka_java kafka.Kafka "$dir/server.properties") >>"$dir/stdout.log" 2>&1 </dev/null &
    echo $! >"$dir/kafka.pid"
  )
  echo "$port" >"$dir/kafka.port"
  [[ "${KAFKA_NO_WAIT:-0}" == 1 ]] && { echo "Apache Kafka starting on 127.0.0.1:$port (pid $(cat "$dir/kafka.pid"))"; return; }
  cmd_wait "$dir"
}

# Until this start's log says the server started and the listener accepts connections.
cmd_wait() {
  local dir pid port from
  dir="$(data_dir "${1:-}")"
  pid="$(cat "$dir/kafka.pid" 2>/dev/null)" || die "no kafka.pid in $dir: start it first"
  port="$(cat "$dir/kafka.port")"
  from="$(( $(cat "$dir/log.start" 2>/dev/null || echo 0) + 1 ))"
  for _ in $(seq 1 $((READY_TIMEOUT_S * 10))); do
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -n 30 "$dir/server.log" "$dir/stdout.log" >&2 || true
      rm -f "$dir/kafka.pid"
      die "Apache Kafka exited during start-up (logs above: $dir/server.log, $dir/stdout.log)"
    fi
    if tail -c "+$from" "$dir/server.log" 2>/dev/null | grep -q 'Kafka Server started' && port_open "$port"; then
      echo "Apache Kafka $KAFKA_VERSION running on 127.0.0.1:$port (pid $pid, data $dir)"
      return
    fi
    sleep 0.1
  done
  tail -n 30 "$dir/server.log" >&2 || true
  die "Apache Kafka (pid $pid) did not start on 127.0.0.1:$port within $READY_TIMEOUT_S s"
}

cmd_stop() { stop_service "Apache Kafka" "$(data_dir "${1:-}")" kafka.pid kafka.Kafka 60; }

cmd_kill() {
  local dir pid
  dir="$(data_dir "${1:-}")"
  pid="$(running_pid "$dir")" || { echo "Apache Kafka not running (data $dir)"; return; }
  kill -KILL "$pid"
  while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
  rm -f "$dir/kafka.pid"
  echo "Apache Kafka killed (pid $pid)"
}

cmd_status() {
  local dir pid port
  dir="$(data_dir "${1:-}")"
  if pid="$(running_pid "$dir")"; then
    port="$(cat "$dir/kafka.port" 2>/dev/null || echo '?')"
    if port_open "$port"; then
      echo "Apache Kafka running on 127.0.0.1:$port (pid $pid, data $dir)"
      return 0
    fi
    echo "Apache Kafka process $pid is alive but 127.0.0.1:$port does not accept connections (see $dir/server.log)"
    return 1
  fi
  echo "Apache Kafka not running (data $dir)"
  return 1
}

cmd_libs() {
  require_installed
  echo "$LIBS"
}

case "${1:-}" in
  install) cmd_install ;;
  start) shift; cmd_start "$@" ;;
  stop) shift; cmd_stop "$@" ;;
  kill) shift; cmd_kill "$@" ;;
  wait) shift; cmd_wait "$@" ;;
  status) shift; cmd_status "$@" ;;
  libs) cmd_libs ;;
  cluster-id) random_cluster_id; echo ;;
  *) sed -n '2,28p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
