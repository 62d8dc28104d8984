#!/usr/bin/env bash
# phiwatch dev service: a real single-node Apache Kafka 4.1.1 broker (KRaft,
# combined broker+controller) run straight from Maven Central jars, bound to
# 127.0.0.1 only.
#
# Usage: deploy/kafka/kafka.sh {fetch|start|stop|restart|status|clean|classpath}
#
#   fetch      copy the broker/tool jars into the cache (no-op when complete)
#   start      fetch if needed, write config, format storage once, start the
#              broker in the background and wait until it accepts connections;
#              prints the bootstrap address. No-op if already running.
#   stop       SIGTERM, then SIGKILL after KAFKA_STOP_TIMEOUT seconds. Idempotent.
#   restart    stop + start (storage is kept).
#   status     exit 0 and print "running ..." if up, exit 3 if not.
#   clean      stop and delete the state dir (topics, offsets, logs).
#   classpath  print the classpath glob, e.g. for
#              java -cp "$(kafka.sh classpath)" org.apache.kafka.tools.TopicCommand ...
#
# Environment (defaults in brackets):
#   PHIWATCH_CACHE         [$HOME/.cache/phiwatch]  jars go to $PHIWATCH_CACHE/kafka/4.1.1/libs
#   KAFKA_STATE_DIR        [/tmp/phiwatch-kafka]    config, data, logs, pid file
#   KAFKA_PORT             [19092]                  PLAINTEXT (client) listener
#   KAFKA_CONTROLLER_PORT  [19093]                  KRaft controller listener
#   KAFKA_HEAP_OPTS        [-Xms256m -Xmx512m]
#   KAFKA_START_TIMEOUT    [60]  seconds to wait for the broker to become ready
#   KAFKA_STOP_TIMEOUT     [30]  seconds to wait after SIGTERM before SIGKILL
#   JAVA                   [$JAVA_HOME/bin/java or java]  needs Java 17+
#   MVN                    [mvn]
set -euo pipefail

readonly KAFKA_VERSION=4.1.1
SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly SCRIPT_DIR
readonly POM="$SCRIPT_DIR/pom.xml"
readonly LOG4J2_CONF="$SCRIPT_DIR/log4j2.properties"

readonly CACHE_ROOT="${PHIWATCH_CACHE:-$HOME/.cache/phiwatch}"
readonly KAFKA_HOME="$CACHE_ROOT/kafka/$KAFKA_VERSION"
readonly LIBS_DIR="$KAFKA_HOME/libs"
readonly FETCH_MARKER="$KAFKA_HOME/.fetched"

readonly STATE_DIR="${KAFKA_STATE_DIR:-/tmp/phiwatch-kafka}"
readonly PORT="${KAFKA_PORT:-19092}"
readonly CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-19093}"
readonly HOST=127.0.0.1
readonly BOOTSTRAP="$HOST:$PORT"

readonly CONFIG_FILE="$STATE_DIR/server.properties"
readonly DATA_DIR="$STATE_DIR/data"
readonly LOG_DIR="$STATE_DIR/logs"
readonly SERVER_LOG="$LOG_DIR/server.log"   # log4j output of the broker
readonly OUT_LOG="$STATE_DIR/kafka.out"     # JVM stdout/stderr (crashes, early errors)
readonly PID_FILE="$STATE_DIR/kafka.pid"
readonly CLUSTER_ID_FILE="$STATE_DIR/cluster.id"

readonly HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m}"
readonly START_TIMEOUT="${KAFKA_START_TIMEOUT:-60}"
readonly STOP_TIMEOUT="${KAFKA_STOP_TIMEOUT:-30}"
readonly MVN="${MVN:-mvn}"

