#!/usr/bin/env bash
# The main job, end to end on one machine: installs what is needed, starts a local registry on 127.0.0.1,
# builds a sample image (Debian bookworm minbase), converts it to Rafs in the registry, then inspects and
# checks it. Idempotent: re-running reuses the registry and the cached root file system.
set -euo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
demo=${P2PDIST_DEMO_DIR:-/tmp/p2pdist-demo}
port=${P2PDIST_DEMO_PORT:-5000}
registry="127.0.0.1:$port"
mkdir -p "$demo"

step() { printf '\n== %s\n' "$*"; }

step "installing host packages and building"
deploy/scripts/install-host-packages.sh
deploy/scripts/build.sh
p2pdist=$PWD/artifacts/bin/p2pdist

step "local registry on $registry"
if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
  sed -e "s|@ROOT@|$demo/registry|" -e "s|@ADDR@|$registry|" deploy/registry/config.yml > "$demo/registry.yml"
  nohup docker-registry serve "$demo/registry.yml" >"$demo/registry.log" 2>&1 &
  echo $! > "$demo/registry.pid"
  for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
  echo "started docker-registry (pid $(cat "$demo/registry.pid"), log $demo/registry.log)"
else
  echo "a registry already listens on $registry; using it"
fi

step "sample image: Debian bookworm minbase as an ordinary OCI image"
tarball=$(deploy/scripts/debian-rootfs.sh /var/cache/p2pdist-tests)
rm -rf "$demo/rootfs" "$demo/oci" && mkdir -p "$demo/rootfs"
tar --xattrs --xattrs-include='*' --numeric-owner -C "$demo/rootfs" -xf "$tarball"
deploy/scripts/make-oci-layout.sh "$demo/rootfs" "$demo/oci" bookworm

step "convert to Rafs and push to $registry/debian:bookworm-rafs"
"$p2pdist" image convert "oci:$demo/oci:bookworm" "$registry/debian:bookworm-rafs" --plain-http

step "inspect"
"$p2pdist" image inspect "$registry/debian:bookworm-rafs" --plain-http

step "check every chunk"
"$p2pdist" image check "$registry/debian:bookworm-rafs" --plain-http

step "start a supernode and three peers (127.0.2.1-3), each mounting the image lazily through FUSE"
stop_previous() { [ -f "$1" ] && kill -TERM "$(cat "$1")" 2>/dev/null || true; }
for i in 1 2 3; do stop_previous "$demo/peer$i.pid"; umount -l "$demo/peer$i/roots/debian" 2>/dev/null || true; done
stop_previous "$demo/supernode.pid"; sleep 1
supernode=127.0.0.1:${P2PDIST_DEMO_SUPERNODE_PORT:-7700}
supernode_metrics=127.0.0.1:${P2PDIST_DEMO_METRICS_PORT:-7701}
# The cluster CA, a certificate for the supernode and one per peer: every connection is mutual TLS.
rm -rf "$demo/pki"
"$p2pdist" cert init-ca --dir "$demo/pki/ca"
"$p2pdist" cert issue --ca-dir "$demo/pki/ca" --supernode supernode --ip 127.0.0.1 --out "$demo/pki/supernode"
tls() { echo --tls-cert "$demo/pki/$1/$1.crt" --tls-key "$demo/pki/$1/$1.key" --tls-ca "$demo/pki/$1/ca.crt"; }
# shellcheck disable=SC2046
nohup "$p2pdist" supernode --listen "$supernode" --metrics "$supernode_metrics" $(tls supernode) >"$demo/supernode.log" 2>&1 &
echo $! > "$demo/supernode.pid"
for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/${supernode##*:}") 2>/dev/null && break; sleep 0.1; done
for i in 1 2 3; do
  rm -rf "$demo/peer$i"
  "$p2pdist" cert issue --ca-dir "$demo/pki/ca" --peer "peer$i" --out "$demo/pki/peer$i"
  # shellcheck disable=SC2046
  nohup "$p2pdist" peer --data-dir "$demo/peer$i" --supernode "$supernode" --listen "127.0.2.$i:7710" --metrics-listen "127.0.2.$i:9710" $(tls "peer$i") >"$demo/peer$i.log" 2>&1 &
  echo $! > "$demo/peer$i.pid"
  for _ in $(seq 1 100); do [ -S "$demo/peer$i/peer.sock" ] && break; sleep 0.1; done
  # A container's root file system (chroot below): devices and setuid honoured, under the daemon's 0700 roots dir.
  "$p2pdist" mount "$registry/debian:bookworm-rafs" debian --container-root --data-dir "$demo/peer$i" --plain-http
done

step "run a program from each mount (its shared libraries load through the mount)"
for i in 1 2 3; do
  chroot "$demo/peer$i/roots/debian" /usr/bin/perl -e 'open(my $f, "<", "/etc/debian_version"); print "peer '"$i"': hello from Debian ", <$f>'
  sleep 1 # let the chunks this peer fetched be announced before the next peer starts
done

step "bytes fetched from the origin (FETCHED) and from other peers (FROM PEERS), against the image size"
for i in 1 2 3; do "$p2pdist" mounts --data-dir "$demo/peer$i" | { [ "$i" = 1 ] && cat || tail -n +2; }; done

step "the same from the Prometheus metrics (what Grafana shows: deploy/grafana/p2pdist-swarm.json)"
for i in 1 2 3; do
  curl -sf "http://127.0.2.$i:9710/metrics" | awk -v p="peer $i" '/^p2pdist_peer_(fetched_bytes_total|uploaded_bytes_total|read_bytes_total)/ {printf "%s  %s %.0f\n", p, $1, $2}'
done
curl -sf "http://$supernode_metrics/metrics" | grep -E '^p2pdist_supernode_(peers|blobs|origin_elections_total)'

echo
echo "done. Registry: http://$registry/v2/  Supernode: $supernode  Peers: $demo/peer1..3 (logs $demo/peer*.log), mounts $demo/peer1..3/roots/debian"
echo "stop: kill \$(cat $demo/peer1.pid $demo/peer2.pid $demo/peer3.pid $demo/supernode.pid $demo/registry.pid)"
echo "metrics (Prometheus text): peers http://127.0.2.1:9710/metrics .. http://127.0.2.3:9710/metrics, supernode http://$supernode_metrics/metrics"
echo "chunks between peers and calls to the supernode are mutual TLS (certificates in $demo/pki; the chunk port 7710 admits cluster peers only)"
echo "logs: supernode $demo/supernode.log, peers $demo/peer1.log .. $demo/peer3.log, registry $demo/registry.log (JSON lines with --log-format json)"
echo "Grafana: scrape them with deploy/prometheus/prometheus.yml (alert rules: deploy/prometheus/alerts.yml) and import deploy/grafana/p2pdist-{swarm,node,supernode}.json"
