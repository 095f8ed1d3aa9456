#!/usr/bin/env bash
# Read throughput of a fully cached image (peer issue): fio sequential 1 MiB and random 4 KiB reads on
#   p2pdist's FUSE mount (every chunk already in the chunk cache)  vs  squashfuse on a squashfs of the same
#   tree  vs  the same tree on tmpfs, in one run. The kernel page cache is dropped before every job
#   (invalidate=1), so each job measures the file system, not the page cache.
set -euo pipefail
cd "$(dirname "$0")/.."
deploy/scripts/install-host-packages.sh >/dev/null
command -v squashfuse >/dev/null || apt-get install -y -qq squashfuse >/dev/null
[ -x artifacts/bin/p2pdist ] || deploy/scripts/build.sh >/dev/null
p2pdist=$PWD/artifacts/bin/p2pdist
work=$(mktemp -d /tmp/p2pdist-fio.XXXXXX)
reg_pid="" peer_pid="" peer2_pid=""
cleanup() {
  umount -l "$work/rafs" "$work/rafs-fuse" "$work/sqfs" "$work/tmpfs" 2>/dev/null || true
  [ -n "$peer_pid" ] && kill "$peer_pid" 2>/dev/null
  [ -n "$peer2_pid" ] && kill "$peer2_pid" 2>/dev/null
  [ -n "$reg_pid" ] && kill "$reg_pid" 2>/dev/null
  sleep 1; rm -rf "$work"
}
trap cleanup EXIT
size_mb=${SIZE_MB:-256}
runtime=${RUNTIME:-10}

mkdir -p "$work/tree" "$work/rafs" "$work/rafs-fuse" "$work/sqfs" "$work/tmpfs"
for i in 1 2; do head -c $((size_mb / 2))M /dev/urandom | base64 -w 100 | head -c $((size_mb / 2 * 1024 * 1024)) > "$work/tree/file$i" || true; done
deploy/scripts/make-oci-layout.sh "$work/tree" "$work/oci" v1 >/dev/null
port=$(( 20000 + RANDOM % 20000 ))
sed -e "s|@ROOT@|$work/registry|" -e "s|@ADDR@|127.0.0.1:$port|" deploy/registry/config.yml > "$work/registry.yml"
docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 & reg_pid=$!
for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
$p2pdist image convert "oci:$work/oci:v1" "127.0.0.1:$port/fio:rafs" --plain-http >/dev/null
$p2pdist peer --data-dir "$work/peer" >"$work/peer.log" 2>&1 & peer_pid=$!
for _ in $(seq 1 100); do [ -S "$work/peer/peer.sock" ] && break; sleep 0.1; done
$p2pdist mount "127.0.0.1:$port/fio:rafs" "$work/rafs" --data-dir "$work/peer" --plain-http >/dev/null
cat "$work/rafs"/file* > /dev/null   # fill the chunk cache
# The next opens ask for passthrough copies, made in the background; wait (bounded) until both files have one.
for _ in $(seq 1 300); do
  cat "$work/rafs"/file* > /dev/null
  [ "$($p2pdist mounts --data-dir "$work/peer" | awk 'NR == 2 {print $(NF - 1)}')" -ge 2 ] && break
  sleep 0.1
done
# The same image on a second peer with passthrough off: every read goes through the daemon.
P2PDIST_PASSTHROUGH=false $p2pdist peer --data-dir "$work/peer2" --metrics-listen off >"$work/peer2.log" 2>&1 & peer2_pid=$!
for _ in $(seq 1 100); do [ -S "$work/peer2/peer.sock" ] && break; sleep 0.1; done
$p2pdist mount "127.0.0.1:$port/fio:rafs" "$work/rafs-fuse" --data-dir "$work/peer2" --plain-http >/dev/null
cat "$work/rafs-fuse"/file* > /dev/null
mksquashfs "$work/tree" "$work/tree.sqfs" -comp zstd -noappend -quiet >/dev/null
squashfuse "$work/tree.sqfs" "$work/sqfs"
mount -t tmpfs -o size=$((size_mb * 2))m tmpfs "$work/tmpfs" && cp "$work/tree"/file* "$work/tmpfs/"

job() { # dir rw bs [direct]
  fio --name=bench --directory="$1" --filename=file1:file2 --rw="$2" --bs="$3" --size=$((size_mb / 2))m --readonly --direct="${4:-0}" \
      --ioengine=psync --numjobs=2 --invalidate=1 --time_based --runtime="$runtime" --group_reporting --output-format=json 2>/dev/null \
    | grep -E '"(iops|bw)"' | head -n 2 | tr -d ' ,' | tr '\n' ' '
}
echo "## FUSE read throughput, fully cached image ($(date -u +%F), $(nproc) cores, ${size_mb} MiB in 2 files, fio psync, 2 jobs, ${runtime} s each, page cache dropped per job)"
echo
echo "| file system | random 4 KiB reads/s (buffered) | sequential 1 MiB MB/s (buffered) | random 4 KiB reads/s (O_DIRECT: every read reaches the file system) |"
echo "|---|---|---|---|"
# rafs: p2pdist with passthrough (fully cached files are read by the kernel from a backing file);
# rafs-fuse: p2pdist with passthrough off (every page-cache miss is a FUSE READ to the daemon).
for fs in rafs rafs-fuse sqfs tmpfs; do
  rand=$(job "$work/$fs" randread 4k); seq=$(job "$work/$fs" read 1m); direct=$(job "$work/$fs" randread 4k 1 || true)
  riops=$(echo "$rand" | sed -E 's/.*"iops":([0-9.]+).*/\1/'); sbw=$(echo "$seq" | sed -E 's/.*"bw":([0-9]+).*/\1/')
  diops=$(echo "$direct" | sed -nE 's/.*"iops":([0-9.]+).*/\1/p'); diops=${diops:-0}
  printf '| %s | %.0f | %.0f | %.0f |\n' "$fs" "$riops" "$(awk "BEGIN{print $sbw*1024/1e6}")" "$diops"
done
