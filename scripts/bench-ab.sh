#!/usr/bin/env bash
# Runs one bench scenario for two commits side by side in one run: the baseline (built from BASE in a temporary git
# worktree) and this checkout, alternating ROUNDS times, so both see the same machine in the same minutes. Prints the
# median of each row's overhead for both and their ratio; keeps every JSON in OUT.
#   scripts/bench-ab.sh BASE [ROUNDS] [OUT] [-- bench arguments...]     e.g. scripts/bench-ab.sh d6f59a6 3 ab -- overhead --quick
set -euo pipefail
cd "$(dirname "$0")/.."
base=${1:?usage: scripts/bench-ab.sh BASE [ROUNDS] [OUT] [-- bench arguments...]}; shift
rounds=3; out=bench-ab
[ $# -gt 0 ] && [ "$1" != "--" ] && { rounds=$1; shift; }
[ $# -gt 0 ] && [ "$1" != "--" ] && { out=$1; shift; }
[ "${1:-}" = "--" ] && shift
args=("$@"); [ ${#args[@]} -gt 0 ] || args=(overhead --quick)
scenario=${args[0]}

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
mkdir -p "$out"
tree=$(mktemp -d)
trap 'git worktree remove --force "$tree" >/dev/null 2>&1 || true' EXIT
git worktree add --detach -q "$tree" "$base"
dotnet build "$tree/src/AutoBuilder.Cli" -c Release --nologo -v quiet >/dev/null
dotnet build src/AutoBuilder.Cli -c Release --nologo -v quiet >/dev/null
declare -A dll=([before]="$tree/src/AutoBuilder.Cli/bin/Release/net10.0/autobuilder.dll" [after]="src/AutoBuilder.Cli/bin/Release/net10.0/autobuilder.dll")

for round in $(seq 1 "$rounds"); do
  for side in before after; do
    echo "round $round/$rounds: $side ($([ $side = before ] && echo "$base" || git rev-parse --short HEAD))"
    dotnet "${dll[$side]}" bench "${args[@]}" --json "$out/$scenario-$side-$round.json" >/dev/null
  done
done

python3 - "$out" "$scenario" "$base" "$(git rev-parse --short HEAD)" <<'PY'
import json, statistics, sys, glob
out, scenario, base, head = sys.argv[1:]
def rows(side):
    by = {}
    for path in sorted(glob.glob(f"{out}/{scenario}-{side}-*.json")):
        for row in json.load(open(path))["rows"]:
            by.setdefault(row.get("size", "?"), []).append(row["overheadMedianMs"])
    return by
before, after = rows("before"), rows("after")
print(f"| size | before ({base}) median of medians ms | after ({head}) ms | after / before | rounds |")
print("|---|---|---|---|---|")
for size in before:
    b, a = statistics.median(before[size]), statistics.median(after.get(size, [float("nan")]))
    print(f"| {size} | {b:.0f} | {a:.0f} | {a / b:.2f} | {len(before[size])} |")
PY
