#!/usr/bin/env bash
# Build the base image (default zun-base:latest) from Debian's busybox-static
# when it is missing: there is no public registry here. The rootfs holds
# /bin/busybox plus a symlink per applet. Needs a running Docker daemon.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

IMAGE="${1:-zun-base:latest}"
BUSYBOX=/bin/busybox

docker_ok >/dev/null 2>&1 || die "no Docker daemon answers on $DOCKER_SOCK (run scripts/servers.sh start dockerd)"
if docker image inspect "$IMAGE" >/dev/null 2>&1; then
  log "image $IMAGE present"
  exit 0
fi
[[ -x "$BUSYBOX" ]] || die "$BUSYBOX missing (run scripts/setup.sh)"

rootfs="$(mktemp -d)"
trap 'rm -rf "$rootfs"' EXIT
mkdir -p "$rootfs"/{bin,tmp,etc,root,proc,sys,dev}
chmod 1777 "$rootfs/tmp"
cp "$BUSYBOX" "$rootfs/bin/busybox"
for applet in $("$BUSYBOX" --list); do
  [[ "$applet" == busybox ]] || ln -sf busybox "$rootfs/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$rootfs/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$rootfs/etc/group"

log "importing $IMAGE ($(ls "$rootfs/bin" | wc -l) files in /bin)"
tar -C "$rootfs" --numeric-owner -c . |
  docker import --change 'ENV PATH=/bin' --change 'CMD ["sh"]' - "$IMAGE" >/dev/null
log "built $IMAGE"
