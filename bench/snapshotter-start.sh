#!/usr/bin/env bash
# Container start through containerd (containerd issue): from the start of the pull to the end of the
# container's first command (`cat /etc/debian_version`: its first output is its last), cold, median of 3, for
#   overlayfs:   ctr image pull (full download and unpack) + ctr run            (containerd's default path)
#   --rootfs:    p2pdist mount --container-root + an overlay on it + ctr run --rootfs   (the path before the snapshotter)
#   snapshotter: p2pdist image pull (lazy) + ctr run --snapshotter p2pdist      (this issue's path)
# and then a second node: two peers with a supernode, each containerd's snapshotter (p2pdist, p2pdist-b), the
# container reading 64 MB of the image; node B starts it after node A did, so B's chunks come from A.
# The registry's egress is limited on loopback with tc (htb on its source port) at 100 Mbit/s and 1 Gbit/s.
# Cold: a fresh peer data dir (empty cache) and containerd's image, content and snapshots removed before each run.
# Usage: bench/snapshotter-start.sh   (PAYLOAD_MB=256 by default: Debian minbase plus that much application data)
set -euo pipefail
cd "$(dirname "$0")/.."
deploy/scripts/install-host-packages.sh >/dev/null
[ -x artifacts/bin/p2pdist ] || deploy/scripts/build.sh >/dev/null
p2pdist=$PWD/artifacts/bin/p2pdist
work=$(mktemp -d /tmp/p2pdist-snapbench.XXXXXX)
run=/run/p2pdist-snapbench-$$
mkdir -p "$run"
reg_pid="" peer_pid="" peer_b_pid="" sn_pid="" ctrd_pid=""
cleanup() {
  tc qdisc del dev lo root 2>/dev/null || true
  [ -n "$ctrd_pid" ] && { ctr --address "$run/containerd.sock" task ls -q 2>/dev/null | xargs -r -n1 ctr --address "$run/containerd.sock" task kill -s KILL 2>/dev/null; kill "$ctrd_pid" 2>/dev/null; }
  [ -n "$peer_pid" ] && kill "$peer_pid" 2>/dev/null
  [ -n "$peer_b_pid" ] && kill "$peer_b_pid" 2>/dev/null
  [ -n "$sn_pid" ] && kill "$sn_pid" 2>/dev/null
  [ -n "$reg_pid" ] && kill "$reg_pid" 2>/dev/null
  wait 2>/dev/null || true
  grep -oE " ($work|$run)[^ ]*" /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf "$work" "$run"
}
trap cleanup EXIT
payload_mb=${PAYLOAD_MB:-256}

tarball=$(deploy/scripts/debian-rootfs.sh /var/cache/p2pdist-tests)
mkdir -p "$work/tree/opt/payload"
tar --xattrs --xattrs-include='*' --numeric-owner -C "$work/tree" -xf "$tarball"
for i in $(seq 1 $((payload_mb / 32))); do head -c 32M /dev/urandom > "$work/tree/opt/payload/part-$i.bin"; done
deploy/scripts/make-oci-layout.sh "$work/tree" "$work/oci" v1 >/dev/null
port=$(( 20000 + RANDOM % 20000 ))
r=127.0.0.1:$port
sed -e "s|@ROOT@|$work/registry|" -e "s|@ADDR@|$r|" deploy/registry/config.yml > "$work/registry.yml"
docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 & reg_pid=$!
for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done

# The plain OCI image (the overlayfs baseline), pushed with the distribution API; then its Rafs conversion.
push_blob() { # file
  local digest location
  digest="sha256:$(sha256sum "$1" | cut -d' ' -f1)"
  location=$(curl -sf -X POST -D - "http://$r/v2/app/blobs/uploads/" -o /dev/null | tr -d '\r' | sed -n 's/^Location: //ip')
  case "$location" in http*) ;; *) location="http://$r$location" ;; esac
  curl -sf -X PUT -H 'Content-Type: application/octet-stream' --data-binary "@$1" "$location&digest=$digest" -o /dev/null
}
for blob in "$work/oci/blobs/sha256"/*; do push_blob "$blob"; done
manifest=$(sed -E 's/.*"digest":"(sha256:[0-9a-f]+)".*/\1/' "$work/oci/index.json")
curl -sf -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' --data-binary "@$work/oci/blobs/sha256/${manifest#sha256:}" "http://$r/v2/app/manifests/v1" -o /dev/null
$p2pdist image convert "$r/app:v1" "$r/app:v1-rafs" --plain-http >/dev/null
plain=$r/app:v1 rafs=$r/app:v1-rafs

