#!/usr/bin/env bash
# Renders both charts (default and full values) and checks every flag and
# GRIDSHIFT_* variable they pass is declared by the binaries built from this
# workspace (their --help). Builds the binaries if needed (debug profile).
#   e2e/charts/check-flags.sh [TARGET_DIR]   (default: $CARGO_TARGET_DIR or target)
set -euo pipefail
cd "$(dirname "$0")/../.."

target="${1:-${CARGO_TARGET_DIR:-target}}"
tools="${GRIDSHIFT_TOOLS_DIR:-$HOME/.cache/gridshift/tools}"
bash e2e/tools/install-kubectl.sh >/dev/null
py="$(bash e2e/tools/install-python-tools.sh)"
CARGO_TARGET_DIR="$target" cargo build --quiet --locked -p gridshift-hub -p gridshift-agent --bins
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

"$target/debug/gridshift-hub" serve --help >"$out/hub.help"
"$target/debug/gridshift-agent" --help >"$out/agent.help"
for chart in gridshift-hub gridshift-agent; do
  "$tools/helm" template "$chart" "charts/$chart" >"$out/$chart-default.yaml"
  "$tools/helm" template "$chart" "charts/$chart" -f "charts/$chart/ci/full-values.yaml" >"$out/$chart-full.yaml"
done
"$py/python" e2e/charts/flags_in_help.py \
  --bin "gridshift-hub=$out/hub.help" --bin "gridshift-agent=$out/agent.help" "$out"/*.yaml
