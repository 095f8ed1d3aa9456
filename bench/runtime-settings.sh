#!/usr/bin/env bash
# The daemons' runtime settings (issue 13: "publish and run the daemons as they would be deployed"): the swarm
# benchmark at N peers with what p2pdist ships (ReadyToRun, no tiered compilation, no thread-pool spinning; see
# shared/P2PDist.Cli/P2PDist.Cli.csproj) against .NET's defaults (tiered compilation with PGO, spinning workers),
# set back through the runtime's environment variables, in the same run.
# usage: bench/runtime-settings.sh [N]    env: TLS (on), and the swarm.sh variables
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-8}
echo "### shipped settings"
BASELINE=0 bench/swarm.sh "$n" 2>&1 | grep -E "^\||CPU seconds"
echo "### .NET defaults"
DOTNET_TieredCompilation=1 DOTNET_TieredPGO=1 DOTNET_ThreadPool_UnfairSemaphoreSpinLimit=70 BASELINE=0 bench/swarm.sh "$n" 2>&1 | grep -E "^\| [0-9]|CPU seconds"