start_peer() { # [flags for a swarm]
  [ -n "$peer_pid" ] && { kill "$peer_pid"; wait "$peer_pid" 2>/dev/null || true; }
  rm -rf "$work/peer"
  $p2pdist peer --data-dir "$work/peer" --metrics-listen off "$@" >>"$work/peer.log" 2>&1 & peer_pid=$!
  for _ in $(seq 1 300); do [ -S "$work/peer/snapshotter.sock" ] && break; sleep 0.1; done
}
start_peer_b() { # flags for a swarm
  [ -n "$peer_b_pid" ] && { kill "$peer_b_pid"; wait "$peer_b_pid" 2>/dev/null || true; }
  rm -rf "$work/peer-b"
  $p2pdist peer --data-dir "$work/peer-b" --metrics-listen off "$@" >>"$work/peer-b.log" 2>&1 & peer_b_pid=$!
  for _ in $(seq 1 300); do [ -S "$work/peer-b/snapshotter.sock" ] && break; sleep 0.1; done
}
start_peer
cat > "$work/containerd.toml" <<TOML
version = 2
root = "$work/containerd"
state = "$run/state"
[grpc]
  address = "$run/containerd.sock"
[ttrpc]
  address = "$run/containerd.sock.ttrpc"
[proxy_plugins.p2pdist]
  type = "snapshot"
  address = "$work/peer/snapshotter.sock"
[proxy_plugins.p2pdist-b]
  type = "snapshot"
  address = "$work/peer-b/snapshotter.sock"
TOML
containerd --config "$work/containerd.toml" >"$work/containerd.log" 2>&1 & ctrd_pid=$!
c() { ctr --address "$run/containerd.sock" "$@"; }
for _ in $(seq 1 300); do c version >/dev/null 2>&1 && break; sleep 0.1; done
# containerd redials a restarted proxy plugin with a backoff: this waits until a call reaches the new peer.
snapshotter_ready() { # id [snapshotter]
  local sn=${2:-p2pdist}
  for _ in $(seq 1 300); do c snapshots --snapshotter "$sn" prepare "probe-$1" "" >/dev/null 2>&1 && { c snapshots --snapshotter "$sn" rm "probe-$1"; return; }; sleep 0.1; done
  echo "snapshotter $sn not reachable" >&2; exit 1
}

limit() { # rate
  tc qdisc del dev lo root 2>/dev/null || true
  tc qdisc add dev lo root handle 1: htb default 99
  tc class add dev lo parent 1: classid 1:1 htb rate "$1" ceil "$1" 2>/dev/null
  tc filter add dev lo protocol ip parent 1: prio 1 u32 match ip sport "$port" 0xffff flowid 1:1
}
now() { date +%s.%N; }
since() { awk "BEGIN{printf \"%.2f\", $(now) - $1}"; }
median() { printf '%s\n' "$@" | sort -n | sed -n 2p; }
cmd=(/bin/cat /etc/debian_version)
forget_images() { c images rm --sync "$plain" "$rafs" >/dev/null 2>&1 || true; c content ls -q | xargs -r -n1 ctr --address "$run/containerd.sock" content rm >/dev/null 2>&1 || true; }

