#!/usr/bin/env bash
# Checks the kind demo reaches the outcomes the offline end-to-end test
# asserts, on real clusters: the hub and every agent ready and connected; the
# exporter-format ConfigMap written in every member; the CarbonAwareKarmadaPolicy
# choosing the cleanest cluster, the PropagationPolicy placing the workload
# there (never an empty placement) and Karmada running it there only; each
# CarbonAwareKedaScaler's cap applied to its ScaledObject; the carbon-aware
# scheduler binding (or deferring, with a reason) the demo Job's pod.
# Run after up.sh; exits non-zero on the first unmet outcome.
set -euo pipefail
# shellcheck source=e2e/kind/lib.sh
source "$(dirname "$0")/lib.sh"
kubectl="$tools/kubectl"
[[ -x "$kubectl" && -f "$karmada_config" ]] || die "run e2e/kind/up.sh first"

log "hub and agents are running"
kc "$host_cluster" -n karmada-system rollout status deploy/gridshift-hub --timeout 180s
for member in "${members[@]}"; do
  kc "$member" -n gridshift-system rollout status deploy/gridshift-agent --timeout 180s
done

log "every member has the carbon-intensity ConfigMap (exporter format)"
configmap_has_records() {
  local n
  n="$(kc "$1" -n kube-system get configmap carbon-intensity -o jsonpath='{.data.numOfRecords}')"
  [[ -n "$n" && "$n" -gt 0 ]] && [[ -n "$(kc "$1" -n kube-system get configmap carbon-intensity -o jsonpath='{.binaryData.data}')" ]]
}
for member in "${members[@]}"; do
  wait_until 180 "$member: kube-system/carbon-intensity has forecast records" configmap_has_records "$member"
done

log "the policy places the workload in the cleanest cluster"
policy_ready() {
  [[ "$(kk -n default get carbonawarekarmadapolicy carbon-demo \
    -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')" == True ]]
}
wait_until 300 "CarbonAwareKarmadaPolicy carbon-demo is Ready" policy_ready
active="$(kk -n default get carbonawarekarmadapolicy carbon-demo -o jsonpath='{.status.activeClusters[*]}')"
# status.clusters is sorted cleanest first, invalid ones last.
cleanest="$(kk -n default get carbonawarekarmadapolicy carbon-demo -o jsonpath='{.status.clusters[0].name}')"
valid="$(kk -n default get carbonawarekarmadapolicy carbon-demo -o jsonpath='{.status.clusters[0].isValid}')"
echo "  active: $active; cleanest: $cleanest (valid: $valid)" >&2
[[ "$valid" == true ]] || die "no cluster has valid data (status.clusters[0].isValid=$valid)"
[[ "$active" == "$cleanest" ]] || die "active cluster(s) '$active' are not the cleanest '$cleanest'"

placement_matches() {
  local names
  names="$(kk -n default get propagationpolicy carbon-demo -o jsonpath='{.spec.placement.clusterAffinity.clusterNames[*]}')"
  [[ -n "$names" && "$names" == "$active" ]]
}
wait_until 120 "PropagationPolicy carbon-demo places on '$active' (never empty)" placement_matches

runs_only_in_active() {
  local member
  for member in "${members[@]}"; do
    if [[ " $active " == *" $member "* ]]; then
      kc "$member" -n default get deploy carbon-demo || return 1
    elif kc "$member" -n default get deploy carbon-demo; then
      return 1
    fi
  done
}
wait_until 300 "Karmada runs carbon-demo in '$active' and nowhere else" runs_only_in_active

log "each CarbonAwareKedaScaler caps its ScaledObject"
cap_applied() {
  local applied max
  applied="$(kc "$1" -n carbon-demo get carbonawarekedascaler batch-worker -o jsonpath='{.status.appliedMaxReplicas}')"
  max="$(kc "$1" -n carbon-demo get scaledobject batch-worker -o jsonpath='{.spec.maxReplicaCount}')"
  [[ -n "$applied" && "$applied" == "$max" ]] || return 1
  # One of the CR's buckets (20, 10, 4) or its ecoModeOff cap (20); never below minReplicaCount (1).
  [[ " 20 10 4 " == *" $applied "* ]]
}
for member in "${members[@]}"; do
  wait_until 180 "$member: ScaledObject batch-worker maxReplicaCount = CR's appliedMaxReplicas" cap_applied "$member"
  echo "    $member (${grid_zone[$member]}): maxReplicaCount $(kc "$member" -n carbon-demo get scaledobject batch-worker -o jsonpath='{.spec.maxReplicaCount}'), intensity $(kc "$member" -n carbon-demo get carbonawarekedascaler batch-worker -o jsonpath='{.status.carbonIntensity}')" >&2
done

log "the carbon-aware scheduler binds or defers the Job's pod, with a reason"
scheduled_or_deferred() {
  local pod node reason
  pod="$(kc "$1" -n carbon-demo get pods -l job-name=carbon-batch -o jsonpath='{.items[0].metadata.name}')"
  [[ -n "$pod" ]] || return 1
  node="$(kc "$1" -n carbon-demo get pod "$pod" -o jsonpath='{.spec.nodeName}')"
  if [[ -n "$node" ]]; then
    # Bound by us, not by the default scheduler.
    kc "$1" -n carbon-demo get events --field-selector "involvedObject.name=$pod,reason=Scheduled" \
      -o jsonpath='{.items[*].reportingComponent}{.items[*].source.component}' | grep -q carbon-aware-scheduler
  else
    reason="$(kc "$1" -n carbon-demo get pod "$pod" -o jsonpath='{.status.conditions[?(@.type=="PodScheduled")].reason}')"
    [[ -n "$reason" ]]
  fi
}
for member in "${members[@]}"; do
  wait_until 180 "$member: carbon-batch pod bound by carbon-aware-scheduler or deferred with a reason" \
    scheduled_or_deferred "$member"
done

log "all outcomes met"
