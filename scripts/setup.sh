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

# The real clients driven by test/integration/clients.test.ts (Debian bookworm:
# python3-openstackclient 6.0.0, python3-zunclient 4.5.0).
if ! command -v openstack >/dev/null 2>&1 || ! command -v zun >/dev/null 2>&1; then
  [[ $EUID -eq 0 ]] || die "openstack or zun missing; run as root to install python3-openstackclient python3-zunclient"
  log "installing python3-openstackclient python3-zunclient"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq python3-openstackclient python3-zunclient >/dev/null
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
