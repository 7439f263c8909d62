#!/usr/bin/env bash
# The one command for a fresh machine: install what is missing, start
# nats-server, etcd and (if needed) dockerd, build the base image, start the
# services (the control plane: gateway on :9517, projector and placement in one
# process; audit; one host actor; LAYOUT=separate: each its own), then run
# the main job: a container created through the Zun API until it runs in
# Docker (scripts/demo.ts). The system stays up; `npm run down` stops it.
#   bash scripts/up.sh [--keep]   (--keep: leave the demo container running)
set -euo pipefail
dir="$(dirname "${BASH_SOURCE[0]}")"
source "$dir/lib.sh"
bash "$dir/setup.sh"
bash "$dir/servers.sh" start
bash "$dir/base-image.sh"
bash "$dir/services.sh" start
log "system up: gateway http://${GATEWAY_HOST:-127.0.0.1}:${GATEWAY_PORT:-9517}/v1 ; logs in $LOG_DIR"
node --import tsx "$REPO/scripts/demo.ts" --gateway "http://${GATEWAY_HOST:-127.0.0.1}:${GATEWAY_PORT:-9517}" "$@"
port="${GATEWAY_PORT:-9517}"
cat >&2 <<MSG

The system is running. Use the stock clients (apt-get install python3-openstackclient python3-zunclient)
with the built-in identity (example users in etc/users.example.yaml):
  export OS_AUTH_URL=http://127.0.0.1:$port/identity/v3 OS_USERNAME=admin OS_PASSWORD=admin-pass \\
         OS_PROJECT_NAME=admin OS_USER_DOMAIN_NAME=Default OS_PROJECT_DOMAIN_NAME=Default
  openstack appcontainer run --name web --wait zun-base:latest sleep 3600
  openstack appcontainer list
  zun list
Stop everything with: bash scripts/down.sh
MSG
