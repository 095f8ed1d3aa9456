#!/usr/bin/env bash
# make-oci-layout.sh ROOTFS_DIR LAYOUT_DIR TAG
# Packs a directory into a one-layer OCI image layout (OCI config with an Entrypoint), using only GNU tar and
# coreutils, so the demo and benchmarks have an ordinary OCI image to convert. LAYER_COMPRESSION=none gives
# an uncompressed layer (for throughput benchmarks that should not measure gunzip).
set -euo pipefail
rootfs=$1 layout=$2 tag=$3
mkdir -p "$layout/blobs/sha256"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tar --xattrs --xattrs-include='*' --numeric-owner --sort=name -C "$rootfs" -cf "$work/layer.tar" .
diff_id=$(sha256sum "$work/layer.tar" | cut -d' ' -f1)
if [ "${LAYER_COMPRESSION:-gzip}" = none ]; then
  media=application/vnd.oci.image.layer.v1.tar
  blob="$work/layer.tar"
else
  media=application/vnd.oci.image.layer.v1.tar+gzip
  gzip -${GZIP_LEVEL:-1} -n "$work/layer.tar"
  blob="$work/layer.tar.gz"
fi
layer=$(sha256sum "$blob" | cut -d' ' -f1)
layer_size=$(stat -c%s "$blob")
mv "$blob" "$layout/blobs/sha256/$layer"
printf '{"architecture":"amd64","os":"linux","config":{"Entrypoint":["/bin/sh"],"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' "$diff_id" > "$work/config.json"
config=$(sha256sum "$work/config.json" | cut -d' ' -f1)
config_size=$(stat -c%s "$work/config.json")
cp "$work/config.json" "$layout/blobs/sha256/$config"
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"%s","digest":"sha256:%s","size":%s}]}' \
  "$config" "$config_size" "$media" "$layer" "$layer_size" > "$work/manifest.json"
manifest=$(sha256sum "$work/manifest.json" | cut -d' ' -f1)
manifest_size=$(stat -c%s "$work/manifest.json")
cp "$work/manifest.json" "$layout/blobs/sha256/$manifest"
echo '{"imageLayoutVersion":"1.0.0"}' > "$layout/oci-layout"
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"%s"}}]}' \
  "$manifest" "$manifest_size" "$tag" > "$layout/index.json"
echo "oci:$layout:$tag (layer sha256:$layer, $layer_size bytes)"
