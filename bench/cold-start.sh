#!/usr/bin/env bash
# Cold container start of a large image (the cold-start issue): from the start of the pull to the container's
# first output (`python3 -c 'import numpy; print(...)'`: its only output is its last), cold, median of RUNS,
# all through one containerd, same image, same registry and link, in one run:
#   overlayfs:       ctr image pull (full download and unpack) + ctr run              (containerd's default)
#   estargz:         ctr-remote image rpull --snapshotter stargz + ctr run             (the stargz snapshotter)
#   estargz-opt:     the same, image made by ctr-remote image optimize (prefetch landmarks from a real run)
#   p2pdist:         p2pdist image pull (lazy) + ctr run --snapshotter p2pdist, the converter's and peer's defaults
#   p2pdist-opt:     the same, image made by p2pdist image optimize (its prefetch table recorded from a real run)
# plus the registry bytes served until the first output (tc's byte counter on the registry's egress class).
# Then a chunk-size sweep of P2PDist at the first link: one conversion per size, the same runs, with the
# bootstrap and blob sizes of each conversion.
# Image: Debian bookworm with python3, numpy and scipy (deploy/scripts/debian-rootfs.sh), four gzip layers
# (everything else, /usr/lib/x86_64-linux-gnu, /usr/lib/python3.11, /usr/lib/python3), parent directory
# entries in every layer. Links: the registry's egress limited with tc (htb on its source port).
# Cold: containerd's image, content and snapshots removed, a fresh peer data dir and stargz root, page cache dropped.
# Usage: bench/cold-start.sh            (RUNS=3 LINKS="100mbit 1gbit" CHUNK_SIZES="128K 256K 512K 1M" by default)
# Needs ../shared/baselines/containerd-stargz/setup.sh (run here once to install and build the stargz daemon).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-3}
links=${LINKS:-100mbit 1gbit}
chunk_sizes=${CHUNK_SIZES-128K 256K 512K 1M}
baseline=../shared/baselines/containerd-stargz
deploy/scripts/install-host-packages.sh >/dev/null
[ -x /var/tmp/p2pbench/bin/containerd-stargz-grpc ] && command -v ctr-remote >/dev/null || {
  bash "$baseline/setup.sh" >/dev/null && bash "$baseline/teardown.sh" >/dev/null; }
stargz_bin=/var/tmp/p2pbench/bin/containerd-stargz-grpc
[ -x artifacts/bin/p2pdist ] || deploy/scripts/build.sh >/dev/null
p2pdist=$PWD/artifacts/bin/p2pdist
work=$(mktemp -d /var/tmp/p2pdist-coldstart.XXXXXX)
run=/run/p2pdist-coldstart-$$
mkdir -p "$run"
reg_pid="" peer_pid="" sgz_pid="" ctrd_pid=""
cleanup() {
  tc qdisc del dev lo root 2>/dev/null || true
  [ -n "$ctrd_pid" ] && { ctr --address "$run/containerd.sock" task ls -q 2>/dev/null | xargs -r -n1 ctr --address "$run/containerd.sock" task kill -s KILL 2>/dev/null; kill "$ctrd_pid" 2>/dev/null; }
  for pid in "$peer_pid" "$sgz_pid" "$reg_pid"; do [ -n "$pid" ] && kill "$pid" 2>/dev/null; done
  wait 2>/dev/null || true
  grep -oE " ($work|$run)[^ ]*" /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf "$work" "$run"
}
trap cleanup EXIT

# ---- the image, built once and cached
cache=/var/cache/p2pdist-bench
layout=$cache/numpy-oci
if [ ! -s "$layout/index.json" ]; then
  tarball=$(deploy/scripts/debian-rootfs.sh "$cache" numpy python3,python3-numpy,python3-scipy)
  mkdir -p "$work/tree"
  tar --xattrs --xattrs-include='*' --numeric-owner -C "$work/tree" -xf "$tarball"
  rm -rf "$layout.partial"
  bench/lib/layered-oci.sh "$work/tree" "$layout.partial" v1 ./usr/lib/x86_64-linux-gnu ./usr/lib/python3.11 ./usr/lib/python3 >/dev/null
  rm -rf "$work/tree" "$layout"
  mv "$layout.partial" "$layout"
