#!/usr/bin/env bash
# CPU per GiB of a cold whole-image read through one peer from the origin (issue 13: where a peer's CPU goes on
# one node). Configurations, alternated in one run, each from an empty cache, median of ROUNDS (3):
#   default          what users get: data dir on the node's disk, passthrough on, system libzstd decoder
#   managed-zstd     P2PDIST_ZSTD=managed: ZstdSharp instead of libzstd (the decoder's share)
#   no-passthrough   P2PDIST_PASSTHROUGH=false: no assembled file copies (the materializer's share)
#   tmpfs-data-dir   the data dir on /dev/shm: no disk file system under the cache (its share)
#   baseline-build   BASELINE_BIN=path/to/p2pdist (optional): an earlier build with its defaults
# The peer's CPU (user and system, from /proc) is counted from the mount to the last byte read by tar.
set -euo pipefail
cd "$(dirname "$0")/.."
deploy/scripts/install-host-packages.sh >/dev/null
[ -x artifacts/bin/p2pdist ] || deploy/scripts/build.sh >/dev/null
p2pdist=$PWD/artifacts/bin/p2pdist
rounds=${ROUNDS:-3}
work=$(mktemp -d /tmp/p2pdist-coldcpu.XXXXXX)
shm=$(mktemp -d /dev/shm/p2pdist-coldcpu.XXXXXX)
reg_pid="" peer_pid=""
cleanup() {
  umount -l "$work/mnt" 2>/dev/null || true
  [ -n "$peer_pid" ] && kill "$peer_pid" 2>/dev/null || true
  [ -n "$reg_pid" ] && kill "$reg_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work" "$shm"
}
trap cleanup EXIT
ticks=$(getconf CLK_TCK)
wait_for() { # wait_for DESCRIPTION COMMAND...: polls the state, 20 s at most
  local what=$1; shift
  for _ in $(seq 1 200); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "timed out waiting for $what" >&2; exit 1
}

tarball=$(deploy/scripts/debian-rootfs.sh /var/cache/p2pdist-tests)
mkdir -p "$work/tree"
tar --xattrs --xattrs-include='*' --numeric-owner -C "$work/tree" -xf "$tarball"
port=$(( 20000 + RANDOM % 20000 ))
r=127.0.0.1:$port
sed -e "s|@ROOT@|$work/registry|" -e "s|@ADDR@|$r|" deploy/registry/config.yml > "$work/registry.yml"
docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 & reg_pid=$!
wait_for registry bash -c "exec 3<>/dev/tcp/127.0.0.1/$port"
deploy/scripts/make-oci-layout.sh "$work/tree" "$work/oci" v1 >/dev/null
$p2pdist image convert "oci:$work/oci:v1" "$r/app:rafs" --plain-http >/dev/null

configs="default managed-zstd no-passthrough tmpfs-data-dir"
[ -n "${BASELINE_BIN:-}" ] && configs="$configs baseline-build"

one_run() { # one_run CONFIG -> "seconds user_seconds system_seconds bytes"
  local config=$1 bin=$p2pdist data=$work/peer-$RANDOM env=()
  case $config in
    managed-zstd) env=(P2PDIST_ZSTD=managed) ;;
    no-passthrough) env=(P2PDIST_PASSTHROUGH=false) ;;
    tmpfs-data-dir) data=$shm/peer-$RANDOM ;;
    baseline-build) bin=$BASELINE_BIN ;;
  esac
  env "${env[@]}" "$bin" peer --data-dir "$data" >>"$work/peer.log" 2>&1 & peer_pid=$!
  wait_for "peer socket" "$bin" mounts --data-dir "$data"
  mkdir -p "$work/mnt"
  local u0 s0 u1 s1 start end bytes
  read -r u0 s0 < <(awk '{print $14, $15}' "/proc/$peer_pid/stat")
  start=$(date +%s.%N)
  "$bin" mount "$r/app:rafs" "$work/mnt" --data-dir "$data" --plain-http >/dev/null
  bytes=$(tar -cf - -C "$work/mnt" . | wc -c)
  end=$(date +%s.%N)
  read -r u1 s1 < <(awk '{print $14, $15}' "/proc/$peer_pid/stat")
  "$bin" umount "$work/mnt" --data-dir "$data" >/dev/null
  kill "$peer_pid"; wait "$peer_pid" 2>/dev/null || true; peer_pid=""
  # The data dirs stay until the end: deleting thousands of files just before the next run would make its file
  # creations scan recently deleted inodes (ext4 without a journal, as on this machine's root), which is the
  # bench's own doing, not the peer's.
  echo "$(echo "$end - $start" | bc) $(echo "scale=2; ($u1 - $u0) / $ticks" | bc) $(echo "scale=2; ($s1 - $s0) / $ticks" | bc) $bytes"
}

declare -A times users systems
for round in $(seq 1 "$rounds"); do
  for config in $configs; do
    read -r t u s b < <(one_run "$config")
    times[$config]+="$t "; users[$config]+="$u "; systems[$config]+="$s "; bytes=$b
    echo "round $round $config: ${t} s, peer CPU user ${u} s + system ${s} s, ${b} bytes" >&2
  done
done
median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
gib=$(echo "scale=6; $bytes / 1073741824" | bc)
total() { echo "$(echo "${users[$1]}" | median) + $(echo "${systems[$1]}" | median)" | bc; }
base=$(total default)
echo "## Cold whole-image read through one peer: where the CPU goes ($(date -u +%F), same run, median of $rounds)"
echo
echo "Command: \`bench/cold-read-cpu.sh\`${BASELINE_BIN:+ with BASELINE_BIN} (Debian minbase converted with the defaults, $bytes bytes read by tar over the mount; $(nproc) cores)"
echo
echo "| configuration | time | peer CPU user | peer CPU system | peer CPU per GiB read | CPU / default |"
echo "|---|---|---|---|---|---|"
for config in $configs; do
  u=$(echo "${users[$config]}" | median); s=$(echo "${systems[$config]}" | median); c=$(total "$config")
  echo "| $config | $(echo "${times[$config]}" | median) s | $u s | $s s | $(echo "scale=1; $c / $gib" | bc) s | $(echo "scale=2; $c / $base" | bc)x |"
done
