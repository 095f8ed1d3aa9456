#!/usr/bin/env bash
# Lazy start (peer issue): time to the first byte of one file, and to run a program from the image, through a
# p2pdist FUSE mount with a cold cache, against pulling the OCI layer from the same registry and unpacking it
# first. The registry's outgoing traffic is limited on loopback with tc (htb class matched on its source port),
# at 100 Mbit/s and 1 Gbit/s. Also: bytes fetched against the image size.
set -euo pipefail
cd "$(dirname "$0")/.."
deploy/scripts/install-host-packages.sh >/dev/null
[ -x artifacts/bin/p2pdist ] || deploy/scripts/build.sh >/dev/null
p2pdist=$PWD/artifacts/bin/p2pdist
work=$(mktemp -d /tmp/p2pdist-lazy.XXXXXX)
reg_pid="" peer_pid=""
cleanup() {
  tc qdisc del dev lo root 2>/dev/null || true
  umount -l "$work/mnt" 2>/dev/null || true
  [ -n "$peer_pid" ] && kill "$peer_pid" 2>/dev/null
  [ -n "$reg_pid" ] && kill "$reg_pid" 2>/dev/null
  sleep 1; rm -rf "$work"
}
trap cleanup EXIT
payload_mb=${PAYLOAD_MB:-448}

# Image: Debian minbase plus a payload (as an application's data), over 500 MB in all.
tarball=$(deploy/scripts/debian-rootfs.sh /var/cache/p2pdist-tests)
mkdir -p "$work/tree/opt/payload"
tar --xattrs --xattrs-include='*' --numeric-owner -C "$work/tree" -xf "$tarball"
for i in $(seq 1 $((payload_mb / 32))); do head -c 32M /dev/urandom > "$work/tree/opt/payload/part-$i.bin"; done
deploy/scripts/make-oci-layout.sh "$work/tree" "$work/oci" v1 >/dev/null
image_bytes=$(du -sb --apparent-size "$work/tree" | cut -f1)
port=$(( 20000 + RANDOM % 20000 ))
r=127.0.0.1:$port
sed -e "s|@ROOT@|$work/registry|" -e "s|@ADDR@|$r|" deploy/registry/config.yml > "$work/registry.yml"
docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 & reg_pid=$!
for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done

# Push the plain OCI image (for the pull-and-unpack baseline) with the distribution API, and the Rafs one.
push_blob() { # file
  local digest location
  digest="sha256:$(sha256sum "$1" | cut -d' ' -f1)"
  location=$(curl -sf -X POST -D - "http://$r/v2/plain/blobs/uploads/" -o /dev/null | tr -d '\r' | sed -n 's/^Location: //ip')
  case "$location" in http*) ;; *) location="http://$r$location" ;; esac
  curl -sf -X PUT -H 'Content-Type: application/octet-stream' --data-binary "@$1" "$location&digest=$digest" -o /dev/null
}
for blob in "$work/oci/blobs/sha256"/*; do push_blob "$blob"; done
manifest=$(sed -E 's/.*"digest":"(sha256:[0-9a-f]+)".*/\1/' "$work/oci/index.json")
curl -sf -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' --data-binary "@$work/oci/blobs/sha256/${manifest#sha256:}" "http://$r/v2/plain/manifests/v1" -o /dev/null
layer=$(grep -oE '"digest":"sha256:[0-9a-f]+","size":[0-9]+\}\]' "$work/oci/blobs/sha256/${manifest#sha256:}" | sed -E 's/"digest":"(sha256:[0-9a-f]+)".*/\1/')
$p2pdist image convert "oci:$work/oci:v1" "$r/lazy:rafs" --plain-http >/dev/null

limit() { # rate
  tc qdisc del dev lo root 2>/dev/null || true
  tc qdisc add dev lo root handle 1: htb default 99
  tc class add dev lo parent 1: classid 1:1 htb rate "$1" ceil "$1" 2>/dev/null
  tc filter add dev lo protocol ip parent 1: prio 1 u32 match ip sport "$port" 0xffff flowid 1:1
}
now() { date +%s.%N; }
program=(/usr/bin/perl -e 'open(my $f, "<", "/etc/debian_version"); print <$f>')

echo "## Lazy start against pull-and-unpack ($(date -u +%F), $(nproc) cores, image $(numfmt --to=iec "$image_bytes") unpacked, registry egress limited with tc)"
echo
echo "| link | pull + unpack, then run | p2pdist: first byte of /etc/debian_version | p2pdist: mount + run perl | ratio (pull / p2pdist run) | bytes fetched by p2pdist / image |"
echo "|---|---|---|---|---|---|"
for rate in 100mbit 1gbit; do
  limit "$rate"
  rm -rf "$work/unpacked" && mkdir -p "$work/unpacked"
  t0=$(now)
  curl -sf "http://$r/v2/plain/blobs/$layer" | tar -xz --numeric-owner -C "$work/unpacked"
  chroot "$work/unpacked" "${program[@]}" >/dev/null
  pull=$(awk "BEGIN{printf \"%.2f\", $(now) - $t0}")

  [ -n "$peer_pid" ] && { kill "$peer_pid"; wait "$peer_pid" 2>/dev/null || true; }
  rm -rf "$work/peer" && mkdir -p "$work/mnt"
  $p2pdist peer --data-dir "$work/peer" >"$work/peer.log" 2>&1 & peer_pid=$!
  for _ in $(seq 1 100); do [ -S "$work/peer/peer.sock" ] && break; sleep 0.1; done
  t0=$(now)
  $p2pdist mount "$r/lazy:rafs" "$work/mnt" --data-dir "$work/peer" --plain-http >/dev/null
  cat "$work/mnt/etc/debian_version" >/dev/null
  first=$(awk "BEGIN{printf \"%.2f\", $(now) - $t0}")
  chroot "$work/mnt" "${program[@]}" >/dev/null
  run=$(awk "BEGIN{printf \"%.2f\", $(now) - $t0}")
  fetched=$($p2pdist mounts --data-dir "$work/peer" | awk 'NR==2 {gsub(",", "", $4); print $4}')
  $p2pdist umount "$work/mnt" --data-dir "$work/peer" >/dev/null
  echo "| $rate | ${pull} s | ${first} s | ${run} s | $(awk "BEGIN{printf \"%.1f\", $pull/$run}")x | $(numfmt --to=iec "$fetched") / $(numfmt --to=iec "$image_bytes") ($(awk "BEGIN{printf \"%.2f\", 100*$fetched/$image_bytes}") %) |"
done