log() { printf 'kafka.sh: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

java_bin() {
  if [[ -n "${JAVA:-}" ]]; then
    printf '%s\n' "$JAVA"
  elif [[ -n "${JAVA_HOME:-}" && -x "$JAVA_HOME/bin/java" ]]; then
    printf '%s\n' "$JAVA_HOME/bin/java"
  else
    command -v java || die "java not found (Kafka $KAFKA_VERSION needs Java 17+); set JAVA or JAVA_HOME"
  fi
}

check_java() {
  local java ver major
  java="$(java_bin)"
  ver="$("$java" -version 2>&1 | awk -F'"' '/version/ {print $2; exit}')"
  major="${ver%%.*}"
  [[ "$major" == 1 ]] && major="$(cut -d. -f2 <<<"$ver")"
  [[ "$major" =~ ^[0-9]+$ ]] || die "cannot determine Java version of $java (got '$ver')"
  ((major >= 17)) || die "Kafka $KAFKA_VERSION needs Java 17+, $java is $ver"
}

# Runs a Kafka CLI class quietly (log4j -> stderr at WARN, nothing written to server.log).
run_tool() {
  "$(java_bin)" -Xmx256m \
    -Dlog4j2.configurationFile="$LOG4J2_CONF" -Dkafka.log.appender=STDERR -Dkafka.log.level=WARN \
    -cp "$LIBS_DIR/*" "$@"
}

# Seconds since $1 (an $EPOCHREALTIME or $SECONDS value), one decimal.
elapsed() {
  local now="${EPOCHREALTIME:-$SECONDS}"
  awk -v a="${1/,/.}" -v b="${now/,/.}" 'BEGIN { printf "%.1f", b - a }'
}

pom_hash() { sha256sum "$POM" | cut -d' ' -f1; }

fetch_complete() {
  [[ -f "$FETCH_MARKER" && -d "$LIBS_DIR" ]] || return 1
  [[ "$(cat "$FETCH_MARKER")" == "$(pom_hash)" ]] || return 1
  compgen -G "$LIBS_DIR/kafka_2.13-$KAFKA_VERSION.jar" >/dev/null
}

cmd_fetch() {
  if fetch_complete; then
    log "jars already fetched: $LIBS_DIR"
    return 0
  fi
  [[ -f "$POM" ]] || die "missing $POM"
  command -v "$MVN" >/dev/null || die "maven ('$MVN') not found; install maven or set MVN"
  mkdir -p "$KAFKA_HOME"
  local tmp t0
  tmp="$(mktemp -d "$KAFKA_HOME/libs.tmp.XXXXXX")"
  # shellcheck disable=SC2064
  trap "rm -rf '$tmp' '$tmp.mvn.log'" EXIT
  t0=${EPOCHREALTIME:-$SECONDS}
  local -a mvn_args=(-B -q -f "$POM" dependency:copy-dependencies
    -DincludeScope=runtime -DoutputDirectory="$tmp")
  log "fetching Kafka $KAFKA_VERSION jars into $LIBS_DIR ..."
  # Offline first: works without network when ~/.m2 already has everything.
  if ! "$MVN" -o "${mvn_args[@]}" >"$tmp.mvn.log" 2>&1; then
    log "not all jars in the local Maven repo, resolving from Maven Central ..."
    rm -rf "$tmp" && mkdir -p "$tmp"
    if ! "$MVN" "${mvn_args[@]}" >"$tmp.mvn.log" 2>&1; then
      tail -n 40 "$tmp.mvn.log" >&2 || true
      rm -f "$tmp.mvn.log"
      die "maven could not fetch the Kafka jars (see output above)"
    fi
  fi
  rm -f "$tmp.mvn.log"
  [[ -f "$tmp/kafka_2.13-$KAFKA_VERSION.jar" ]] || die "maven finished but kafka_2.13-$KAFKA_VERSION.jar is missing"
  rm -rf "$LIBS_DIR"
  mv "$tmp" "$LIBS_DIR"
  trap - EXIT
  pom_hash >"$FETCH_MARKER"
  log "fetched $(find "$LIBS_DIR" -name '*.jar' | wc -l) jars ($(du -sh "$LIBS_DIR" | cut -f1)) in $(elapsed "$t0")s"
}

# Prints the pid if our broker is running, else returns 1 (and drops a stale pid file).
running_pid() {
  [[ -f "$PID_FILE" ]] || return 1
  local pid
  pid="$(tr -dc '0-9' <"$PID_FILE")"
  if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null &&
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "kafka.Kafka $CONFIG_FILE"; then
    printf '%s\n' "$pid"
    return 0
  fi
  rm -f "$PID_FILE"
  return 1
}

port_open() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

write_config() {
  mkdir -p "$DATA_DIR" "$LOG_DIR"
  cat >"$CONFIG_FILE" <<EOF
# Generated by deploy/kafka/kafka.sh -- rewritten on every start, edits are lost.
# Single-node KRaft: this process is both broker and controller.
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=$HOST:$CONTROLLER_PORT
controller.listener.names=CONTROLLER

listeners=PLAINTEXT://$HOST:$PORT,CONTROLLER://$HOST:$CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$HOST:$PORT
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT

log.dirs=$DATA_DIR
num.partitions=4
auto.create.topics.enable=true
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0

# After an unclean exit (kill -9, OOM) the restarted node has to wait for its old broker
# registration to expire (DUPLICATE_BROKER_REGISTRATION) -- 9 s by default, 5 s here.
broker.heartbeat.interval.ms=1000
broker.session.timeout.ms=5000

# Dev box: keep disk usage bounded.
log.retention.hours=24
log.segment.bytes=67108864
EOF
}

format_storage() {
  if [[ -f "$DATA_DIR/meta.properties" ]]; then
    return 0
  fi
  local cid
  if [[ -s "$CLUSTER_ID_FILE" ]]; then
    cid="$(<"$CLUSTER_ID_FILE")"
  else
    cid="$(run_tool kafka.tools.StorageTool random-uuid)"
    [[ "$cid" =~ ^[A-Za-z0-9_-]{22}$ ]] || die "StorageTool random-uuid returned '$cid'"
    printf '%s\n' "$cid" >"$CLUSTER_ID_FILE"
  fi
  log "formatting storage in $DATA_DIR (cluster id $cid)"
  run_tool kafka.tools.StorageTool format --standalone --ignore-formatted \
    -t "$cid" -c "$CONFIG_FILE" >"$STATE_DIR/format.log" 2>&1 ||
    { cat "$STATE_DIR/format.log" >&2; die "kafka-storage format failed"; }
}

cmd_start() {
  local pid
  if pid="$(running_pid)"; then
    log "already running (pid $pid), bootstrap $BOOTSTRAP"
    printf '%s\n' "$BOOTSTRAP"
    return 0
  fi
  check_java
  cmd_fetch
  local p
  for p in "$PORT" "$CONTROLLER_PORT"; do
    port_open "$p" && die "$HOST:$p is already in use by another process (set KAFKA_PORT / KAFKA_CONTROLLER_PORT)"
  done
  mkdir -p "$STATE_DIR"
  write_config
  format_storage

  # server.log survives restarts: only look at what this run appends.
  LOG_OFFSET=0
  [[ -f "$SERVER_LOG" ]] && LOG_OFFSET="$(stat -c %s "$SERVER_LOG")"
  local t0=${EPOCHREALTIME:-$SECONDS}
  log "starting Kafka $KAFKA_VERSION (state $STATE_DIR, log $SERVER_LOG)"
  # setsid: detach from the caller's session/process group so Ctrl-C or a test
  # harness killing its group does not take the broker down with it.
  # shellcheck disable=SC2086
  setsid "$(java_bin)" $HEAP_OPTS \
    -server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 \
    -XX:+ExplicitGCInvokesConcurrent -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true \
    -Djava.net.preferIPv4Stack=true \
    -Dkafka.logs.dir="$LOG_DIR" -Dlog4j2.configurationFile="$LOG4J2_CONF" \
    -cp "$LIBS_DIR/*" kafka.Kafka "$CONFIG_FILE" \
    >"$OUT_LOG" 2>&1 </dev/null &
  pid=$!
  printf '%s\n' "$pid" >"$PID_FILE"

  # Ready = client port accepts TCP connections and the server logged that it finished startup.
  local deadline=$((SECONDS + START_TIMEOUT))
  while :; do
    if ! kill -0 "$pid" 2>/dev/null; then
      rm -f "$PID_FILE"
      dump_logs
      die "Kafka exited during startup"
    fi
    if port_open "$PORT" && new_server_log | grep -q 'Kafka Server started'; then
      break
    fi
    if ((SECONDS >= deadline)); then
      dump_logs
      log "Kafka not ready after ${START_TIMEOUT}s; stopping it"
      cmd_stop || true
      die "Kafka failed to start"
    fi
    sleep 0.25
  done
  log "ready in $(elapsed "$t0")s (pid $pid)"
  printf '%s\n' "$BOOTSTRAP"
}

LOG_OFFSET=0

# The part of server.log written since LOG_OFFSET (the whole file if it was rolled meanwhile).
new_server_log() {
  [[ -f "$SERVER_LOG" ]] || return 0
  local size
  size="$(stat -c %s "$SERVER_LOG")"
  if ((size >= LOG_OFFSET)); then
    tail -c "+$((LOG_OFFSET + 1))" "$SERVER_LOG"
  else
    cat "$SERVER_LOG"
  fi
}

dump_logs() {
  if [[ -s "$OUT_LOG" ]]; then
    log "---- tail of $OUT_LOG ----"
    tail -n 30 "$OUT_LOG" >&2
  fi
  local recent
  recent="$(new_server_log | tail -n 40)"
  if [[ -n "$recent" ]]; then
    log "---- tail of $SERVER_LOG ----"
    printf '%s\n' "$recent" >&2
  fi
}

cmd_stop() {
  local pid
  if ! pid="$(running_pid)"; then
    log "not running"
    return 0
  fi
  log "stopping Kafka (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + STOP_TIMEOUT))
  while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do
    sleep 0.25
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "still alive after ${STOP_TIMEOUT}s, sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    local i
    for ((i = 0; i < 40; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.25
    done
  fi
  kill -0 "$pid" 2>/dev/null && die "could not stop pid $pid"
  rm -f "$PID_FILE"
  log "stopped"
}

cmd_status() {
  local pid
  if pid="$(running_pid)"; then
    printf 'running (pid %s, bootstrap %s, state %s)\n' "$pid" "$BOOTSTRAP" "$STATE_DIR"
    return 0
  fi
  printf 'not running\n'
  return 3
}

cmd_clean() {
  cmd_stop
  case "$STATE_DIR" in
  "" | / | "$HOME" | "$HOME/") die "refusing to delete state dir '$STATE_DIR'" ;;
  esac
  if [[ -d "$STATE_DIR" ]]; then
    rm -rf "$STATE_DIR"
    log "deleted $STATE_DIR"
  else
    log "nothing to clean ($STATE_DIR does not exist)"
  fi
}

usage() {
  sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}" >&2
}

main() {
  local cmd="${1:-}"
  case "$cmd" in
  fetch) cmd_fetch ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  restart) cmd_stop && cmd_start ;;
  status) cmd_status ;;
  clean) cmd_clean ;;
  classpath) printf '%s\n' "$LIBS_DIR/*" ;;
  -h | --help | help) usage ;;
  *)
    usage
    exit 2
    ;;
  esac
}

main "$@"
