#!/usr/bin/env bash
# The chart checks CI runs (from e2e/test-all.sh): for both charts, helm lint
# and helm template with default and full values (ci/full-values.yaml); every
# rendered object validated strictly against Kubernetes 1.33 schemas (custom
# kinds against their CRDs); the rendered RBAC compared with docs/rbac/*.yaml;
# the copies of CRDs and RBAC rules inside the charts equal to their sources;
# the sample CRs in examples/ validated against our CRD schemas; shellcheck on
# every shell script. Each check also runs once on a broken input and must
# fail, so a check that silently passes everything is caught.
#
# Tools (helm, kubernetes-validate, jsonschema, shellcheck) are installed into
# ~/.cache/gridshift/tools on first use (e2e/tools/); later runs are offline.
set -euo pipefail
cd "$(dirname "$0")/../.."

tools="${GRIDSHIFT_TOOLS_DIR:-$HOME/.cache/gridshift/tools}"
bash e2e/tools/install-kubectl.sh >/dev/null
helm="$tools/helm"
py="$(bash e2e/tools/install-python-tools.sh)"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

failures=0
passed=0
pass() { passed=$((passed + 1)); echo "ok   $*"; }
fail() { failures=$((failures + 1)); echo "FAIL $*"; }
# check NAME CMD...: runs CMD, quiet unless it fails.
check() {
  local name="$1"; shift
  if "$@" >"$out/log" 2>&1; then pass "$name"; else fail "$name"; sed 's/^/     /' "$out/log"; fi
}
# check_fails NAME PATTERN CMD...: CMD must fail saying PATTERN (the check
# catches what it should, for the reason it should).
check_fails() {
  local name="$1" pattern="$2"; shift 2
  if "$@" >"$out/log" 2>&1; then
    fail "$name (passed, but must fail)"
  elif ! grep -q -- "$pattern" "$out/log"; then
    fail "$name (failed without saying '$pattern')"; sed 's/^/     /' "$out/log"
  else
    pass "$name"
  fi
}

validate() { "$py/python" e2e/charts/validate_manifests.py --crds crds --crds e2e/crds --crds e2e/charts/schemas "$@"; }
compare_rbac() { "$py/python" e2e/charts/compare_rbac.py "$@"; }
render() { "$helm" template "$@"; }

agent_needs=(--needs docs/rbac/agent-configmap-keda.yaml --needs docs/rbac/agent-scheduler.yaml)

echo "== charts: lint, render, validate"
for chart in gridshift-hub gridshift-agent; do
  dir="charts/$chart"
  ns=karmada-system
  [[ "$chart" == gridshift-agent ]] && ns=gridshift-system
  for variant in default full; do
    args=()
    [[ "$variant" == full ]] && args=(-f "$dir/ci/full-values.yaml")
    check "$chart: helm lint --strict ($variant values)" "$helm" lint --strict "$dir" "${args[@]}"
    check "$chart: helm template ($variant values)" \
      bash -c '"$@" > "'"$out/$chart-$variant.yaml"'"' _ "$helm" template "$chart" "$dir" -n "$ns" "${args[@]}"
    check "$chart: rendered objects validate ($variant values)" validate "$out/$chart-$variant.yaml"
  done
done
for chart in gridshift-hub gridshift-agent; do
  check "$chart: NOTES.txt renders (helm install --dry-run=client)" \
    "$helm" install "$chart" "charts/$chart" -n gridshift --dry-run=client
done
check_fails "values.schema.json rejects an unknown feature" "features" render a charts/gridshift-agent --set 'features={configmap,bogus}'
check_fails "values.schema.json rejects a misspelt key" "servce" render h charts/gridshift-hub --set grpc.servce.type=NodePort
check_fails "a provider without its Secret is refused" "apiKeySecret.name" render h charts/gridshift-hub --set 'carbon.providers={electricitymaps}'
sed 's/^\(  *\)revisionHistoryLimit: 10$/&\n\1bogusField: 1/' "$out/gridshift-hub-default.yaml" >"$out/broken.yaml"
check_fails "strict validation rejects an unknown field" "bogusField" validate "$out/broken.yaml"

