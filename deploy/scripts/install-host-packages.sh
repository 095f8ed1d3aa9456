#!/usr/bin/env bash
# Installs the Debian 12 packages P2PDist's demo and tests need. Idempotent: installs only what is missing.
set -euo pipefail
packages=(docker-registry fuse3 containerd runc tcpdump prometheus systemd time apache2-utils squashfs-tools erofs-utils debootstrap tar findutils coreutils zstd attr fio iproute2 procps curl
  # The tests render the Helm chart with tests/tools/helm-render, built offline from these (Helm is not packaged).
  golang-go golang-github-masterminds-sprig-dev golang-gopkg-yaml.v3-dev)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Debian's package starts no registry here (no systemd); the demo and the tests start their own.
