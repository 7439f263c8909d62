#!/usr/bin/env bash
# What CI runs: setup, a Docker daemon and the base image, then vitest.
# Arguments go to vitest. Integration tests start their own nats-server and
# etcd on free ports (test/support/servers.ts), so only Docker is needed here.
# A dockerd started by this script is stopped again when it ends.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO"

bash scripts/setup.sh

started_dockerd=
if ! docker_ok >/dev/null 2>&1; then
  bash scripts/servers.sh start dockerd
  started_dockerd=1
fi
cleanup() { if [[ -n "$started_dockerd" ]]; then bash scripts/servers.sh stop dockerd || true; fi; }
trap cleanup EXIT

bash scripts/base-image.sh

log "running vitest $*"
mkdir -p "$STATE"
summary="$STATE/vitest-summary.json"
rm -f "$summary"
rc=0
npx --no-install vitest run --reporter=default --reporter=json --outputFile.json="$summary" "$@" || rc=$?
log "vitest exited with $rc"
# One plain closing line with the counts, whatever reporter is on screen.
if [[ -s "$summary" ]]; then
  node -e '
    const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    const skipped = (r.numPendingTests || 0) + (r.numTodoTests || 0);
    console.log(`vitest: ${r.numPassedTests} passed, ${r.numFailedTests} failed` + (skipped ? `, ${skipped} skipped` : ""));
  ' "$summary"
fi
exit "$rc"