fi

# ---- registry, containerd (p2pdist and stargz proxy snapshotters), stargz daemon
port=$(( 20000 + RANDOM % 20000 ))
r=127.0.0.1:$port
sed -e "s|@ROOT@|$work/registry|" -e "s|@ADDR@|$r|" deploy/registry/config.yml > "$work/registry.yml"
docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 & reg_pid=$!
for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
skopeo copy -q --dest-tls-verify=false "oci:$layout:v1" "docker://$r/numpy:v1"
plain=$r/numpy:v1

cat > "$work/stargz.toml" <<'TOML'
noprefetch = false
no_background_fetch = false
[blob]
  check_always = false
TOML
# Each run starts only its own daemon, fresh: the stargz daemon's background fetch of an earlier run must not
# share the link with (or be counted for) the next one.
stop_stargz() {
  [ -n "$sgz_pid" ] && { kill "$sgz_pid"; wait "$sgz_pid" 2>/dev/null || true; }
  sgz_pid=""
  grep -oE " $work/stargz[^ ]*" /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf "$work/stargz" "$run/stargz.sock"
}
stop_peer() {
  [ -n "$peer_pid" ] && { kill "$peer_pid"; wait "$peer_pid" 2>/dev/null || true; }
  peer_pid=""
  grep -oE " $work/peer[^ ]*" /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf "$work/peer"
}
start_stargz() {
  stop_stargz
  "$stargz_bin" --address "$run/stargz.sock" --root "$work/stargz" --config "$work/stargz.toml" >>"$work/stargz.log" 2>&1 & sgz_pid=$!
  for _ in $(seq 1 300); do [ -S "$run/stargz.sock" ] && break; sleep 0.1; done
}
start_peer() {
  stop_peer
  env "${peer_env[@]}" $p2pdist peer --data-dir "$work/peer" --metrics-listen off >>"$work/peer.log" 2>&1 & peer_pid=$!
  for _ in $(seq 1 300); do [ -S "$work/peer/snapshotter.sock" ] && break; sleep 0.1; done
}
peer_env=()
start_stargz
start_peer
cat > "$work/containerd.toml" <<TOML
version = 2
root = "$work/containerd"
state = "$run/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$run/containerd.sock"
[ttrpc]
  address = "$run/containerd.sock.ttrpc"
[proxy_plugins.p2pdist]
  type = "snapshot"
  address = "$work/peer/snapshotter.sock"
[proxy_plugins.stargz]
  type = "snapshot"
  address = "$run/stargz.sock"
TOML
containerd --config "$work/containerd.toml" >"$work/containerd.log" 2>&1 & ctrd_pid=$!
c() { ctr --address "$run/containerd.sock" "$@"; }
cr() { ctr-remote --address "$run/containerd.sock" "$@"; }
for _ in $(seq 1 300); do c version >/dev/null 2>&1 && break; sleep 0.1; done
# containerd redials a restarted proxy plugin with a backoff: this waits until a call reaches the new daemon.
snapshotter_ready() { # snapshotter id
  for _ in $(seq 1 300); do c snapshots --snapshotter "$1" prepare "probe-$2" "" >/dev/null 2>&1 && { c snapshots --snapshotter "$1" rm "probe-$2"; return; }; sleep 0.1; done
  echo "snapshotter $1 not reachable" >&2; exit 1
}

