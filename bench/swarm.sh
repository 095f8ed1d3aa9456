#!/usr/bin/env bash
# Swarm distribution (supernode issue): N peers, each on its own loopback address (127.0.2.i), all fetch the
# whole of one image at once (mount with --prefetch-all). Links are emulated with tc on lo: an htb class per
# source address limits each peer's upload and the origin's upload (egress of lo), and an htb class per
# destination address limits each peer's download (ingress of lo redirected to an ifb device). Every
# connection a peer makes, to peers or to the registry, leaves from its own address, so both limits apply.
#
# Reported per N: the time until every peer holds the whole image, against the lower bound
# max(F/u0, F/dmin, N*F/(u0 + sum ui)) and against the same N peers pulling from the origin alone (no
# supernode; same links), measured in the same run; origin egress (blob bytes the registry sent) against F;
# CPU use of the machine during each run.
#
# TLS=on (default) runs the swarm with mutual TLS (cluster CA, a certificate per peer and the supernode), TLS=off
# plain text (--insecure), TLS=both each N both ways in the same run, to measure what TLS costs (time, CPU s/GiB).
#
# usage: bench/swarm.sh [N...]    env: IMAGE_MB (64), PEER_RATE (25mbit), ORIGIN_RATE (125mbit), BASELINE (1), TLS (on|off|both)
set -euo pipefail
cd "$(dirname "$0")/.."
deploy/scripts/install-host-packages.sh >/dev/null
[ -x artifacts/bin/p2pdist ] || deploy/scripts/build.sh >/dev/null
p2pdist=$PWD/artifacts/bin/p2pdist
sizes=("$@"); [ ${#sizes[@]} -gt 0 ] || sizes=(8 16 32)
image_mb=${IMAGE_MB:-64} peer_rate=${PEER_RATE:-25mbit} origin_rate=${ORIGIN_RATE:-125mbit} baseline=${BASELINE:-1} tls_mode=${TLS:-on}
case "$tls_mode" in on) tls_runs=(on);; off) tls_runs=(off);; both) tls_runs=(off on);; *) echo "TLS is on, off or both" >&2; exit 2;; esac
work=$(mktemp -d /tmp/p2pdist-swarm.XXXXXX)
origin=127.0.3.1 reg_port=$(( 20000 + RANDOM % 20000 )) sn_port=$(( 40000 + RANDOM % 20000 ))
registry=$origin:$reg_port
pids=()

unshape() {
  tc qdisc del dev lo root 2>/dev/null || true
  tc qdisc del dev lo ingress 2>/dev/null || true
  ip link del p2pifb0 2>/dev/null || true
}
stop_all() {
  for m in "$work"/run/mnt*; do [ -d "$m" ] && umount -l "$m" 2>/dev/null; done || true
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  pkill -f "$work/run/" 2>/dev/null || true # anything a subshell started
  pids=()
}
cleanup() { stop_all; [ -n "${reg_pid:-}" ] && kill "$reg_pid" 2>/dev/null; unshape; sleep 0.5; [ -n "${KEEP:-}" ] || rm -rf "$work"; }
trap cleanup EXIT

mbit() { # "25mbit" -> 25
  case "$1" in *gbit) echo $(( ${1%gbit} * 1000 ));; *mbit) echo "${1%mbit}";; *) echo "rates are NNmbit or NNgbit" >&2; exit 2;; esac
}

