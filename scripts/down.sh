#!/usr/bin/env bash
# Stops the services, then the servers scripts/servers.sh started (data is kept).
set -euo pipefail
dir="$(dirname "${BASH_SOURCE[0]}")"
bash "$dir/services.sh" stop
bash "$dir/servers.sh" stop
