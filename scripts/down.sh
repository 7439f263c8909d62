#!/usr/bin/env bash
# npm run down: stop the servers scripts/servers.sh started (data is kept).
set -euo pipefail
exec bash "$(dirname "${BASH_SOURCE[0]}")/servers.sh" stop
