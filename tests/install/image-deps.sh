#!/bin/sh
# make image-deps: what building and running the OCI images needs on
# Debian 12 without a Docker engine: podman, buildah, runc, catatonit (the
# pause process of podman kube play's pods) and debootstrap;
# the settings this kind of machine needs (containers.conf: no default
# ulimits, which runc cannot raise here); and a local
# debian:bookworm-slim base image made by debootstrap from the machine's
# own Debian mirror, since no registry may be reachable. Safe to run again:
# each step runs only when its result is missing. Run as root.
set -eu
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
# podman import names it localhost/debian:bookworm-slim; FROM debian:bookworm-slim
# finds it there with --pull=never
BASE=localhost/debian:bookworm-slim

missing=
for p in podman buildah runc catatonit debootstrap; do
	dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
if [ -n "$missing" ]; then
	echo "image-deps: installing$missing"
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
	    --no-install-recommends $missing
fi

conf=/etc/containers/containers.conf
if ! grep -q '^default_ulimits' "$conf" 2>/dev/null; then
	echo "image-deps: $conf: default_ulimits = [] (runc cannot raise RLIMIT_NOFILE here)"
	$SUDO mkdir -p /etc/containers
	if grep -q '^\[containers\]' "$conf" 2>/dev/null; then
		$SUDO sed -i 's/^\[containers\]$/[containers]\ndefault_ulimits = []/' "$conf"
	else
		printf '[containers]\ndefault_ulimits = []\n' | $SUDO tee -a "$conf" >/dev/null
	fi
fi

# This machine's kernel offers no overlay storage and a hybrid cgroup
# layout crun refuses: vfs storage, runc with cgroupfs, chroot isolation
# for builds, set once so that plain podman and buildah commands work.
st=/etc/containers/storage.conf
if [ ! -e "$st" ]; then
	echo "image-deps: $st: driver vfs"
	printf '[storage]\ndriver = "vfs"\nrunroot = "/run/containers/storage"\ngraphroot = "/var/lib/containers/storage"\n' |
	    $SUDO tee "$st" >/dev/null
fi
if ! grep -q '^runtime' "$conf"; then
	echo "image-deps: $conf: runc with cgroupfs"
	printf '[engine]\nruntime = "runc"\ncgroup_manager = "cgroupfs"\n' | $SUDO tee -a "$conf" >/dev/null
fi
if ! grep -q '^BUILDAH_ISOLATION' /etc/environment 2>/dev/null; then
	echo 'BUILDAH_ISOLATION=chroot' | $SUDO tee -a /etc/environment >/dev/null
fi

if ! $SUDO podman --storage-driver vfs image exists "$BASE"; then
	# the machine's own Debian mirror, as apt is configured
	mirror=$(sed -n 's/^URIs: *\([^ ]*\).*/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null |
	    grep -v security | head -n 1)
	[ -n "$mirror" ] || mirror=$(sed -n 's/^deb \([^ ]*\) bookworm .*/\1/p' /etc/apt/sources.list 2>/dev/null | head -n 1)
	[ -n "$mirror" ] || { echo "image-deps: no Debian mirror in apt's sources" >&2; exit 1; }
	root=$(mktemp -d)
	trap '$SUDO rm -rf "$root"' EXIT
	echo "image-deps: making $BASE with debootstrap (about a minute)"
	$SUDO debootstrap --variant=minbase bookworm "$root" "$mirror" >/dev/null
	# the image's apt uses the same mirror
	$SUDO rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
	$SUDO tar -C "$root" -c . | $SUDO podman --storage-driver vfs import --quiet - "$BASE" >/dev/null
fi
echo "image-deps: ready"
