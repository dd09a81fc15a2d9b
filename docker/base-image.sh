#!/bin/sh
# Makes the base image locally when no registry is reachable: a debootstrap of Debian bookworm
# (Debian's own packages, so only the Debian mirror is needed), imported with `docker import`.
# Idempotent: an existing image of that name is reused. Usage: docker/base-image.sh [name:tag]
set -eu
IMAGE=${1:-iomwatch-base:bookworm}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
ROOTFS=${BASE_ROOTFS:-build/base-rootfs}
if docker image inspect "$IMAGE" >/dev/null 2>&1; then
  echo "base image $IMAGE present, reused"
  exit 0
fi
command -v debootstrap >/dev/null 2>&1 || {
  SUDO=$( [ "$(id -u)" = 0 ] || echo sudo )
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq debootstrap >/dev/null
}
SUDO=$( [ "$(id -u)" = 0 ] || echo sudo )
$SUDO rm -rf "$ROOTFS"
mkdir -p "$(dirname "$ROOTFS")"
echo "debootstrap bookworm into $ROOTFS (a few minutes)"
# python3-venv: the Dockerfile installs into a venv (Debian's python is externally managed);
# tini and ca-certificates are also installed by the Dockerfile, listed here to save a layer.
$SUDO debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates,tini \
  bookworm "$ROOTFS" "$MIRROR" >build/debootstrap.log 2>&1 || {
  tail -20 build/debootstrap.log >&2
  exit 1
}
# Security and point-release updates, as the official images have them.
$SUDO sh -c "cat >'$ROOTFS/etc/apt/sources.list'" <<SOURCES
deb $MIRROR bookworm main
deb $MIRROR bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
SOURCES
# What a container never needs: package caches, docs, man pages, foreign locales.
$SUDO rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/lib/apt/lists/* \
  "$ROOTFS"/usr/share/doc/* "$ROOTFS"/usr/share/man/* "$ROOTFS"/usr/share/info/*
$SUDO tar -C "$ROOTFS" -c . | docker import \
  --change 'ENV LANG=C.UTF-8' \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'CMD ["/bin/bash"]' - "$IMAGE" >/dev/null
$SUDO rm -rf "$ROOTFS"
echo "base image $IMAGE imported"
