#!/bin/sh
# Starts a Docker engine on a machine without systemd (CI runners, these dev VMs) if none answers.
# vfs storage and no iptables/bridge: works inside an unprivileged-ish VM; builds and runs use
# --network host, so the missing bridge is not a limitation here.
set -eu
if docker info >/dev/null 2>&1; then
  exit 0
fi
command -v dockerd >/dev/null 2>&1 || {
  echo "installing Debian docker.io"
  SUDO=$( [ "$(id -u)" = 0 ] || echo sudo )
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq docker.io >/dev/null
}
LOG=${DOCKERD_LOG:-/tmp/dockerd.log}
echo "starting dockerd (log: $LOG)"
SUDO=$( [ "$(id -u)" = 0 ] || echo sudo )
$SUDO sh -c "nohup dockerd --storage-driver=vfs --iptables=false --bridge=none >'$LOG' 2>&1 &"
i=0
until docker info >/dev/null 2>&1; do
  i=$((i + 1))
  if [ "$i" -gt 60 ]; then
    echo "dockerd did not answer within 30 s; see $LOG" >&2
    exit 1
  fi
  sleep 0.5
done
