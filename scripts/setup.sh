#!/usr/bin/env bash
# Install what the project needs on Debian bookworm (as root): the server
# packages from apt, and node_modules from package-lock.json. Idempotent and
# quick when everything is already present.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

APT_PACKAGES=(docker.io nats-server etcd-server etcd-client busybox-static)
BINARIES=(dockerd docker containerd nats-server etcd etcdctl)

missing=()
for b in "${BINARIES[@]}"; do command -v "$b" >/dev/null 2>&1 || missing+=("$b"); done
[[ -x /bin/busybox ]] || missing+=(/bin/busybox)

if (( ${#missing[@]} )); then
  [[ $EUID -eq 0 ]] || die "missing ${missing[*]}; run as root to install ${APT_PACKAGES[*]}"
  log "missing ${missing[*]}: installing ${APT_PACKAGES[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${APT_PACKAGES[@]}" >/dev/null
  log "apt packages installed"
else
  log "apt packages present"
fi

cd "$REPO"
if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
  log "running npm ci"
  npm ci --no-audit --no-fund
else
  log "node_modules up to date"
fi

mkdir -p "$RUN_DIR" "$LOG_DIR"
log "setup done (state dir $STATE)"