echo "== RBAC: rendered rules equal what the code needs (docs/rbac)"
for variant in default full; do
  check "gridshift-agent RBAC ($variant values)" compare_rbac "${agent_needs[@]}" "$out/gridshift-agent-$variant.yaml"
done
render a charts/gridshift-agent --set 'features={scheduler}' >"$out/agent-scheduler.yaml"
check "gridshift-agent RBAC (scheduler only)" compare_rbac --needs docs/rbac/agent-scheduler.yaml "$out/agent-scheduler.yaml"
render a charts/gridshift-agent --set 'features={configmap}' >"$out/agent-configmap.yaml"
check "gridshift-agent RBAC (configmap only)" compare_rbac --needs docs/rbac/agent-configmap-keda.yaml "$out/agent-configmap.yaml"
check "gridshift-hub Karmada RBAC (karmada/rbac.yaml)" compare_rbac --needs docs/rbac/hub-karmada.yaml charts/gridshift-hub/karmada/rbac.yaml
check "gridshift-hub Karmada manifests validate" validate charts/gridshift-hub/karmada/rbac.yaml charts/gridshift-hub/karmada/crds/*.yaml
# A verb the code needs, dropped from the rendered ClusterRole, must be caught.
awk '!done && /^    - watch$/ {done=1; next} {print}' "$out/gridshift-agent-default.yaml" >"$out/missing-verb.yaml"
check_fails "a missing verb is caught" "missing: verb 'watch'" compare_rbac "${agent_needs[@]}" "$out/missing-verb.yaml"
check_fails "an extra verb is caught" "not needed by the code" compare_rbac --needs docs/rbac/agent-scheduler.yaml "$out/gridshift-agent-default.yaml"

echo "== copies inside the charts equal their sources"
for f in docs/rbac/agent-configmap-keda.yaml docs/rbac/agent-scheduler.yaml; do
  check "charts/gridshift-agent/rbac/$(basename "$f") = $f" cmp "$f" "charts/gridshift-agent/rbac/$(basename "$f")"
done
check "charts/gridshift-agent/files/crds = crds/carbonawarekedascalers" \
  cmp crds/carbonawarekedascalers.gridshift.io.yaml charts/gridshift-agent/files/crds/carbonawarekedascalers.gridshift.io.yaml
check "charts/gridshift-hub/karmada/crds = crds/carbonawarekarmadapolicies" \
  cmp crds/carbonawarekarmadapolicies.gridshift.io.yaml charts/gridshift-hub/karmada/crds/carbonawarekarmadapolicies.gridshift.io.yaml
# (refresh with: e2e/charts/sync.sh)

echo "== sample CRs (examples/) against the CRD schemas"
mapfile -t samples < <(find examples -name '*.yaml' | sort)
check "examples/ validate (${#samples[@]} files)" validate "${samples[@]}"
sed 's/desiredClusters: 1/desiredClusters: 0/' examples/karmada/carbonawarekarmadapolicy.yaml >"$out/bad-cr.yaml"
check_fails "a CR breaking its CRD schema is caught" "less than the minimum" validate "$out/bad-cr.yaml"

echo "== shellcheck"
mapfile -t scripts < <(git ls-files --cached --others --exclude-standard '*.sh' .ci/run | sort)
check "shellcheck (${#scripts[@]} scripts)" "$py/shellcheck" --severity=style --external-sources "${scripts[@]}"
# shellcheck disable=SC2016 # the $1 is meant literally
printf '#!/usr/bin/env bash\necho $1\n' >"$out/bad.sh"
check_fails "shellcheck catches an unquoted expansion" "SC2086" "$py/shellcheck" "$out/bad.sh"

echo "charts: $passed passed, $failures failed"
[[ "$failures" -eq 0 ]]
