#!/usr/bin/env bash
# The one test command (README): installs what the tests need on a fresh Debian 12 machine, builds, and runs
# every test layer (unit, integration against a real registry, end-to-end with real processes). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

deploy/scripts/install-host-packages.sh
deploy/scripts/build.sh

export P2PDIST_TEST_CACHE=${P2PDIST_TEST_CACHE:-/var/cache/p2pdist-tests}
export P2PDIST_DEBIAN_ROOTFS
P2PDIST_DEBIAN_ROOTFS=$(deploy/scripts/debian-rootfs.sh "$P2PDIST_TEST_CACHE")
export P2PDIST_TEST_WORK
P2PDIST_TEST_WORK=$(mktemp -d /tmp/p2pdist-tests.XXXXXX)
trap 'rm -rf "$P2PDIST_TEST_WORK"' EXIT

results=artifacts/test-results
rm -rf "$results"
status=0
dotnet test P2PDist.sln -c Release --no-build --logger "trx;LogFileName=tests.trx" --logger "console;verbosity=normal" \
  --results-directory "$results" || status=$?

# dotnet test prints no plain "N passed, N failed" line; print one from the results file for CI summaries.
trx="$results/tests.trx"
if [ -f "$trx" ]; then
  counters=$(grep -o '<Counters [^>]*>' "$trx" | head -n1)
  passed=$(echo "$counters" | sed -E 's/.* passed="([0-9]+)".*/\1/')
  failed=$(echo "$counters" | sed -E 's/.* failed="([0-9]+)".*/\1/')
  total=$(echo "$counters" | sed -E 's/.* total="([0-9]+)".*/\1/')
  echo "${passed} passed, ${failed} failed"
  if [ "${total}" = "0" ]; then
    echo "no tests ran" >&2
    status=1
  fi
else
  echo "0 passed, 1 failed"
  status=1
fi
exit $status
