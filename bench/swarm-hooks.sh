# shellcheck shell=bash
# Hooks for ../shared/baselines/swarm/run.sh that drive today's P2PDist: the harness's own hooks
# (hooks/p2pdist.sh, sourced below) with what changed since they were written:
#   - the supernode and peers run in plain text (P2PDIST_SUPERNODE_INSECURE / P2PDIST_INSECURE): mutual TLS is
#     the default and the harness has no cluster CA (bench/RESULTS.md has TLS-on figures from bench/swarm.sh);
#   - each peer's metrics listener is off (the default 127.0.0.1:9710 would be taken by the first peer);
#   - readiness is the peer's local socket, its chunk port accepting connections and its registration: the chunk
#     port answers chunk reads only (lock-down issue), so the old /v1/health probe there never succeeds.
# Run from the project root:
#   ../shared/baselines/swarm/run.sh --system p2pdist --hooks bench/swarm-hooks.sh --n 8 --size-mib 512 \
#       --down-mbit 200 --origin-up-mbit 1000
# shellcheck source=/dev/null
source "$(dirname "${BASH_SOURCE[0]}")/../../shared/baselines/swarm/hooks/p2pdist.sh"
export P2PDIST_SUPERNODE_INSECURE=true P2PDIST_INSECURE=true
P2PD_PEER_FLAGS="--metrics-listen off ${P2PD_PEER_FLAGS:-}"

p2pdist_ready() {
  local run=$1 st i ip dir pid deadline
  st=$(_p2pd_state)
  deadline=$(( $(date +%s) + 60 ))   # bounded: 60 s for all peers together
  for ((i = 1; i <= P2P_N; i++)); do
    ip=$(cat "$st/peer$i.ip") dir=$(cat "$st/peer$i.dir") pid=$(cat "$P2P_PID_DIR/peer$i.pid")
    until curl -sf -o /dev/null --max-time 2 --unix-socket "$dir/peer.sock" http://peer/v1/health 2>/dev/null &&
          _p2pd_listening "$ip:$P2PD_PEER_PORT" &&
          grep -q "registered with the supernode" "$run/logs/peer$i.log" 2>/dev/null; do
      kill -0 "$pid" 2>/dev/null || { _p2pd_log "peer $i died: $(tail -3 "$run/logs/peer$i.log")"; return 1; }
      (( $(date +%s) < deadline )) || { _p2pd_log "peer $i not ready within 60 s: $(tail -3 "$run/logs/peer$i.log")"; return 1; }
      sleep 0.1
    done
  done
  stat -c %s "$run/logs/p2pdist-registry.log" > "$st/registry.log.offset"
  _p2pd_log "$P2P_N peers healthy and registered"
}
