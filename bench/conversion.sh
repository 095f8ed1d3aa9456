#!/usr/bin/env bash
# Conversion benchmark (issue: Rafs format and converter). Same input tree, same run:
#   p2pdist image convert (uncompressed OCI layer -> Rafs, zstd and lz4)  vs  mksquashfs (zstd)  vs  mkfs.erofs (lz4hc)
# then compressed sizes against the gzip layer, peak memory, and dedup with and without --chunk-dict for
# two versions of one image. Prints a Markdown block for bench/RESULTS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
deploy/scripts/install-host-packages.sh >/dev/null
[ -x artifacts/bin/p2pdist ] || deploy/scripts/build.sh >/dev/null
p2pdist=$PWD/artifacts/bin/p2pdist
work=$(mktemp -d /tmp/p2pdist-bench.XXXXXX)
reg_pid=""
cleanup() { [ -n "$reg_pid" ] && kill "$reg_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
runs=${RUNS:-3}

tarball=$(deploy/scripts/debian-rootfs.sh /var/cache/p2pdist-tests)
mkdir -p "$work/tree"
tar --xattrs --xattrs-include='*' --numeric-owner -C "$work/tree" -xf "$tarball"
tree_bytes=$(du -sb --apparent-size "$work/tree" | cut -f1)
LAYER_COMPRESSION=none deploy/scripts/make-oci-layout.sh "$work/tree" "$work/plain" v1 >/dev/null
deploy/scripts/make-oci-layout.sh "$work/tree" "$work/gz" v1 >/dev/null
GZIP_LEVEL=6 deploy/scripts/make-oci-layout.sh "$work/tree" "$work/gz6" v1 >/dev/null
gzip_size=$(find "$work/gz6/blobs/sha256" -size +1M -printf '%s\n' | head -n1)

# best-of-N wall time and the peak RSS of that run
measure() { # label command...
  local best="" rss=""
  for _ in $(seq 1 "$runs"); do
    /usr/bin/time -f '%e %M' -o "$work/time" "$@" >/dev/null 2>&1
    read -r t m < "$work/time"
    if [ -z "$best" ] || awk "BEGIN{exit !($t < $best)}"; then best=$t; rss=$m; fi
  done
  echo "$best $rss"
}

echo "## Conversion throughput ($(date -u +%F), $(nproc) cores, input tree $(numfmt --to=iec "$tree_bytes"), best of $runs)"
echo
echo "| tool | command | seconds | MB/s of input | peak RSS | output bytes | vs gzip-6 layer |"
echo "|---|---|---|---|---|---|---|"
row() { # label cmdline-desc seconds rss outbytes
  local mbs ratio
  mbs=$(awk "BEGIN{printf \"%.0f\", $tree_bytes/1e6/$3}")
  ratio=$(awk "BEGIN{printf \"%.3f\", $5/$gzip_size}")
  echo "| $1 | \`$2\` | $3 | $mbs | $(($4/1024)) MiB | $5 | $ratio |"
}
rm -rf "$work/out"; read -r t m < <(measure bash -c "rm -rf $work/out; $p2pdist image convert oci:$work/plain:v1 oci:$work/out:rafs")
row "p2pdist (zstd, blake3)" "p2pdist image convert oci:plain:v1 oci:out:rafs" "$t" "$m" "$(find "$work/out/blobs/sha256" -size +1M -printf '%s\n' | awk '{s+=$1} END{print s}')"
read -r t m < <(measure bash -c "rm -rf $work/out; $p2pdist image convert oci:$work/plain:v1 oci:$work/out:rafs --compression lz4")
row "p2pdist (lz4, blake3)" "... --compression lz4" "$t" "$m" "$(find "$work/out/blobs/sha256" -size +1M -printf '%s\n' | awk '{s+=$1} END{print s}')"
read -r t m < <(measure bash -c "rm -rf $work/out; $p2pdist image convert oci:$work/gz:v1 oci:$work/out:rafs")
row "p2pdist from a gzip-1 layer" "p2pdist image convert oci:gz:v1 oci:out:rafs" "$t" "$m" "$(find "$work/out/blobs/sha256" -size +1M -printf '%s\n' | awk '{s+=$1} END{print s}')"
read -r t m < <(measure mksquashfs "$work/tree" "$work/out.sqfs" -comp zstd -noappend -quiet)
row "mksquashfs $(mksquashfs -version 2>&1 | head -n1 | awk '{print $3}') (zstd, $(nproc) threads)" "mksquashfs tree out.sqfs -comp zstd -noappend" "$t" "$m" "$(stat -c%s "$work/out.sqfs")"
read -r t m < <(measure mkfs.erofs -zlz4hc "$work/out.erofs" "$work/tree")
row "mkfs.erofs (lz4hc)" "mkfs.erofs -zlz4hc out.erofs tree" "$t" "$m" "$(stat -c%s "$work/out.erofs")"
echo
echo "Baseline for sizes: the gzip -6 layer of the same tree, $gzip_size bytes."

# Dedup across versions: v2 = v1 with docs removed, 40 files edited and a new 8 MiB file.
cp -a "$work/tree" "$work/tree2"
rm -rf "$work/tree2/usr/share/doc"
find "$work/tree2/etc" -type f > "$work/etc-files"
head -n 40 "$work/etc-files" | while read -r f; do echo "# v2" >> "$f"; done
head -c 8M /dev/urandom > "$work/tree2/opt-new.bin"
deploy/scripts/make-oci-layout.sh "$work/tree2" "$work/gz2" v2 >/dev/null
port=$(( 20000 + RANDOM % 20000 ))
sed -e "s|@ROOT@|$work/registry|" -e "s|@ADDR@|127.0.0.1:$port|" deploy/registry/config.yml > "$work/registry.yml"
docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 & reg_pid=$!
for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
r=127.0.0.1:$port
$p2pdist image convert "oci:$work/gz:v1" "$r/app:v1" --plain-http > "$work/v1.txt"
$p2pdist image convert "oci:$work/gz2:v2" "$r/app-nodict:v2" --plain-http > "$work/v2-nodict.txt"
$p2pdist image convert "oci:$work/gz2:v2" "$r/app:v2" --plain-http --chunk-dict "$r/app:v1" > "$work/v2-dict.txt"
echo
echo "## Dedup across two versions of one image"
echo
echo "v2 = v1 (Debian minbase) with /usr/share/doc removed, 40 files under /etc edited, one new 8 MiB file."
echo
echo '| conversion | chunks stored new | reused from dictionary | new blob bytes to push | dedup ratio line |'
echo '|---|---|---|---|---|'
for f in v1 v2-nodict v2-dict; do
  chunks=$(grep -oE '[0-9,]+ stored new' "$work/$f.txt" | cut -d' ' -f1)
  reused=$(grep -oE '[0-9,]+ reused' "$work/$f.txt" | cut -d' ' -f1)
  blob=$(grep -oE '[0-9,]+ bytes compressed in blobs' "$work/$f.txt" | cut -d' ' -f1)
  ratio=$(grep -oE 'dedup ratio: [0-9.]+' "$work/$f.txt" | cut -d' ' -f3)
  echo "| $f | $chunks | $reused | $blob | $ratio |"
done
