#!/usr/bin/env bash
# Single-node Apache Kafka broker (KRaft, combined broker+controller) for
# development and CI, without Docker and without downloading a Kafka tarball:
# the broker's jars come from Maven Central through `mvn`, the only route to
# the outside that our machines (and CI) have.
#
# Usage: scripts/kafka.sh {fetch|start|stop|status|reset|classpath}
#   fetch      download Kafka + runtime deps into the cache (no-op if cached)
#   start      fetch if needed, format storage on first run, start the broker
#              in the background and wait until it serves requests
#              (no-op if it already runs from this data dir)
#   stop       SIGTERM, bounded wait, then SIGKILL; exit 0 if nothing runs
#   status     print running/stopped; exit 0 if running, 1 if not
#   reset      stop and delete the data dir (topics, offsets, logs)
#   classpath  print the classpath, to run Kafka's own tools, e.g.
#              java -cp "$(scripts/kafka.sh classpath)" \
#                org.apache.kafka.tools.TopicCommand --bootstrap-server 127.0.0.1:9092 --list
#
# Environment (defaults in brackets):
#   KAFKA_VERSION           Kafka version [4.4.0]
#   KAFKA_LOG4J_VERSION     log4j2 version; keep it equal to the log4j-core
#                           that kafka-server depends on [2.25.5]
#   KAFKA_CACHE_DIR         jar cache [~/.cache/credit-registry/kafka-$KAFKA_VERSION]
#   KAFKA_DATA_DIR          config, pid, logs and partitions [/tmp/credit-registry-kafka]
#   KAFKA_PORT              client listener on 127.0.0.1 [9092]
#   KAFKA_CONTROLLER_PORT   KRaft controller listener on 127.0.0.1 [9093]
#   KAFKA_AUTO_CREATE_TOPICS  auto.create.topics.enable [false]: off so that code
#                           and tests that forget to create their topics fail
#                           here as they would against a managed cluster
#   KAFKA_HEAP_OPTS         JVM heap [-Xms256m -Xmx512m]
#   KAFKA_START_TIMEOUT     seconds to wait for readiness [60]
#   KAFKA_STOP_TIMEOUT      seconds to wait after SIGTERM before SIGKILL [30]
#   KAFKA_MVN_FLAGS         extra flags for mvn, e.g. -Dmaven.repo.local=...
#   JAVA_HOME               Java 17+ (Kafka 4 brokers need 17)
set -euo pipefail

KAFKA_VERSION="${KAFKA_VERSION:-4.4.0}"
LOG4J_VERSION="${KAFKA_LOG4J_VERSION:-2.25.5}"
# Pinned so that a fetch does not depend on whatever plugin version the local
# Maven would pick; 3.8.1 still runs on Maven 3.6.3+ (we have 3.8).
DEP_PLUGIN="org.apache.maven.plugins:maven-dependency-plugin:3.8.1"
CACHE_DIR="${KAFKA_CACHE_DIR:-$HOME/.cache/credit-registry/kafka-$KAFKA_VERSION}"
DATA_DIR="${KAFKA_DATA_DIR:-/tmp/credit-registry-kafka}"
PORT="${KAFKA_PORT:-9092}"
CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-9093}"
AUTO_CREATE="${KAFKA_AUTO_CREATE_TOPICS:-false}"
HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m}"
START_TIMEOUT="${KAFKA_START_TIMEOUT:-60}"
STOP_TIMEOUT="${KAFKA_STOP_TIMEOUT:-30}"
HOST=127.0.0.1

LIB_DIR="$CACHE_DIR/libs"
# Written last by fetch: its presence means the jar set is complete, so an
# interrupted download is never mistaken for a usable cache.
CACHE_MARKER="$CACHE_DIR/.complete"
PID_FILE="$DATA_DIR/kafka.pid"
CONFIG="$DATA_DIR/server.properties"
LOG4J_CONFIG="$DATA_DIR/log4j2.properties"
LOG_DIR="$DATA_DIR/logs"            # broker's own log files (log4j + stdout)
KRAFT_DIR="$DATA_DIR/kraft-data"    # log.dirs: partitions + metadata log
SERVER_LOG="$LOG_DIR/server.log"
STDOUT_LOG="$LOG_DIR/stdout.log"