# ---- the baseline images (eStargz, optimized eStargz) and the Rafs conversions
workload='import numpy; print(numpy.__version__)'
c images pull --plain-http "$plain" >/dev/null
cr images convert --estargz --oci "$plain" "$r/numpy:v1-esgz" >/dev/null
cr images push --plain-http "$r/numpy:v1-esgz" >/dev/null
cr images optimize --oci --args '["python3","-c","import numpy"]' "$plain" "$r/numpy:v1-esgz-opt" >"$work/optimize.log" 2>&1
cr images push --plain-http "$r/numpy:v1-esgz-opt" >/dev/null
$p2pdist image convert "$r/numpy:v1" "$r/numpy:v1-rafs" --plain-http >"$work/convert-default.log"
$p2pdist image optimize "$plain" "$r/numpy:v1-rafs-opt" --plain-http -- python3 -c 'import numpy' >"$work/optimize-p2pdist.log"
for size in $chunk_sizes; do
  $p2pdist image convert "$r/numpy:v1" "$r/numpy:v1-rafs-$size" --plain-http --chunk-size "$size" >"$work/convert-$size.log"
done

limit() { # rate
  tc qdisc del dev lo root 2>/dev/null || true
  tc qdisc add dev lo root handle 1: htb default 99
  tc class add dev lo parent 1: classid 1:1 htb rate "$1" ceil "$1" 2>/dev/null
  tc filter add dev lo protocol ip parent 1: prio 1 u32 match ip sport "$port" 0xffff flowid 1:1
}
served() { tc -s class show dev lo classid 1:1 | sed -nE 's/^ *Sent ([0-9]+) bytes.*/\1/p'; }
now() { date +%s.%N; }
since() { awk "BEGIN{printf \"%.2f\", $(now) - $1}"; }
median() { printf '%s\n' "$@" | sort -n | sed -n "$(( ($# + 1) / 2 ))p"; }
mb() { awk "BEGIN{printf \"%.1f\", $1 / 1e6}"; }
forget_images() {
  c images ls -q | xargs -r ctr --address "$run/containerd.sock" images rm --sync >/dev/null 2>&1 || true
  c content ls -q | xargs -r -n1 ctr --address "$run/containerd.sock" content rm >/dev/null 2>&1 || true
  sync; echo 3 > /proc/sys/vm/drop_caches
}
cmd=(python3 -c "$workload")
# Each run sets $elapsed and $bytes (not printed: a $(...) subshell would lose the daemon it restarts).
timed() { # id, then the pull command...
  local id=$1 t0 b0; shift
  b0=$(served); t0=$(now)
  "$@" >/dev/null
  out=$(c run --rm --snapshotter "$snapshotter" "$ref" "$id" "${cmd[@]}")
  elapsed=$(since "$t0"); bytes=$(( $(served) - b0 ))
  [ -n "$out" ] || { echo "run $id printed nothing" >&2; exit 1; }
}
overlayfs_run() { forget_images; stop_stargz; stop_peer; snapshotter=overlayfs ref=$plain; timed "$1" c images pull --plain-http "$ref"; }
stargz_run() { # id ref
  forget_images; stop_peer; start_stargz; snapshotter_ready stargz "$1"
  snapshotter=stargz ref=$2; timed "$1" cr images rpull --plain-http --snapshotter stargz "$ref"
}
p2pdist_run() { # id ref
  forget_images; stop_stargz; start_peer; snapshotter_ready p2pdist "$1"
  snapshotter=p2pdist ref=$2; timed "$1" $p2pdist image pull --address "$run/containerd.sock" --plain-http "$ref"
}
blob_sizes() { # tag -> "bootstrap bytes (compressed, as fetched) blob bytes"
  local m; m=$(curl -sf -H 'Accept: application/vnd.oci.image.manifest.v1+json' "http://$r/v2/numpy/manifests/$1")
  echo "$m" | jq -r '.layers[] | select(.mediaType|test("bootstrap")) | "\(.size)/\(.annotations["io.p2pdist.rafs.bootstrap.length"])"' | tr '\n' ' '
  echo "$m" | jq -r '[.layers[] | select(.mediaType|test("blob")) | .size] | add'
}

