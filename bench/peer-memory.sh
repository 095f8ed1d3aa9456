#!/usr/bin/env bash
# Peer daemon memory (peer issue): RSS idle, with 10 images mounted (each with a file read), and after a
# restart over a 10 GiB chunk cache (10,240 chunk files of 1 MiB; sparse, since only the index is measured).
set -euo pipefail
cd "$(dirname "$0")/.."
deploy/scripts/install-host-packages.sh >/dev/null
[ -x artifacts/bin/p2pdist ] || deploy/scripts/build.sh >/dev/null
p2pdist=$PWD/artifacts/bin/p2pdist
work=$(mktemp -d /tmp/p2pdist-mem.XXXXXX)
reg_pid="" peer_pid=""
cleanup() {
  for m in "$work"/mnt*; do umount -l "$m" 2>/dev/null || true; done
  [ -n "$peer_pid" ] && kill "$peer_pid" 2>/dev/null
  [ -n "$reg_pid" ] && kill "$reg_pid" 2>/dev/null
  sleep 1; rm -rf "$work"
}
trap cleanup EXIT
rss() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
start_peer() {
  $p2pdist peer --data-dir "$work/peer" >>"$work/peer.log" 2>&1 & peer_pid=$!
  for _ in $(seq 1 100); do [ -S "$work/peer/peer.sock" ] && $p2pdist mounts --data-dir "$work/peer" >/dev/null 2>&1 && break; sleep 0.1; done
}

tarball=$(deploy/scripts/debian-rootfs.sh /var/cache/p2pdist-tests)
mkdir -p "$work/tree"
tar --xattrs --xattrs-include='*' --numeric-owner -C "$work/tree" -xf "$tarball"
port=$(( 20000 + RANDOM % 20000 ))
r=127.0.0.1:$port
sed -e "s|@ROOT@|$work/registry|" -e "s|@ADDR@|$r|" deploy/registry/config.yml > "$work/registry.yml"
docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 & reg_pid=$!
for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
for i in $(seq 1 10); do
  echo "image $i" > "$work/tree/etc/image-id"   # ten distinct images of ~6,700 inodes each
  deploy/scripts/make-oci-layout.sh "$work/tree" "$work/oci$i" v1 >/dev/null
  $p2pdist image convert "oci:$work/oci$i:v1" "$r/app$i:rafs" --plain-http >/dev/null
done

start_peer
sleep 1
idle=$(rss $peer_pid)
for i in $(seq 1 10); do
  mkdir -p "$work/mnt$i"
  $p2pdist mount "$r/app$i:rafs" "$work/mnt$i" --data-dir "$work/peer" --plain-http >/dev/null
  cat "$work/mnt$i/etc/image-id" "$work/mnt$i/usr/bin/perl" > /dev/null
done
sleep 1
mounted=$(rss $peer_pid)
for i in $(seq 1 10); do $p2pdist umount "$work/mnt$i" --data-dir "$work/peer" >/dev/null; done
kill "$peer_pid"; wait "$peer_pid" 2>/dev/null || true
rm -f "$work/peer/mounts.json"
chunks="$work/peer/cache/chunks"
for i in $(seq 1 10240); do
  hex=$(printf '%064x' "$i")
  mkdir -p "$chunks/${hex:0:2}"
  truncate -s 1M "$chunks/${hex:0:2}/blake3-$hex"
done
start_peer
sleep 1
cache=$(rss $peer_pid)
echo "## Peer daemon memory ($(date -u +%F), same run)"
echo
echo "| state | RSS |"
echo "|---|---|"
echo "| idle, empty cache | $((idle / 1024)) MiB |"
echo "| 10 images mounted (6,700 inodes each), a file read in each | $((mounted / 1024)) MiB |"
echo "| restarted over a 10 GiB cache (10,240 chunks indexed), no mounts | $((cache / 1024)) MiB |"
