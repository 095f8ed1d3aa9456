#!/usr/bin/env bash
# Peak memory converting a 2 GiB image (goal: under 256 MiB): 8 random files of 128 MiB and 8 base64 text files of ~129 MiB
# compressible text, in one gzip layer; converted OCI layout -> OCI layout so only the converter is measured.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x artifacts/bin/p2pdist ] || deploy/scripts/build.sh >/dev/null
work=$(mktemp -d /tmp/p2pdist-bench-mem.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/tree/data"
for i in $(seq 1 8); do head -c 128M /dev/urandom > "$work/tree/data/random-$i.bin"; done
for i in $(seq 1 8); do head -c 96M /dev/urandom | base64 -w 120 > "$work/tree/data/text-$i.txt"; done
size=$(du -sb --apparent-size "$work/tree" | cut -f1)
deploy/scripts/make-oci-layout.sh "$work/tree" "$work/src" v1 >/dev/null
/usr/bin/time -f '%e s, peak RSS %M KiB' -o "$work/time" artifacts/bin/p2pdist image convert "oci:$work/src:v1" "oci:$work/out:rafs" > "$work/convert.txt"
echo "input: $(numfmt --to=iec "$size") in 16 files, gzip layer of $(numfmt --to=iec "$(find "$work/src/blobs/sha256" -size +1M -printf '%s\n')")"
echo "p2pdist image convert: $(cat "$work/time")"
sed -n 's/^  //p' "$work/convert.txt"
