#!/usr/bin/env bash
# A local Mailpit (an SMTP server that keeps what it accepts, with a web UI and a JSON API), built
# from the Go module proxy into ops/mailpit/bin by `make mail-up` (or `make run`).
#
#   mailpit.sh start | stop | status
#
# Settings (environment):
#   MAILPIT_DATA_DIR       folder of the log, pid file and mailbox   (default: <repo>/data/mailpit)
#   MAILPIT_SMTP_PORT      SMTP port on 127.0.0.1                     (default: 1025)
#   MAILPIT_UI_PORT        web UI and API port on 127.0.0.1           (default: 8025)
#   MAILPIT_START_TIMEOUT  seconds to wait for the server             (default: 30)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
service=mailpit
# shellcheck source=ops/service.sh
source "$here/../service.sh"
repo=$(cd "$here/../.." && pwd)
data=${MAILPIT_DATA_DIR:-$repo/data/mailpit}
smtp_port=${MAILPIT_SMTP_PORT:-1025}
ui_port=${MAILPIT_UI_PORT:-8025}
timeout=${MAILPIT_START_TIMEOUT:-30}
binary=$here/bin/mailpit
pid_file=$data/mailpit.pid
log_file=$data/mailpit.log

start() {
  if running; then
    echo "mailpit: already running (pid $(cat "$pid_file")) on http://127.0.0.1:$ui_port/"
    return
  fi
  mkdir -p "$data"
  # The shop sends in clear to a local server: accept plain AUTH without TLS.
  nohup "$binary" --smtp "127.0.0.1:$smtp_port" --listen "127.0.0.1:$ui_port" \
    --database "$data/mailpit.db" --smtp-auth-allow-insecure > "$log_file" 2>&1 &
  local pid=$!
  echo "$pid" > "$pid_file"
  wait_for "$pid" curl -fs -o /dev/null "http://127.0.0.1:$ui_port/api/v1/info"
  echo "mailpit: started (pid $pid): SMTP 127.0.0.1:$smtp_port, UI http://127.0.0.1:$ui_port/"
}

service_main "$@"
