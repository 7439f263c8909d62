#!/usr/bin/env bash
# npm run up: install what is missing, start nats-server, etcd and (if needed)
# dockerd, and make sure the base image exists.
set -euo pipefail
dir="$(dirname "${BASH_SOURCE[0]}")"
bash "$dir/setup.sh"
bash "$dir/servers.sh" start
bash "$dir/base-image.sh"
