#!/usr/bin/env bash
# services.sh start|stop|status [projector|audit|placement|host-actor|gateway|control-plane ...]
# Runs the project's own services as background processes (node with tsx's
# loader, one process each), against the servers scripts/servers.sh runs.
# Pid files in $STATE/run, logs (pino JSON) in $STATE/logs.
# Environment: HOST_NAME (default: this machine's hostname), GATEWAY_PORT (9517),
# LAYOUT: combined (default: gateway, projector and placement in one
# control-plane process, services/control-plane) or separate (each on its
# own: for control planes spread over machines, or a placement standby).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Start order; stop is reversed. Without names, stop and status cover both layouts.
case "${LAYOUT:-combined}" in
  separate) ALL=(projector audit placement host-actor gateway) ;;
  combined) ALL=(control-plane audit host-actor) ;;
  *) die "LAYOUT must be separate or combined, not $LAYOUT" ;;
esac
EVERY=(control-plane projector audit placement host-actor gateway)
export NATS_URL="${NATS_URL:-nats://127.0.0.1:4222}"
export ETCD_ENDPOINTS="${ETCD_ENDPOINTS:-http://127.0.0.1:2379}"
export GATEWAY_PORT="${GATEWAY_PORT:-9517}"
export GATEWAY_HOST="${GATEWAY_HOST:-127.0.0.1}"
export HOST_NAME="${HOST_NAME:-$(hostname)}"
export STATE_DIR="$STATE"

pidfile() { echo "$RUN_DIR/$1.pid"; }
ours()    { pid_alive "$(pidfile "$1")" node; }
gone()    { ! ours "$1"; }

ready() {
  proc_running "$(<"$(pidfile "$1")")" || return 99
  case "$1" in
    gateway|control-plane) http_ok "http://$GATEWAY_HOST:$GATEWAY_PORT/" ;;
    # The others are ready once they have logged that they are.
    *) grep -q '"msg":"ready' "$LOG_DIR/$1.log" ;;
  esac
}

start_one() {
  local s="$1" pf; pf="$(pidfile "$s")"
  if ours "$s"; then log "$s already running (pid $(<"$pf"))"; return 0; fi
  rm -f "$pf"
  : >"$LOG_DIR/$s.log"
  log "starting $s"
  setsid node --import tsx "$REPO/services/$s/main.ts" >>"$LOG_DIR/$s.log" 2>&1 </dev/null &
  echo $! >"$pf"
  if ! wait_for "$s" 60 ready "$s"; then
    tail -n 20 "$LOG_DIR/$s.log" >&2
    die "$s is not ready; see $LOG_DIR/$s.log"
  fi
}

stop_one() {
  local s="$1" pf pid; pf="$(pidfile "$s")"
  if ! ours "$s"; then rm -f "$pf"; log "$s: not running"; return 0; fi
  pid="$(<"$pf")"
  log "stopping $s (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  if ! wait_for "$s to exit" 20 gone "$s"; then
    warn "$s ignored SIGTERM; sending SIGKILL"; kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$pf"
}

status_one() {
  if ours "$1"; then echo "$1: running (pid $(<"$(pidfile "$1")"))"; else echo "$1: stopped"; return 3; fi
}

mkdir -p "$RUN_DIR" "$LOG_DIR"
cmd="${1:-status}"; shift || true
targets=("$@")
rc=0
case "$cmd" in
  start)  [[ ${#targets[@]} -gt 0 ]] || targets=("${ALL[@]}")
          for s in "${targets[@]}"; do start_one "$s"; done ;;
  stop)   [[ ${#targets[@]} -gt 0 ]] || targets=("${EVERY[@]}")
          for (( i=${#targets[@]}-1; i>=0; i-- )); do stop_one "${targets[$i]}"; done ;;
  status) if [[ ${#targets[@]} -eq 0 ]]; then
            # Both layouts: only what runs, or the chosen layout's services if nothing does.
            for s in "${EVERY[@]}"; do ours "$s" && targets+=("$s"); done
            [[ ${#targets[@]} -gt 0 ]] || targets=("${ALL[@]}")
          fi
          for s in "${targets[@]}"; do status_one "$s" || rc=3; done ;;
  *) die "usage: services.sh start|stop|status [service...]" ;;
esac
exit "$rc"
