#!/usr/bin/env bash
# numpy-rootfs.sh CACHE_DIR
# Prints the path of a Debian bookworm root file system with python3, numpy and scipy (the cold-start
# workload's image), building it once with debootstrap from the machine's Debian mirror and caching it.
set -euo pipefail
cache=$1
tarball="$cache/debian-bookworm-numpy.tar"
if [ -s "$tarball" ]; then
  echo "$tarball"
  exit 0
fi
mkdir -p "$cache"
mirror=$( { grep -hE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}'; \
  grep -hE '^deb ' /etc/apt/sources.list 2>/dev/null | awk '{print $2}'; } | grep -v security | head -n1 || true)
mirror=${mirror:-http://deb.debian.org/debian}
root=$(mktemp -d "$cache/numpy-rootfs.XXXXXX")
trap 'rm -rf "$root"' EXIT
debootstrap --variant=minbase --include=python3,python3-numpy,python3-scipy bookworm "$root" "$mirror" \
  >"$cache/numpy-debootstrap.log" 2>&1 || {
  echo "debootstrap failed; see $cache/numpy-debootstrap.log" >&2
  tail -n 20 "$cache/numpy-debootstrap.log" >&2
  exit 1
}
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/var/log/*
chmod 0755 "$root"
tar --xattrs --xattrs-include='*' --numeric-owner --sort=name -C "$root" -cf "$tarball.partial" .
mv "$tarball.partial" "$tarball"
echo "$tarball"
