#!/usr/bin/env bash
# debian-rootfs.sh CACHE_DIR [NAME PACKAGES]
# Prints the path of a Debian bookworm minbase root file system tarball, building it once with debootstrap
# from the machine's configured Debian mirror and caching it (a few minutes the first time). With NAME and
# PACKAGES (comma-separated), the tree also has those packages and is cached as debian-bookworm-NAME.tar
# (bench/cold-start.sh: numpy python3,python3-numpy,python3-scipy).
set -euo pipefail
cache=$1
name=${2:-minbase}
include=${3:+--include=$3}
tarball="$cache/debian-bookworm-$name.tar"
if [ -s "$tarball" ]; then
  echo "$tarball"
  exit 0
fi
mkdir -p "$cache"
mirror=$( { grep -hE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}'; \
  grep -hE '^deb ' /etc/apt/sources.list 2>/dev/null | awk '{print $2}'; } | grep -v security | head -n1 || true)
mirror=${mirror:-http://deb.debian.org/debian}
root=$(mktemp -d "$cache/rootfs.XXXXXX")
trap 'rm -rf "$root"' EXIT
debootstrap --variant=minbase $include bookworm "$root" "$mirror" >"$cache/debootstrap-$name.log" 2>&1 || {
  echo "debootstrap failed; see $cache/debootstrap-$name.log" >&2
  tail -n 20 "$cache/debootstrap-$name.log" >&2
  exit 1
}
# Package caches and logs are noise in an image; device nodes under /dev are kept (they are part of the test).
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/var/log/*
chmod 0755 "$root" # mktemp made it 0700; an image root is 0755
tar --xattrs --xattrs-include='*' --numeric-owner --sort=name -C "$root" -cf "$tarball.partial" .
mv "$tarball.partial" "$tarball"
echo "$tarball"
