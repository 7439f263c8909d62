#!/usr/bin/env bash
# servers.sh start|stop|status [nats|etcd|dockerd ...]
# Runs the local servers: nats-server (nats.conf, data in $STATE/nats), etcd
# (data in $STATE/etcd) and dockerd (only when no Docker daemon answers on
# $DOCKER_SOCK). Pid files in $STATE/run, logs in $STATE/logs.
# stop only ever signals the pids named in our pid files.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ALL=(nats etcd dockerd)                       # start order; stop is reversed
declare -A COMM=([nats]=nats-server [etcd]=etcd [dockerd]=dockerd)
declare -A START_WAIT=([nats]=30 [etcd]=30 [dockerd]=90)
declare -A STOP_WAIT=([nats]=15 [etcd]=15 [dockerd]=40)

pidfile() { echo "$RUN_DIR/$1.pid"; }
ours()    { pid_alive "$(pidfile "$1")" "${COMM[$1]}"; }
gone()    { ! ours "$1"; }

# answers S: something serves S on its usual address (started by us or not)
answers() {
  case "$1" in
    nats)    http_ok "http://127.0.0.1:8222/healthz?js-enabled-only=true" ;;
    etcd)    http_ok "http://127.0.0.1:2379/health" ;;  # = etcdctl endpoint health, faster to fail
    dockerd) docker_ok ;;
  esac
}

# ready S: the process we just started answers; 99 (stop waiting) when it
# died. (Right after the fork its name may not be the server's yet.)
ready() { proc_running "$(<"$(pidfile "$1")")" || return 99; answers "$1"; }

# command_for S: sets CMD. Each command execs the server itself, so $! is its pid.
command_for() {
  case "$1" in
    nats) CMD=(env ZUN_NATS_STORE_DIR="$STATE/nats" setsid nats-server -c "$REPO/nats.conf") ;;
    etcd) CMD=(setsid etcd --name default --data-dir "$STATE/etcd"
            --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379
            --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380
            --initial-cluster default=http://127.0.0.1:2380 --logger zap --log-level warn) ;;
    dockerd) CMD=(setsid dockerd --iptables=false) ;;
  esac
}

start_one() {
  local s="$1" pf; pf="$(pidfile "$s")"
  if ours "$s"; then
    log "$s already running (pid $(<"$pf"))"
    answers "$s" >/dev/null 2>&1 && return 0
  elif answers "$s" >/dev/null 2>&1; then
    rm -f "$pf"
    log "$s already answers (not started by us); leaving it alone"
    return 0
  else
    rm -f "$pf"
    [[ "$s" == nats ]] && mkdir -p "$STATE/nats"
    command_for "$s"
    log "starting $s: ${CMD[*]}"
    printf '\n=== %s starting: %s\n' "$(date -Is)" "${CMD[*]}" >>"$LOG_DIR/$s.log"
    "${CMD[@]}" >>"$LOG_DIR/$s.log" 2>&1 </dev/null &
    echo $! >"$pf"
  fi
  if ! wait_for "$s" "${START_WAIT[$s]}" ready "$s"; then
    tail -n 20 "$LOG_DIR/$s.log" >&2
    proc_running "$(<"$pf")" || rm -f "$pf"    # keep it while alive, for stop
    die "$s is not ready; see $LOG_DIR/$s.log"
  fi
}

stop_one() {
  local s="$1" pf pid; pf="$(pidfile "$s")"
  if ! ours "$s"; then
    if [[ -e "$pf" ]]; then log "$s: not running; removing stale pid file"; rm -f "$pf"
    else log "$s: not started by us; nothing to stop"; fi
    return 0
  fi
  pid="$(<"$pf")"
  log "stopping $s (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  if ! wait_for "$s to exit" "${STOP_WAIT[$s]}" gone "$s"; then
    warn "$s (pid $pid) ignored SIGTERM; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    wait_for "$s to exit after SIGKILL" 5 gone "$s" || warn "$s (pid $pid) still there"
  fi
  rm -f "$pf"
}

# status_one S: prints a line; fails when S does not answer
status_one() {
  local s="$1" who rc=0
  if ours "$s"; then who="started by us, pid $(<"$(pidfile "$s")")"; else who="not started by us"; fi
  if answers "$s" >/dev/null 2>&1; then printf '%-8s answering  (%s)\n' "$s" "$who"
  else printf '%-8s DOWN       (%s)\n' "$s" "$who"; rc=1; fi
  return $rc
}

cmd="${1:-}"; shift || true
services=("$@"); (( ${#services[@]} )) || services=("${ALL[@]}")
for s in "${services[@]}"; do [[ -n "${COMM[$s]:-}" ]] || die "unknown server '$s' (want: ${ALL[*]})"; done

case "$cmd" in
  start)
    mkdir -p "$RUN_DIR" "$LOG_DIR"
    for s in "${services[@]}"; do start_one "$s"; done ;;
  stop)
    for (( i = ${#services[@]} - 1; i >= 0; i-- )); do stop_one "${services[i]}"; done ;;
  status)
    rc=0; for s in "${services[@]}"; do status_one "$s" || rc=3; done; exit $rc ;;
  *) echo "usage: $0 start|stop|status [${ALL[*]// /|} ...]" >&2; exit 2 ;;
esac
