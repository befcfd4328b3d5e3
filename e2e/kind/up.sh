#!/usr/bin/env bash
# The kind demo: a Karmada host and three member clusters in different grid
# zones (kind-configs/), Karmada (its Helm chart) with the members joined,
# KEDA in every member, the Gridshift image built and loaded, certificates
# minted with `gridshift-hub certs init`, both charts installed, the sample
# workloads and CRs of examples/ applied, then e2e/kind/assert.sh.
#
# Needs Docker on Linux (the scripts reach kind nodes by their container IPs)
# and internet access (images, kind, karmadactl, Helm charts). Everything else
# is installed into ~/.cache/gridshift. Re-running is safe: existing clusters
# are reused and releases upgraded. Tear down with e2e/kind/down.sh.
set -euo pipefail
# shellcheck source=e2e/kind/lib.sh
source "$(dirname "$0")/lib.sh"

install_tools
mkdir -p "$state"

log "kind clusters"
for cluster in "$host_cluster" "${members[@]}"; do
  if "$kind" get clusters | grep -qx "$cluster"; then
    echo "  $cluster exists" >&2
  else
    "$kind" create cluster --config "$repo/kind-configs/$cluster.yaml" --wait 120s
  fi
done
host_ip="$(node_ip "$host_cluster")"

log "Karmada $KARMADA_VERSION (Helm chart) on $host_cluster"
"$helm" repo add karmada-charts https://raw.githubusercontent.com/karmada-io/karmada/master/charts --force-update >/dev/null
"$helm" --kube-context "kind-$host_cluster" upgrade --install karmada karmada-charts/karmada \
  --version "$KARMADA_VERSION" --namespace karmada-system --create-namespace --wait --timeout 10m \
  --set apiServer.hostNetwork=false \
  --set apiServer.serviceType=NodePort \
  --set "apiServer.nodePort=$karmada_node_port" \
  --set 'certs.auto.hosts[0]=kubernetes.default.svc' \
  --set 'certs.auto.hosts[1]=*.etcd.karmada-system.svc.cluster.local' \
  --set 'certs.auto.hosts[2]=*.karmada-system.svc.cluster.local' \
  --set 'certs.auto.hosts[3]=*.karmada-system.svc' \
  --set 'certs.auto.hosts[4]=localhost' \
  --set 'certs.auto.hosts[5]=127.0.0.1' \
  --set "certs.auto.hosts[6]=$host_ip"
# The chart's admin kubeconfig, pointed at the NodePort published on localhost.
kc "$host_cluster" -n karmada-system get secret karmada-kubeconfig -o jsonpath='{.data.kubeconfig}' \
  | base64 -d \
  | sed -E "s#server: https://[^[:space:]]+#server: https://127.0.0.1:$karmada_node_port#" >"$karmada_config"
wait_until 300 "Karmada API server answers" kk get --raw /readyz

log "join members to Karmada (push mode)"
for member in "${members[@]}"; do
  # Karmada's controllers reach each member at its node IP on the kind network.
  "$kind" get kubeconfig --name "$member" --internal \
    | sed -E "s#server: https://$member-control-plane:6443#server: https://$(node_ip "$member"):6443#" \
      >"$state/$member.config"
  if kk get cluster "$member" >/dev/null 2>&1; then
    echo "  $member already joined" >&2
  else
    "$karmadactl" join "$member" --kubeconfig "$karmada_config" --cluster-kubeconfig "$state/$member.config"
  fi
done
cluster_ready() {
  [[ "$(kk get cluster "$1" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')" == True ]]
}
for member in "${members[@]}"; do
  wait_until 300 "Karmada reports $member Ready" cluster_ready "$member"
done

log "KEDA $KEDA_CHART_VERSION in every member"
"$helm" repo add kedacore https://kedacore.github.io/charts --force-update >/dev/null
for member in "${members[@]}"; do
  "$helm" --kube-context "kind-$member" upgrade --install keda kedacore/keda \
    --version "$KEDA_CHART_VERSION" --namespace keda --create-namespace --wait --timeout 10m
done

