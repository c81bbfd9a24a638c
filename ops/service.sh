# Sourced by ops/<service>/<service>.sh: a local background process known by its pid file.
# The sourcing script sets `service` (its name in messages), `here` (its folder, with the pom.xml
# of its jars), `pid_file`, `log_file` and `timeout`, and defines `start`; `service_main "$@"`
# then runs start | stop | status.

# The service's jars from Maven Central, once (`mvn` reads the pom.xml beside the script).
fetch_jars() {
  if [[ ! -f $here/lib/.complete ]]; then
    echo "$service: fetching jars from Maven Central" >&2
    (cd "$here" && mvn -q dependency:copy-dependencies -DoutputDirectory=lib)
    touch "$here/lib/.complete"
  fi
}

# Waits until the command "$@" succeeds while process `pid` lives, at most `timeout` seconds.
wait_for() {
  local pid=$1 deadline=$((SECONDS + timeout))
  shift
  until "$@" 2>/dev/null; do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "$service: exited while starting; last lines of $log_file:" >&2
      tail -n 20 "$log_file" >&2 || true
      return 1
    fi
    if ((SECONDS > deadline)); then
      echo "$service: not started after ${timeout}s; see $log_file" >&2
      return 1
    fi
    sleep 0.2
  done
}

running() {
  [[ -f $pid_file ]] && kill -0 "$(cat "$pid_file")" 2>/dev/null
}

stop() {
  if ! running; then
    echo "$service: not running"
    rm -f "$pid_file"
    return
  fi
  local pid
  pid=$(cat "$pid_file")
  kill "$pid"
  for _ in $(seq 1 150); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "$service: still running after 30s, killing pid $pid" >&2
    kill -9 "$pid"
  fi
  rm -f "$pid_file"
  echo "$service: stopped"
}

service_main() {
  case ${1:-} in
    start) start ;;
    stop) stop ;;
    status) if running; then echo "$service: running (pid $(cat "$pid_file"))"; else echo "$service: not running"; exit 1; fi ;;
    *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
  esac
}
