#!/usr/bin/env bash
# Runs AutoBuilder's whole test suite on a fresh Debian 12 machine: installs what the tests need
# (Debian's offline Maven plugins, Gradle, PostgreSQL), builds, runs every test project, and ends with
# "N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
for pkg in maven maven-debian-helper libmaven-install-plugin-java junit4 gradle default-jdk-headless bubblewrap slirp4netns iproute2 curl strace zip unzip gcc libc6-dev fuse3 libfuse3-dev zstd; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
# PostgreSQL: the tests initdb throw-away clusters of their own (tests/Shared/PostgresServer.cs).
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || need+=(postgresql)
if [ ${#need[@]} -gt 0 ]; then
  echo "Installing test prerequisites: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi

# Azurite (the Azure Blob emulator) for the Azure storage tests; .tools/ is gitignored.
if [ ! -x .tools/node_modules/.bin/azurite-blob ]; then
  echo "Installing azurite@3.35.0 into .tools/"
  npm install --prefix .tools azurite@3.35.0 --no-audit --no-fund --loglevel=error >/dev/null
fi

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
dotnet build AutoBuilder.slnx -c Release -warnaserror --nologo -v quiet

log=$(mktemp)
status=0
dotnet test AutoBuilder.slnx -c Release --no-build --nologo --blame-hang-timeout 10m "$@" 2>&1 | tee "$log" || status=$?

# dotnet test prints one summary per test project; add them up into the line CI reads.
passed=$(grep -Eo 'Passed: +[0-9]+' "$log" | awk '{s+=$2} END {print s+0}')
failed=$(grep -Eo 'Failed: +[0-9]+' "$log" | awk '{s+=$2} END {print s+0}')
rm -f "$log"
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
echo "$passed passed, $failed failed"
exit "$status"