if [[ -n "${JAVA_HOME:-}" && -x "$JAVA_HOME/bin/java" ]]; then
  JAVA="$JAVA_HOME/bin/java"
else
  JAVA="java"
fi

log() { echo "kafka.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }

classpath() { echo "$LIB_DIR/*"; }

# --------------------------------------------------------------------- fetch
fetch() {
  if [[ -f "$CACHE_MARKER" ]]; then
    return 0
  fi
  command -v mvn >/dev/null || die "mvn not found; it is needed once to download Kafka's jars"
  log "fetching Kafka $KAFKA_VERSION jars into $CACHE_DIR (one-off)"
  mkdir -p "$(dirname "$CACHE_DIR")"
  # Build in a sibling temp dir and rename into place at the end, so that two
  # concurrent fetches (parallel CI jobs) never see a half-filled cache.
  local tmp
  tmp="$(mktemp -d "$(dirname "$CACHE_DIR")/.kafka-fetch.XXXXXX")"
  # shellcheck disable=SC2064  # expand $tmp now: it is local
  trap "rm -rf '$tmp'" EXIT
  # A throwaway pom whose only purpose is to let Maven resolve the broker's
  # runtime dependency graph (the same jars the official tarball ships in libs/).
  #  - log4j-slf4j-impl: the broker logs through slf4j 1.7 (scala-logging,
  #    kafka-clients) but the pom brings no slf4j binding; without it slf4j
  #    falls back to NOP and the broker logs nothing. The tarball ships this
  #    same binding. log4j-bom keeps log4j-api/core/binding on one version.
  #  - kafka-tools: TopicCommand, console producer/consumer etc. for scripts
  #    and debugging. connect-runtime is excluded: it drags in Jetty/Jersey
  #    (~40 jars) that only the Connect-related tools use.
  cat >"$tmp/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>credit-registry.local</groupId>
  <artifactId>kafka-runtime</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencyManagement>
    <dependencies>
      <dependency>
        <groupId>org.apache.logging.log4j</groupId>
        <artifactId>log4j-bom</artifactId>
        <version>$LOG4J_VERSION</version>
        <type>pom</type>
        <scope>import</scope>
      </dependency>
    </dependencies>
  </dependencyManagement>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_2.13</artifactId>
      <version>$KAFKA_VERSION</version>
    </dependency>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka-tools</artifactId>
      <version>$KAFKA_VERSION</version>
      <exclusions>
        <exclusion>
          <groupId>org.apache.kafka</groupId>
          <artifactId>connect-runtime</artifactId>
        </exclusion>
      </exclusions>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-slf4j-impl</artifactId>
    </dependency>
  </dependencies>
</project>
EOF
  # shellcheck disable=SC2086  # KAFKA_MVN_FLAGS is a list of flags
  if ! mvn -B -q ${KAFKA_MVN_FLAGS:-} -f "$tmp/pom.xml" \
      "$DEP_PLUGIN:copy-dependencies" \
      -DincludeScope=runtime -DoutputDirectory="$tmp/cache/libs" >"$tmp/mvn.log" 2>&1; then
    cat "$tmp/mvn.log" >&2
    die "mvn could not fetch Kafka $KAFKA_VERSION"
  fi
  [[ -f "$tmp/cache/libs/kafka_2.13-$KAFKA_VERSION.jar" ]] \
    || die "mvn finished but kafka_2.13-$KAFKA_VERSION.jar is missing"
  cp "$tmp/pom.xml" "$tmp/cache/pom.xml"   # kept to show what the cache holds
  touch "$tmp/cache/.complete"
  if ! mv -T "$tmp/cache" "$CACHE_DIR" 2>/dev/null; then
    # Someone else completed the cache meanwhile (or a stale partial dir is
    # in the way): keep a complete one, replace an incomplete one.
    if [[ ! -f "$CACHE_MARKER" ]]; then
      rm -rf "$CACHE_DIR"
      mv -T "$tmp/cache" "$CACHE_DIR"
    fi
  fi
  rm -rf "$tmp"
  trap - EXIT
  log "fetched $(find "$LIB_DIR" -name '*.jar' | wc -l) jars"
}

# ---------------------------------------------------------- process helpers
read_pid() {
  if [[ -f "$PID_FILE" ]]; then
    tr -dc '0-9' <"$PID_FILE"
  fi
}

# True if the pid file names a live process that is *our* broker: checked on
# its command line so that a recycled pid (after a reboot or a crash) is never
# taken for the broker, nor killed by `stop`.
broker_alive() {
  local pid
  pid="$(read_pid)"
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 1
  if [[ -r "/proc/$pid/cmdline" ]]; then
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "kafka.Kafka $CONFIG" || return 1
  fi
  echo "$pid"
}

port_open() {
  # bash's /dev/tcp: no dependency on nc/ss, which slim images lack.
  (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null
}

# Ready = the broker answers a Metadata request and lists at least one broker.
# A mere open port is not enough: Kafka binds its listener before it has caught
# up with the metadata log and been unfenced, and a CreateTopics sent in that
# window fails with "only 0 broker(s) are registered". Pure stdlib Python
# speaking the (non-flexible) Metadata v4 wire format, so no client library
# and no extra JVM start (~2 s each on 2 cores) per poll.
broker_ready() {
  if ! command -v python3 >/dev/null; then
    port_open "$PORT"
    return
  fi
  python3 - "$HOST" "$PORT" <<'PY' 2>/dev/null
import socket, struct, sys
host, port = sys.argv[1], int(sys.argv[2])
client = b"kafka.sh"
# request header v1: api_key=3 (Metadata), api_version=4, correlation_id, client_id
# body v4: topics=null (-1) -> all topics, allow_auto_topic_creation=false
body = struct.pack(">hhih", 3, 4, 7, len(client)) + client + struct.pack(">ib", -1, 0)
try:
    with socket.create_connection((host, port), timeout=2) as s:
        s.settimeout(3)
        s.sendall(struct.pack(">i", len(body)) + body)
        def read(n):
            buf = b""
            while len(buf) < n:
                chunk = s.recv(n - len(buf))
                if not chunk:
                    raise EOFError
                buf += chunk
            return buf
        size = struct.unpack(">i", read(4))[0]
        resp = read(size)
except Exception:
    sys.exit(1)
# response header v0: correlation_id; body v4: throttle_time_ms, brokers[...]
corr, _throttle, n_brokers = struct.unpack(">iii", resp[:12])
sys.exit(0 if corr == 7 and n_brokers > 0 else 1)
PY
}

show_log_tail() {
  local f
  for f in "$STDOUT_LOG" "$SERVER_LOG"; do
    if [[ -s "$f" ]]; then
      echo "----- last lines of $f -----" >&2
      tail -n 40 "$f" >&2
    fi
  done
}

# ---------------------------------------------------------------- configure
write_config() {
  mkdir -p "$LOG_DIR" "$KRAFT_DIR"
  # Rewritten on every start so that changed ports/env take effect; the
  # cluster's identity lives in $KRAFT_DIR/meta.properties, not here.
  cat >"$CONFIG" <<EOF
# Generated by scripts/kafka.sh on every start; edits are overwritten.
process.roles=broker,controller
node.id=1
# Static quorum of one voter (kraft.version 0). Chosen over the dynamic
# quorum (controller.quorum.bootstrap.servers + format --standalone) because
# the dynamic one records the controller endpoint in the metadata log at
# format time, so a later KAFKA_CONTROLLER_PORT change would need a reset.
controller.quorum.voters=1@$HOST:$CONTROLLER_PORT
listeners=PLAINTEXT://$HOST:$PORT,CONTROLLER://$HOST:$CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$HOST:$PORT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$KRAFT_DIR
num.partitions=1
default.replication.factor=1
auto.create.topics.enable=$AUTO_CREATE
# One broker: every internal topic must live with replication factor 1.
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
# Consumers in tests join a group once; do not make them wait 3 s for others.
group.initial.rebalance.delay.ms=0
# Two cores: the defaults (3 network, 8 io threads) only add contention.
num.network.threads=2
num.io.threads=2
num.recovery.threads.per.data.dir=1
# Small segments/retention: a dev/CI broker should not grow without bound.
log.segment.bytes=67108864
log.retention.hours=24
EOF

  cat >"$LOG4J_CONFIG" <<EOF
# Generated by scripts/kafka.sh. Kafka 4 logs through log4j2; everything goes
# to one size-capped file in the data dir instead of the console.
status = warn
name = credit-registry-kafka
appender.file.type = RollingFile
appender.file.name = FILE
appender.file.fileName = $SERVER_LOG
appender.file.filePattern = $SERVER_LOG.%i
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
appender.file.policies.type = Policies
appender.file.policies.size.type = SizeBasedTriggeringPolicy
appender.file.policies.size.size = 20MB
appender.file.strategy.type = DefaultRolloverStrategy
appender.file.strategy.max = 3
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = FILE
# Per-request and state-change chatter is useless at this scale.
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.statechange.name = state.change.logger
logger.statechange.level = WARN
EOF
}

jvm_opts() {
  # shellcheck disable=SC2206  # HEAP_OPTS is a list of flags
  JVM_OPTS=($HEAP_OPTS -XX:+UseG1GC -XX:MaxGCPauseMillis=20
    -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true
    "-Dlog4j2.configurationFile=$LOG4J_CONFIG"
    -cp "$(classpath)")
}

format_storage() {
  # Formatting writes meta.properties (cluster id, node id) and the bootstrap
  # metadata checkpoint; it must happen once per data dir, and doing it again
  # on an existing dir fails, so it is skipped on restarts (data is kept).
  if [[ -f "$KRAFT_DIR/meta.properties" ]]; then
    return 0
  fi
  local cluster_id
  jvm_opts
  # Same format as `StorageTool random-uuid` (url-safe base64 of 16 random
  # bytes, never starting with '-', which CLIs would read as a flag), made in
  # Python when there is one to save a ~2 s JVM start on first run.
  if command -v python3 >/dev/null; then
    cluster_id="$(python3 -c 'import base64, uuid
while True:
    s = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    if not s.startswith("-"):
        print(s)
        break')"
  else
    cluster_id="$("$JAVA" "${JVM_OPTS[@]}" kafka.tools.StorageTool random-uuid 2>>"$STDOUT_LOG")" \
      || { show_log_tail; die "kafka storage random-uuid failed: $cluster_id"; }
  fi
  log "formatting $KRAFT_DIR (cluster id $cluster_id)"
  "$JAVA" "${JVM_OPTS[@]}" kafka.tools.StorageTool format \
    -t "$cluster_id" -c "$CONFIG" >>"$STDOUT_LOG" 2>&1 \
    || { show_log_tail; die "kafka storage format failed"; }
}

# ----------------------------------------------------------------- commands
wait_ready() {
  local pid="$1" deadline=$((SECONDS + START_TIMEOUT))
  while ((SECONDS < deadline)); do
    if ! kill -0 "$pid" 2>/dev/null; then
      show_log_tail
      rm -f "$PID_FILE"
      die "broker exited during startup"
    fi
    if broker_ready; then
      return 0
    fi
    sleep 0.5
  done
  show_log_tail
  die "broker (pid $pid) not ready on $HOST:$PORT after ${START_TIMEOUT}s; still running, see 'stop'"
}

start() {
  local pid
  if pid="$(broker_alive)"; then
    # Already ours: just make sure it is (or becomes) ready, then succeed.
    wait_ready "$pid"
    log "already running (pid $pid) on $HOST:$PORT"
    return 0
  fi
  rm -f "$PID_FILE"
  if port_open "$PORT" || port_open "$CONTROLLER_PORT"; then
    die "port $PORT or $CONTROLLER_PORT on $HOST is in use by another process"
  fi
  "$JAVA" -version 2>&1 | grep -qE 'version "(1[7-9]|[2-9][0-9])' \
    || die "Kafka $KAFKA_VERSION needs Java 17+; set JAVA_HOME"
  fetch
  write_config
  format_storage
  jvm_opts
  log "starting broker on $HOST:$PORT (data in $DATA_DIR)"
  echo "===== start $(date -u +%FT%TZ) =====" >>"$STDOUT_LOG"
  # setsid: own session, so the broker outlives this script and a Ctrl-C in
  # the shell that ran `start` does not reach it. The child writes its own
  # pid before exec'ing java, which stays right even if setsid has to fork.
  # 9>&-: the broker must not inherit the lock fd, or it would hold the
  # lock for its whole life and block every later stop/start.
  # shellcheck disable=SC2016  # $$ and $1 are for the inner sh
  setsid sh -c 'echo $$ >"$1"; shift; exec "$@"' sh "$PID_FILE" \
    "$JAVA" "${JVM_OPTS[@]}" kafka.Kafka "$CONFIG" \
    </dev/null >>"$STDOUT_LOG" 2>&1 9>&- &
  for _ in $(seq 50); do
    [[ -s "$PID_FILE" ]] && break
    sleep 0.1
  done
  pid="$(read_pid)"
  [[ -n "$pid" ]] || die "could not start java"
  wait_ready "$pid"
  log "ready (pid $pid) on $HOST:$PORT"
}

stop() {
  local pid
  if ! pid="$(broker_alive)"; then
    rm -f "$PID_FILE"
    log "not running"
    return 0
  fi
  log "stopping broker (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + STOP_TIMEOUT))
  while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do
    sleep 0.2
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "still alive after ${STOP_TIMEOUT}s, sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  fi
  rm -f "$PID_FILE"
  log "stopped"
}

status() {
  local pid
  if pid="$(broker_alive)"; then
    if broker_ready; then
      echo "running (pid $pid, $HOST:$PORT, data $DATA_DIR)"
    else
      echo "running (pid $pid, $HOST:$PORT, not ready yet, data $DATA_DIR)"
    fi
    return 0
  fi
  echo "stopped"
  return 1
}

reset() {
  stop
  # Guard against an empty or root path from a bad KAFKA_DATA_DIR.
  [[ -n "$DATA_DIR" && "$DATA_DIR" != "/" ]] || die "refusing to delete '$DATA_DIR'"
  rm -rf "$DATA_DIR"
  log "deleted $DATA_DIR"
}

# Serialise start/stop/reset per data dir: two concurrent `start`s would both
# launch a JVM, and the loser would overwrite the pid file of the winner.
# The lock sits beside the data dir because `reset` deletes the dir itself.
lock() {
  if command -v flock >/dev/null; then
    mkdir -p "$(dirname "$DATA_DIR")"
    exec 9>"$DATA_DIR.lock"
    flock -w $((START_TIMEOUT + STOP_TIMEOUT)) 9 || die "timed out waiting for $DATA_DIR.lock"
  fi
}

case "${1:-}" in
  fetch) fetch ;;
  start) lock; start ;;
  stop) lock; stop ;;
  status) status ;;
  reset) lock; reset ;;
  classpath) fetch; classpath ;;
  *)
    echo "usage: $0 {fetch|start|stop|status|reset|classpath}" >&2
    exit 2
    ;;
esac
