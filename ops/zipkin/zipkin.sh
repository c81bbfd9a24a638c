#!/usr/bin/env bash
# A local Zipkin server (traces: the HTTP API and the web UI) from Maven Central's `exec` jar.
#
#   zipkin.sh start | stop | status
#
# Settings (environment):
#   ZIPKIN_DATA_DIR       folder of the log and pid file          (default: <repo>/data/zipkin)
#   ZIPKIN_PORT           port on 127.0.0.1: UI at /zipkin/, API at /api/v2/   (default: 9411)
#   ZIPKIN_HEAP           JVM heap                                (default: 256m)
#   ZIPKIN_MAX_SPANS      spans kept; older traces are dropped    (default: 50000, fits the heap)
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
# Zipkin's in-memory store keeps 500,000 spans unless told: in 256 MB a flood of the shop's spans
# ran it out of memory at about 85,000, while 50,000 held through 300,000.
max_spans=${ZIPKIN_MAX_SPANS:-50000}
timeout=${ZIPKIN_START_TIMEOUT:-90}
jar=$here/lib/zipkin-server-3.5.1-exec.jar
pid_file=$data/zipkin.pid
log_file=$data/zipkin.log

start() {
  if running; then
    echo "zipkin: already running (pid $(cat "$pid_file")) on http://127.0.0.1:$port/zipkin/"
    return
  fi
  fetch_jars
  mkdir -p "$data"
  # The quick JIT tier and the serial collector halve the start; a local Zipkin's load is light.
  nohup java "-Xms$heap" "-Xmx$heap" -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Djava.awt.headless=true -jar "$jar" \
    --server.address=127.0.0.1 --server.port="$port" --zipkin.storage.mem.max-spans="$max_spans" > "$log_file" 2>&1 &
  local pid=$!
  echo "$pid" > "$pid_file"
  wait_for "$pid" curl -fs -o /dev/null "http://127.0.0.1:$port/health"
  echo "zipkin: started (pid $pid): UI http://127.0.0.1:$port/zipkin/, spans to http://127.0.0.1:$port/api/v2/spans"
}

service_main "$@"
