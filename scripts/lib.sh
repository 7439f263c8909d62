# Shared helpers for the scripts in this directory. Source it, don't run it:
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE="${ZUN_STATE_DIR:-$REPO/.data}"
RUN_DIR="$STATE/run"
LOG_DIR="$STATE/logs"
DOCKER_SOCK="${DOCKER_SOCK:-/var/run/docker.sock}"

log()  { printf '%s %s\n' "$(date '+%H:%M:%S')" "$*" >&2; }
warn() { log "WARN: $*"; }
die()  { log "ERROR: $*"; exit 1; }

# wait_for DESCRIPTION TIMEOUT_SECONDS COMMAND...
# Runs COMMAND every 0.2 s until it succeeds, printing a dot each second.
# Gives up at once when COMMAND returns 99 (e.g. "the process died"), and
# after TIMEOUT_SECONDS otherwise; both return 1.
wait_for() {
  local what="$1" timeout="$2"; shift 2
  local start=$EPOCHREALTIME deadline=$(( SECONDS + timeout )) ticks=0 rc
  printf '%s waiting for %s ' "$(date '+%H:%M:%S')" "$what" >&2
  while :; do
    rc=0; "$@" >/dev/null 2>&1 || rc=$?
    (( rc == 0 )) && break
    if (( rc == 99 )); then printf ' gave up: process exited\n' >&2; return 1; fi
    if (( SECONDS >= deadline )); then printf ' timed out after %ss\n' "$timeout" >&2; return 1; fi
    sleep 0.2
    if (( ++ticks % 5 == 0 )); then printf '.' >&2; fi
  done
  printf ' done (%ss)\n' "$(awk -v a="$EPOCHREALTIME" -v b="$start" 'BEGIN { printf "%.1f", a - b }')" >&2
}

# http_ok URL [UNIX_SOCKET]: succeeds when a GET answers 2xx.
# Uses curl when installed, otherwise node (always present here).
http_ok() {
  local url="$1" sock="${2:-}"
  if command -v curl >/dev/null 2>&1; then
    curl -fsS --max-time 2 ${sock:+--unix-socket "$sock"} "$url" >/dev/null
  else
    node -e '
      const [url, sock] = process.argv.slice(1);
      const u = new URL(url);
      require("http").get({ host: u.hostname, port: u.port, path: u.pathname + u.search,
          socketPath: sock || undefined, timeout: 2000 },
        (res) => process.exit(res.statusCode >= 200 && res.statusCode < 300 ? 0 : 1))
        .on("error", () => process.exit(1)).on("timeout", () => process.exit(1));' "$url" "$sock"
  fi
}

docker_ok() { http_ok "http://localhost/_ping" "$DOCKER_SOCK"; }

# pid_alive PIDFILE NAME: the pid file names a live (not zombie) process whose
# command is NAME; the name check guards against a recycled pid.
pid_alive() {
  local pidfile="$1" name="$2" pid
  [[ -s "$pidfile" ]] || return 1
  pid="$(<"$pidfile")"
  proc_running "$pid" && [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == "$name" ]]
}

# proc_running PID: the process exists and is not a zombie
proc_running() {
  [[ "$1" =~ ^[0-9]+$ && -d "/proc/$1" ]] &&
    ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null
}