log "build $IMAGE and load it into every cluster"
docker build -t "$IMAGE" "$repo"
for cluster in "$host_cluster" "${members[@]}"; do
  "$kind" load docker-image "$IMAGE" --name "$cluster"
done

log "certificates (gridshift-hub certs init)"
pki="$state/pki"
if [[ ! -f "$pki/ca.crt" ]]; then
  mkdir -p "$pki"
  docker run --rm --user "$(id -u):$(id -g)" -v "$pki:/pki" "$IMAGE" certs init --out /pki \
    --hub-host "gridshift-hub.karmada-system.svc" --hub-host "$host_ip" --hub-host localhost \
    "${members[@]/#/--cluster=}"
fi

log "the hub's side of Karmada: CRD, least-privilege RBAC, kubeconfig Secret"
chart_hub="$repo/charts/gridshift-hub"
kk apply -f "$chart_hub/karmada/crds/"
kk apply -f "$chart_hub/karmada/rbac.yaml"
KUBECTL="$kubectl" bash "$chart_hub/karmada/make-kubeconfig.sh" \
  --karmada-kubeconfig "$karmada_config" \
  --server https://karmada-apiserver.karmada-system.svc.cluster.local:5443 \
  --host-context "kind-$host_cluster" --secret gridshift-hub-karmada

log "hub chart on $host_cluster"
kc "$host_cluster" -n karmada-system create secret generic gridshift-hub-tls \
  --from-file=tls.crt="$pki/hub.crt" --from-file=tls.key="$pki/hub.key" --from-file=ca.crt="$pki/ca.crt" \
  --dry-run=client -o yaml | kc "$host_cluster" apply -f -
image_repo="${IMAGE%:*}"
image_tag="${IMAGE##*:}"
"$helm" --kube-context "kind-$host_cluster" upgrade --install gridshift-hub "$chart_hub" \
  --namespace karmada-system --wait --timeout 5m \
  --set image.repository="$image_repo" --set image.tag="$image_tag" --set image.pullPolicy=Never \
  --set karmada.kubeconfigSecret.name=gridshift-hub-karmada \
  --set grpc.service.type=NodePort --set grpc.service.nodePort="$hub_node_port" \
  --set clock.start="$CLOCK_START" --set clock.speed="$CLOCK_SPEED"

log "agent chart in every member"
for member in "${members[@]}"; do
  kc "$member" create namespace gridshift-system --dry-run=client -o yaml | kc "$member" apply -f -
  kc "$member" -n gridshift-system create secret generic gridshift-agent-tls \
    --from-file=tls.crt="$pki/$member.crt" --from-file=tls.key="$pki/$member.key" --from-file=ca.crt="$pki/ca.crt" \
    --dry-run=client -o yaml | kc "$member" apply -f -
  "$helm" --kube-context "kind-$member" upgrade --install gridshift-agent "$repo/charts/gridshift-agent" \
    --namespace gridshift-system --wait --timeout 5m \
    --set image.repository="$image_repo" --set image.tag="$image_tag" --set image.pullPolicy=Never \
    --set clusterName="$member" \
    --set hub.url="https://$host_ip:$hub_node_port" \
    --set "nodeZones={${grid_zone[$member]}}" \
    --set clock.start="$CLOCK_START" --set clock.speed="$CLOCK_SPEED"
done

log "sample workloads and CRs (examples/)"
kk apply -f "$repo/examples/karmada/workload.yaml"
kk apply -f "$repo/examples/karmada/carbonawarekarmadapolicy.yaml"
for member in "${members[@]}"; do
  kc "$member" apply -f "$repo/examples/member/keda.yaml"
  kc "$member" apply -f "$repo/examples/member/scheduled-job.yaml"
done

bash "$repo/e2e/kind/assert.sh"
cat >&2 <<MSG

The demo is up. Look around:
  kubectl --kubeconfig $karmada_config get carbonawarekarmadapolicies -A -o yaml
  kubectl --context kind-member-gb -n kube-system get configmap carbon-intensity -o yaml
  kubectl --context kind-member-gb -n carbon-demo get carbonawarekedascalers,scaledobjects
Tear down: bash e2e/kind/down.sh
MSG