echo "## Cold start of python3 + numpy ($(date -u +%F), $(nproc) cores, $(du -sm "$layout" | cut -f1) MB image in 4 gzip layers, registry egress limited with tc, cold, median of $runs)"
echo
echo "| link | overlayfs (full pull) | eStargz | optimized eStargz | P2PDist (defaults) | P2PDist optimized | P2PDist / eStargz | P2PDist opt. / eStargz opt. | registry MB to first output (overlayfs / eStargz / eStargz opt. / P2PDist / P2PDist opt.) |"
echo "|---|---|---|---|---|---|---|---|---|"
for rate in $links; do
  limit "$rate"
  o=() e=() eo=() p=() po=() ob=() eb=() eob=() pb=() pob=()
  for i in $(seq 1 "$runs"); do
    overlayfs_run "o-$rate-$i"; o+=("$elapsed"); ob+=("$bytes")
    stargz_run "e-$rate-$i" "$r/numpy:v1-esgz"; e+=("$elapsed"); eb+=("$bytes")
    stargz_run "eo-$rate-$i" "$r/numpy:v1-esgz-opt"; eo+=("$elapsed"); eob+=("$bytes")
    p2pdist_run "p-$rate-$i" "$r/numpy:v1-rafs"; p+=("$elapsed"); pb+=("$bytes")
    p2pdist_run "po-$rate-$i" "$r/numpy:v1-rafs-opt"; po+=("$elapsed"); pob+=("$bytes")
  done
  mo=$(median "${o[@]}") me=$(median "${e[@]}") meo=$(median "${eo[@]}") mp=$(median "${p[@]}") mpo=$(median "${po[@]}")
  [ "$rate" = "${links%% *}" ] && me_first=$me
  echo "| $rate | $mo s (${o[*]}) | $me s (${e[*]}) | $meo s (${eo[*]}) | $mp s (${p[*]}) | $mpo s (${po[*]}) | $(awk "BEGIN{printf \"%.2f\", $mp/$me}")x | $(awk "BEGIN{printf \"%.2f\", $mpo/$meo}")x | $(mb "$(median "${ob[@]}")") / $(mb "$(median "${eb[@]}")") / $(mb "$(median "${eob[@]}")") / $(mb "$(median "${pb[@]}")") / $(mb "$(median "${pob[@]}")") |"
done

[ -n "$chunk_sizes" ] || exit 0
first_link=${links%% *}
echo
echo "P2PDist by chunk size at $first_link (the same run; eStargz at this link above: $me_first s)"
echo
echo "| chunk size | time to first output | registry MB to first output | bootstrap bytes, fetched (zstd) / plain | blob bytes |"
echo "|---|---|---|---|---|"
limit "$first_link"
for size in $chunk_sizes; do
  p=() pb=()
  for i in $(seq 1 "$runs"); do p2pdist_run "k$size-$i" "$r/numpy:v1-rafs-$size"; p+=("$elapsed"); pb+=("$bytes"); done
  read -r boot blobs <<<"$(blob_sizes "v1-rafs-$size")"
  echo "| $size | $(median "${p[@]}") s (${p[*]}) | $(mb "$(median "${pb[@]}")") | $boot | $blobs |"
done

echo
echo "P2PDist with the kernel readahead of the mount raised to 1 MiB (the peer's earlier setting), at $first_link, same run (defaults above)"
echo
echo "| peer setting | time to first output | registry MB to first output |"
echo "|---|---|---|"
for setting in P2PDIST_KERNEL_READAHEAD_KB=1024; do
  peer_env=("$setting") p=() pb=()
  for i in $(seq 1 "$runs"); do p2pdist_run "ra-$i" "$r/numpy:v1-rafs"; p+=("$elapsed"); pb+=("$bytes"); done
  echo "| $setting | $(median "${p[@]}") s (${p[*]}) | $(mb "$(median "${pb[@]}")") |"
done
peer_env=()