shape() { # peers
  unshape
  # ifb queues default to 32 packets: tail drops and TCP retransmission timeouts would measure the emulator, not the swarm
  ip link add p2pifb0 type ifb && ip link set p2pifb0 txqueuelen 1000 && ip link set p2pifb0 up
  tc qdisc add dev lo root handle 1: htb default 99
  tc class add dev lo parent 1: classid 1:99 htb rate 40gbit quantum 60000
  tc class add dev lo parent 1: classid 1:2 htb rate "$origin_rate" burst 64k cburst 64k quantum 60000
  tc filter add dev lo parent 1: protocol ip prio 1 u32 match ip src $origin/32 flowid 1:2
  tc qdisc add dev p2pifb0 root handle 1: htb default 99
  tc class add dev p2pifb0 parent 1: classid 1:99 htb rate 40gbit quantum 60000
  for i in $(seq 1 "$1"); do
    tc class add dev lo parent 1: classid "1:$((100 + i))" htb rate "$peer_rate" burst 64k cburst 64k quantum 60000
    tc filter add dev lo parent 1: protocol ip prio 1 u32 match ip src "127.0.2.$i/32" flowid "1:$((100 + i))"
    tc class add dev p2pifb0 parent 1: classid "1:$((100 + i))" htb rate "$peer_rate" burst 64k cburst 64k quantum 60000
    tc filter add dev p2pifb0 parent 1: protocol ip prio 1 u32 match ip dst "127.0.2.$i/32" flowid "1:$((100 + i))"
  done
  tc qdisc add dev lo handle ffff: ingress
  tc filter add dev lo parent ffff: protocol ip u32 match u32 0 0 action mirred egress redirect dev p2pifb0
}

process_cpu() { # one line per daemon: "supernode|peers user_ticks system_ticks"
  for p in "${pids[@]}"; do
    [ -r "/proc/$p/stat" ] && echo "$(tr '\0' ' ' < "/proc/$p/cmdline" | awk '{print ($2 == "supernode" ? "supernode" : "peers")}') $(awk '{print $14, $15}' "/proc/$p/stat")"
  done
}
cpu_busy_jiffies() { awk '/^cpu / {print $2+$3+$4+$7+$8, $2+$3+$4+$5+$6+$7+$8}' /proc/stat; }

# The image: F = IMAGE_MB of incompressible data (chunks are stored as they are) in one layer.
mkdir -p "$work/tree/data"
for i in $(seq 1 "$image_mb"); do head -c 1M /dev/urandom > "$work/tree/data/part-$(printf %03d "$i").bin"; done
deploy/scripts/make-oci-layout.sh "$work/tree" "$work/oci" v1 >/dev/null
sed -e "s|@ROOT@|$work/registry|" -e "s|@ADDR@|$registry|" deploy/registry/config.yml > "$work/registry.yml"
docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 & reg_pid=$!
for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/$origin/$reg_port") 2>/dev/null && break; sleep 0.1; done
$p2pdist image convert "oci:$work/oci:v1" "$registry/swarm:rafs" --plain-http --chunk-size "${CHUNK_SIZE:-1M}" >/dev/null
# The image's one data blob is the largest blob in the registry (the bootstrap and config are small).
blob_bytes=$(find "$work/registry" -path '*/blobs/sha256/*/data' -printf '%s\n' | sort -n | tail -1)

origin_blob_bytes() { # bytes of blob GETs the registry answered since the log was truncated
  grep -aE '"GET /v2/swarm/blobs/sha256:[0-9a-f]+ HTTP/1.1" 20[06]' "$work/registry.log" | grep -oE '" 20[06] [0-9]+' | awk '{s += $3} END {print s + 0}'
}

pki=$work/pki
tls_flags() { # NAME -> the --tls-* flags of its certificate (issued on first use)
  [ -f "$pki/ca/ca.crt" ] || $p2pdist cert init-ca --dir "$pki/ca" >/dev/null
  if [ ! -f "$pki/$1/$1.crt" ]; then
    if [ "$1" = supernode ]; then $p2pdist cert issue --ca-dir "$pki/ca" --supernode supernode --ip 127.0.0.1 --out "$pki/$1" >/dev/null
    else $p2pdist cert issue --ca-dir "$pki/ca" --peer "$1" --out "$pki/$1" >/dev/null; fi
  fi
  echo --tls-cert "$pki/$1/$1.crt" --tls-key "$pki/$1/$1.key" --tls-ca "$pki/$1/ca.crt"
}
security() { # on|off NAME
  if [ "$1" = on ]; then tls_flags "$2"; else echo --insecure; fi
}