# Each run sets $elapsed (not printed: a $(...) subshell would lose the peer it starts).
overlayfs_run() { # id
  forget_images
  local t0; t0=$(now)
  c images pull --plain-http "$plain" >/dev/null
  c run --rm "$plain" "$1" "${cmd[@]}" >/dev/null
  elapsed=$(since "$t0")
}
rootfs_run() { # id
  start_peer
  local t0; t0=$(now)
  $p2pdist mount "$rafs" "$1" --container-root --plain-http --data-dir "$work/peer" >/dev/null
  mkdir -p "$work/ov-$1"/{upper,work,root}
  mount -t overlay overlay -o "lowerdir=$work/peer/roots/$1,upperdir=$work/ov-$1/upper,workdir=$work/ov-$1/work" "$work/ov-$1/root"
  c run --rm --rootfs "$work/ov-$1/root" "$1" "${cmd[@]}" >/dev/null
  elapsed=$(since "$t0")
  umount "$work/ov-$1/root"; $p2pdist umount "$work/peer/roots/$1" --data-dir "$work/peer" >/dev/null
}
snapshotter_run() { # id
  forget_images
  start_peer
  snapshotter_ready "$1"
  local t0; t0=$(now)
  $p2pdist image pull --address "$run/containerd.sock" --plain-http "$rafs" >/dev/null
  c run --rm --snapshotter p2pdist "$rafs" "$1" "${cmd[@]}" >/dev/null
  elapsed=$(since "$t0")
}

echo "## Container start through containerd ($(date -u +%F), $(nproc) cores, Debian minbase + ${payload_mb} MB payload, registry egress limited with tc, cold, median of 3)"
echo
echo "| link | overlayfs (ctr image pull + run) | p2pdist --rootfs (mount + overlay + ctr run --rootfs) | p2pdist snapshotter (image pull + ctr run) | snapshotter / --rootfs | snapshotter / overlayfs |"
echo "|---|---|---|---|---|---|"
for rate in 100mbit 1gbit; do
  limit "$rate"
  o=() f=() s=()
  for i in 1 2 3; do
    overlayfs_run "o-$rate-$i"; o+=("$elapsed")
    rootfs_run "f-$rate-$i"; f+=("$elapsed")
    snapshotter_run "s-$rate-$i"; s+=("$elapsed")
  done
  mo=$(median "${o[@]}") mf=$(median "${f[@]}") ms=$(median "${s[@]}")
  echo "| $rate | ${mo} s (${o[*]}) | ${mf} s (${f[*]}) | ${ms} s (${s[*]}) | $(awk "BEGIN{printf \"%.2f\", $ms/$mf}")x | $(awk "BEGIN{printf \"%.2f\", $ms/$mo}")x |"
done

# A second node: A pulls and runs first (its chunks from the origin), then B (its chunks from A).
reads=(/bin/sh -c 'cat /opt/payload/part-1.bin /opt/payload/part-2.bin >/dev/null; cat /etc/debian_version')
sn=127.0.0.1:$(( port + 1 ))
node_run() { # id snapshotter
  local t0; t0=$(now)
  $p2pdist image pull --address "$run/containerd.sock" --snapshotter "$2" --plain-http "$rafs" >/dev/null
  c run --rm --snapshotter "$2" "$rafs" "$1" "${reads[@]}" >/dev/null
  elapsed=$(since "$t0")
}
echo
echo "| link | node A, first (chunks from the origin) | node B, after A (chunks from A) | B / A |"
echo "|---|---|---|---|"
for rate in 100mbit 1gbit; do
  limit "$rate"
  a=() b=()
  for i in 1 2 3; do
    forget_images
    [ -n "$sn_pid" ] && { kill "$sn_pid"; wait "$sn_pid" 2>/dev/null || true; }
    $p2pdist supernode --listen "$sn" --insecure >>"$work/supernode.log" 2>&1 & sn_pid=$!
    for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/${sn#*:}") 2>/dev/null && break; sleep 0.1; done
    start_peer --supernode "$sn" --listen "127.0.3.1:$(( port + 2 ))" --insecure
    start_peer_b --supernode "$sn" --listen "127.0.3.2:$(( port + 2 ))" --insecure
    snapshotter_ready "a-$rate-$i" p2pdist
    snapshotter_ready "b-$rate-$i" p2pdist-b
    node_run "na-$rate-$i" p2pdist; a+=("$elapsed")
    node_run "nb-$rate-$i" p2pdist-b; b+=("$elapsed")
  done
  ma=$(median "${a[@]}") mb=$(median "${b[@]}")
  echo "| $rate | ${ma} s (${a[*]}) | ${mb} s (${b[*]}) | $(awk "BEGIN{printf \"%.2f\", $mb/$ma}")x |"
done
