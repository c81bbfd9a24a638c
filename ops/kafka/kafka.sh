#!/usr/bin/env bash
# A local Apache Kafka broker (KRaft, broker+controller in one JVM) from Maven Central jars.
#
#   kafka.sh start | stop | status
#
# Settings (environment):
#   KAFKA_DATA_DIR         data folder: config, logs, pid file          (default: <repo>/data/kafka)
#   KAFKA_PORT             client port on 127.0.0.1                     (default: 9092)
#   KAFKA_CONTROLLER_PORT  controller port on 127.0.0.1                 (default: KAFKA_PORT + 1)
#   KAFKA_ADVERTISED_PORT  port clients are told to connect to          (default: KAFKA_PORT;
#                          another one when clients reach the broker through a proxy)
#   KAFKA_NODE_ID          node id                                      (default: 1)
#   KAFKA_QUORUM_VOTERS    controller.quorum.voters for a cluster       (default: this node alone)
#   KAFKA_CLUSTER_ID       cluster id shared by a cluster's nodes       (default: generated once)
#   KAFKA_REPLICATION      replication factor of internal topics        (default: 1)
#   KAFKA_MIN_ISR          min.insync.replicas                          (default: 1)
#   KAFKA_HEAP             JVM heap                                     (default: 512m)
#   KAFKA_START_TIMEOUT    seconds to wait for the broker               (default: 90)
#   KAFKA_PROPERTIES       extra server properties, one key=value a line (default: none)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
service=kafka
# shellcheck source=ops/service.sh
source "$here/../service.sh"
repo=$(cd "$here/../.." && pwd)
data=${KAFKA_DATA_DIR:-$repo/data/kafka}
port=${KAFKA_PORT:-9092}
controller_port=${KAFKA_CONTROLLER_PORT:-$((port + 1))}
advertised_port=${KAFKA_ADVERTISED_PORT:-$port}
node_id=${KAFKA_NODE_ID:-1}
voters=${KAFKA_QUORUM_VOTERS:-$node_id@127.0.0.1:$controller_port}
replication=${KAFKA_REPLICATION:-1}
min_isr=${KAFKA_MIN_ISR:-1}
heap=${KAFKA_HEAP:-512m}
timeout=${KAFKA_START_TIMEOUT:-90}
pid_file=$data/kafka.pid
log_file=$data/kafka.log

render_config() {
  mkdir -p "$data/logs"
  sed -e "s|@NODE_ID@|$node_id|" -e "s|@QUORUM_VOTERS@|$voters|" \
      -e "s|@PORT@|$port|g" -e "s|@CONTROLLER_PORT@|$controller_port|g" \
      -e "s|@ADVERTISED_PORT@|$advertised_port|g" \
      -e "s|@DATA_DIR@|$data|" -e "s|@REPLICATION@|$replication|g" -e "s|@MIN_ISR@|$min_isr|g" \
      "$here/server.properties.template" > "$data/server.properties"
  # Later keys win in a properties file: extra settings override the template's.
  if [[ -n ${KAFKA_PROPERTIES:-} ]]; then printf '%s\n' "$KAFKA_PROPERTIES" >> "$data/server.properties"; fi
}

java_opts=("-Xms$heap" "-Xmx$heap" -XX:+UseG1GC -Djava.awt.headless=true
  "-Dlog4j2.configurationFile=$here/log4j2.properties" "-Dkafka.log.file=$log_file" -cp "$here/lib/*")

java_cmd() {
  java "${java_opts[@]}" "$@"
}

# What `kafka-storage random-uuid` prints (16 random bytes, URL-safe base64 without padding, not
# starting with "-"), without starting a JVM for it: a second or two of every fresh broker's start.
random_uuid() {
  local id=-
  while [[ $id == -* ]]; do id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '='); done
  echo "$id"
}

format_once() {
  [[ -f $data/logs/meta.properties ]] && return
  local cluster_id=${KAFKA_CLUSTER_ID:-}
  if [[ -z $cluster_id ]]; then
    [[ -f $data/cluster.id ]] || random_uuid > "$data/cluster.id"
    cluster_id=$(cat "$data/cluster.id")
  fi
  java_cmd kafka.tools.StorageTool format --cluster-id="$cluster_id" -c "$data/server.properties" > "$data/format.log"
}

wait_until_started() {
  wait_for "$1" grep -q "Kafka Server started" "$log_file"
  until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do sleep 0.1; done
}

start() {
  if running; then
    echo "kafka: already running (pid $(cat "$pid_file")) on 127.0.0.1:$port"
    return
  fi
  fetch_jars
  render_config
  format_once
  : > "$log_file"
  nohup java "${java_opts[@]}" kafka.Kafka "$data/server.properties" > "$data/kafka.out" 2>&1 &
  local pid=$!
  echo "$pid" > "$pid_file"
  wait_until_started "$pid"
  echo "kafka: started (pid $pid) on 127.0.0.1:$port, data in $data"
}

service_main "$@"
