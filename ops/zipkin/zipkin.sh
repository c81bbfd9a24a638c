#!/usr/bin/env bash
# A local Zipkin server (traces: the HTTP API and the web UI) from Maven Central's `exec` jar.
#
#   zipkin.sh start | stop | status
#
# Settings (environment):
#   ZIPKIN_DATA_DIR       folder of the log and pid file          (default: <repo>/data/zipkin)
#   ZIPKIN_PORT           port on 127.0.0.1: UI at /zipkin/, API at /api/v2/   (default: 9411)
#   ZIPKIN_HEAP           JVM heap                                (default: 256m)
#   ZIPKIN_START_TIMEOUT  seconds to wait for the server          (default: 90)
# Spans are kept in memory (Zipkin's default storage): a restart forgets them.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
service=zipkin
# shellcheck source=ops/service.sh
source "$here/../service.sh"
repo=$(cd "$here/../.." && pwd)
data=${ZIPKIN_DATA_DIR:-$repo/data/zipkin}
port=${ZIPKIN_PORT:-9411}
heap=${ZIPKIN_HEAP:-256m}
timeout=${ZIPKIN_START_TIMEOUT:-90}
jar=$here/lib/zipkin-server-3.5.1-exec.jar
pid_file=$data/zipkin.pid
log_file=$data/zipkin.log

fetch_jar() {
  if [[ ! -f $here/lib/.complete ]]; then
    echo "zipkin: fetching the server jar from Maven Central" >&2
    (cd "$here" && mvn -q dependency:copy-dependencies -DoutputDirectory=lib)
    touch "$here/lib/.complete"
  fi
}

wait_until_started() {
  local pid=$1 deadline=$((SECONDS + timeout))
  until curl -fs "http://127.0.0.1:$port/health" >/dev/null 2>&1; do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "zipkin: the server exited; last lines of $log_file:" >&2
      tail -n 20 "$log_file" >&2 || true
      return 1
    fi
    if ((SECONDS > deadline)); then
      echo "zipkin: not started after ${timeout}s; see $log_file" >&2
      return 1
    fi
    sleep 0.5
  done
}

start() {
  if running; then
    echo "zipkin: already running (pid $(cat "$pid_file")) on http://127.0.0.1:$port/zipkin/"
    return
  fi
  fetch_jar
  mkdir -p "$data"
  nohup java "-Xms$heap" "-Xmx$heap" -Djava.awt.headless=true -jar "$jar" \
    --server.address=127.0.0.1 --server.port="$port" > "$log_file" 2>&1 &
  local pid=$!
  echo "$pid" > "$pid_file"
  wait_until_started "$pid"
  echo "zipkin: started (pid $pid): UI http://127.0.0.1:$port/zipkin/, spans to http://127.0.0.1:$port/api/v2/spans"
}

service_main "$@"
