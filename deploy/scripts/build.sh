#!/usr/bin/env bash
# Builds the solution (warnings are errors) and publishes the p2pdist command to artifacts/bin/p2pdist.
set -euo pipefail
cd "$(dirname "$0")/../.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
dotnet build P2PDist.sln -c Release -nologo -v quiet
dotnet publish shared/P2PDist.Cli/P2PDist.Cli.csproj -c Release -o artifacts/bin -nologo -v quiet --no-build
echo "built artifacts/bin/p2pdist"
