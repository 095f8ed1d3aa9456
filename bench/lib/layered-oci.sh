#!/usr/bin/env bash
# layered-oci.sh ROOTFS_DIR LAYOUT_DIR TAG SUBTREE...
# Packs a root file system into a multi-layer OCI image layout: one gzip layer per SUBTREE (e.g.
# ./usr/lib/python3), in the order given after the first, and a first layer of everything else. Every layer
# carries the entries of its parent directories (ctr-remote's optimize needs them). Only GNU tar, find, gzip.
set -euo pipefail
rootfs=$1 layout=$2 tag=$3
shift 3
mkdir -p "$layout/blobs/sha256"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
prune=()
for subtree in "$@"; do prune+=(-path "$subtree" -prune -o); done
(cd "$rootfs" && find . "${prune[@]}" -print | LC_ALL=C sort) > "$work/list-0"
i=0
for subtree in "$@"; do
  i=$((i + 1))
  parent=$(dirname "$subtree")
  { while [ "$parent" != . ]; do echo "$parent"; parent=$(dirname "$parent"); done; echo .; } | LC_ALL=C sort > "$work/list-$i"
  (cd "$rootfs" && find "$subtree" -print | LC_ALL=C sort) >> "$work/list-$i"
done
layers="" diff_ids=""
for n in $(seq 0 "$i"); do
  tar --xattrs --xattrs-include='*' --numeric-owner --no-recursion -C "$rootfs" -T "$work/list-$n" -cf "$work/layer.tar"
  diff_ids="$diff_ids${diff_ids:+,}\"sha256:$(sha256sum "$work/layer.tar" | cut -d' ' -f1)\""
  gzip -n -"${GZIP_LEVEL:-6}" "$work/layer.tar"
  digest=$(sha256sum "$work/layer.tar.gz" | cut -d' ' -f1)
  size=$(stat -c%s "$work/layer.tar.gz")
  mv "$work/layer.tar.gz" "$layout/blobs/sha256/$digest"
  layers="$layers${layers:+,}{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"sha256:$digest\",\"size\":$size}"
done
printf '{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["/bin/sh"]},"rootfs":{"type":"layers","diff_ids":[%s]}}' "$diff_ids" > "$work/config.json"
config=$(sha256sum "$work/config.json" | cut -d' ' -f1)
cp "$work/config.json" "$layout/blobs/sha256/$config"
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[%s]}' \
  "$config" "$(stat -c%s "$work/config.json")" "$layers" > "$work/manifest.json"
manifest=$(sha256sum "$work/manifest.json" | cut -d' ' -f1)
cp "$work/manifest.json" "$layout/blobs/sha256/$manifest"
echo '{"imageLayoutVersion":"1.0.0"}' > "$layout/oci-layout"
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"%s"}}]}' \
  "$manifest" "$(stat -c%s "$work/manifest.json")" "$tag" > "$layout/index.json"
echo "oci:$layout:$tag ($((i + 1)) layers)"