run() { # mode (swarm|origin) N tls (on|off) -> prints "seconds origin_bytes cpu_percent cpu_seconds"
  local mode=$1 n=$2 tls=${3:-off}
  stop_all
  rm -rf "$work/run"; mkdir -p "$work/run"
  shape "$n"
  if [ "$mode" = swarm ]; then
    # shellcheck disable=SC2046
    $p2pdist supernode --listen "127.0.0.1:$sn_port" $(security "$tls" supernode) >"$work/run/supernode.log" 2>&1 & pids+=($!)
    for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$sn_port") 2>/dev/null && break; sleep 0.1; done
  fi
  for i in $(seq 1 "$n"); do
    # Without a supernode, --listen still gives the peer its own address: its registry traffic uses its link.
    local swarm_flags=(--listen "127.0.2.$i:7710")
    [ "$mode" = swarm ] && swarm_flags+=(--supernode "127.0.0.1:$sn_port")
    # shellcheck disable=SC2086
    # shellcheck disable=SC2046
    $p2pdist peer --data-dir "$work/run/peer$i" --prefetch-all --passthrough false --metrics-listen off "${swarm_flags[@]}" $(security "$tls" "peer$i") ${PEER_FLAGS:-} >"$work/run/peer$i.log" 2>&1 & pids+=($!)
    mkdir -p "$work/run/mnt$i"
  done
  for i in $(seq 1 "$n"); do
    for _ in $(seq 1 200); do curl -sf --unix-socket "$work/run/peer$i/peer.sock" http://peer/v1/health >/dev/null 2>&1 && break; sleep 0.1; done
  done
  sleep 1 # registrations settle
  : > "$work/registry.log"
  process_cpu > "$work/run/cpu-before"
  read -r busy0 total0 < <(cpu_busy_jiffies)
  local start; start=$(date +%s.%N)
  local mounting=()
  for i in $(seq 1 "$n"); do
    curl -sf --unix-socket "$work/run/peer$i/peer.sock" -H 'Content-Type: application/json' \
      -d "{\"reference\":\"$registry/swarm:rafs\",\"mountPoint\":\"$work/run/mnt$i\",\"plainHttp\":true}" http://peer/v1/mounts >/dev/null & mounting+=($!)
  done
  for j in "${mounting[@]}"; do wait "$j" || echo "WARNING: a mount failed" >&2; done
  local deadline=$(( $(date +%s) + 900 ))
  while [ "$(date +%s)" -lt "$deadline" ]; do
    local done_count; done_count=$(cat "$work"/run/peer*.log | grep -c "prefetch done" || true)
    [ "$done_count" -ge "$n" ] && break
    sleep 0.2
  done
  local end; end=$(date +%s.%N)
  read -r busy1 total1 < <(cpu_busy_jiffies)
  # Each peer's own completion time is the timestamp of its "prefetch done" line; the run ends with the last.
  local last; last=$(grep -h "prefetch done" "$work"/run/peer*.log | awk '{print $1}' | sort | tail -1)
  local last_s; last_s=$(date -d "$(date -u +%F) $last" +%s.%N)
  local incomplete=0
  for i in $(seq 1 "$n"); do
    local counts; counts=$(curl -sf --unix-socket "$work/run/peer$i/peer.sock" http://peer/v1/mounts | grep -oE '"chunk(sCached|Count)":[0-9]+' | cut -d: -f2 | tr '\n' ' ')
    read -r cached total <<< "$counts"
    [ -n "$cached" ] && [ "$cached" = "$total" ] || incomplete=$((incomplete + 1))
  done
  [ "$incomplete" = 0 ] || echo "WARNING: $incomplete of $n peers do not hold the whole image" >&2
  # Where the CPU went: seconds of user+system time of the supernode and of all peers together.
  # Start-up (JIT, loading certificates, registering) is counted apart: CPU s/GiB is the fetch phase's alone,
  # from the first mount request to the last "prefetch done", so a longer image does not dilute a fixed cost.
  local tick; tick=$(getconf CLK_TCK)
  process_cpu > "$work/run/cpu"
  awk -v t="$tick" '{u[$1] += $2; k[$1] += $3} END {printf "  CPU seconds over the daemons'"'"' lives (user+system): supernode %.1f+%.1f, peers %.1f+%.1f\n", u["supernode"] / t, k["supernode"] / t, u["peers"] / t, k["peers"] / t}' "$work/run/cpu" >&2
  awk -v t="$tick" 'NR == FNR {u[$1] -= $2; k[$1] -= $3; next} {u[$1] += $2; k[$1] += $3} END {printf "  CPU seconds of the fetch phase (user+system): supernode %.1f+%.1f, peers %.1f+%.1f\n", u["supernode"] / t, k["supernode"] / t, u["peers"] / t, k["peers"] / t}' "$work/run/cpu-before" "$work/run/cpu" >&2
  local cpu_s; cpu_s=$(awk -v t="$tick" 'NR == FNR {s -= $2 + $3; next} {s += $2 + $3} END {printf "%.1f", s / t}' "$work/run/cpu-before" "$work/run/cpu")
  # Swarm health from the peers' Prometheus metrics: failed or refused peer fetches, by reason.
  for i in $(seq 1 "$n"); do curl -sf --unix-socket "$work/run/peer$i/peer.sock" http://peer/metrics; done \
    | awk '/^p2pdist_peer_(peer_fetch_failures|uploads_refused|fetched_chunks|chunk_connections_accepted|peer_connections_opened)_total/ {s[$1] += $2} END {for (k in s) printf "  %s %d\n", k, s[k]}' | sort >&2
  grep -h "prefetch done" "$work"/run/peer*.log | grep -v " 0 failed" >&2 || true
  local result; result=$(awk -v s="$start" -v e="$last_s" -v o="$(origin_blob_bytes)" -v b0="$busy0" -v b1="$busy1" -v t0="$total0" -v t1="$total1" \
    -v c="$cpu_s" 'BEGIN {printf "%.1f %d %.0f %s\n", e - s, o, 100 * (b1 - b0) / (t1 - t0), c}')
  cp "$work/run/supernode.log" "/tmp/p2pdist-swarm-last-supernode.log" 2>/dev/null || true
  # Stopped before the result is printed: the caller reads it through a process substitution and starts the
  # next run at once, and a late stop_all here would kill that run's daemons (its pkill matches the same paths).
  stop_all
  echo "$result"
}

u=$(mbit "$peer_rate") u0=$(mbit "$origin_rate")
echo "## Swarm distribution ($(date -u +%F), $(nproc) cores; F = $blob_bytes bytes of blob; peer up/down $peer_rate, origin up $origin_rate; tc htb on lo + ifb)"
echo
echo "Command: \`IMAGE_MB=$image_mb PEER_RATE=$peer_rate ORIGIN_RATE=$origin_rate BASELINE=$baseline TLS=$tls_mode bench/swarm.sh ${sizes[*]}\`"
echo
echo "| N | TLS | bound (s) | swarm (s) | swarm / bound | origin egress / F | CPU busy | CPU s/GiB | origin only (s) | origin only / swarm |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for n in "${sizes[@]}"; do
for tls in "${tls_runs[@]}"; do
  bound=$(awk -v f="$blob_bytes" -v n="$n" -v u="$u" -v u0="$u0" 'BEGIN {
    bits = f * 8 / 1e6; a = bits / u0; b = bits / u; c = n * bits / (u0 + n * u);
    m = a; if (b > m) m = b; if (c > m) m = c; printf "%.1f", m }')
  read -r swarm_s swarm_origin swarm_cpu swarm_cpu_s < <(run swarm "$n" "$tls")
  origin_cell="-" ratio_cell="-"
  if [ "$baseline" = 1 ] && [ "$tls" = "${tls_runs[0]}" ]; then
    read -r base_s _ base_cpu < <(run origin "$n")
    origin_cell="$base_s (CPU $base_cpu %)"
    ratio_cell=$(awk -v a="$base_s" -v b="$swarm_s" 'BEGIN {printf "%.2fx", a / b}')
  fi
  per_gib=$(awk -v c="$swarm_cpu_s" -v f="$blob_bytes" -v n="$n" 'BEGIN {printf "%.1f", c / (n * f / 1073741824)}')
  echo "| $n | $tls | $bound | $swarm_s | $(awk -v a="$swarm_s" -v b="$bound" 'BEGIN {printf "%.2f", a / b}') | $(awk -v o="$swarm_origin" -v f="$blob_bytes" 'BEGIN {printf "%.3f", o / f}') | $swarm_cpu % | $per_gib | $origin_cell | $ratio_cell |"
done
done
