#!/usr/bin/env bash
# Runs a hub and one agent locally over mutual TLS on replayed 2022 data, with
# simulated time 60x faster, prints what the agent sees, then stops both.
# (Superseded by the offline fleet demo once it exists.)
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release -q -p gridshift-hub -p gridshift-agent -p gridshift-sim
bin="${CARGO_TARGET_DIR:-target}/release"
work="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

# The agent's member cluster: a simulated API server (with the scheduler's Lease namespace).
mkdir -p "$work/manifests"
printf 'apiVersion: v1\nkind: Namespace\nmetadata: {name: gridshift-system}\n' >"$work/manifests/ns.yaml"
coproc SIM { "$bin/gridshift-sim" --listen 127.0.0.1:16443 --kubeconfig-out "$work/member.kubeconfig" \
  --crds e2e/crds --crds crds --crds "$work/manifests" 2>"$work/sim.log"; }
read -r _ _ <&"${SIM[0]}"

"$bin/gridshift-hub" certs init --out "$work/pki" --cluster member-gb >/dev/null
clock=(--clock-start 2022-06-01T00:00:00Z --clock-speed 60)
"$bin/gridshift-hub" serve --listen 127.0.0.1:17443 --ops-listen 127.0.0.1:18080 \
  --tls-cert "$work/pki/hub.crt" --tls-key "$work/pki/hub.key" --tls-client-ca "$work/pki/ca.crt" \
  --carbon-providers replay --replay-dir e2e/data/carbon-intensity-open "${clock[@]}" 2>"$work/hub.log" &
"$bin/gridshift-agent" --cluster-name member-gb --hub-url https://localhost:17443 \
  --tls-ca "$work/pki/ca.crt" --tls-cert "$work/pki/member-gb.crt" --tls-key "$work/pki/member-gb.key" \
  --node-zone GB --ops-listen 127.0.0.1:18081 --kubeconfig "$work/member.kubeconfig" \
  "${clock[@]}" 2>"$work/agent.log" &

for _ in $(seq 1 50); do
  if curl -sf 127.0.0.1:18081/metrics 2>/dev/null | grep -q '^gridshift_agent_hub_connected 1'; then
    break
  fi
  sleep 0.2
done
echo "== agent metrics (member-gb, zone GB)"
curl -s 127.0.0.1:18081/metrics | grep '^gridshift_agent'
echo "== hub metrics"
curl -s 127.0.0.1:18080/metrics | grep -E '^gridshift_(hub_connected|hub_agent|carbon_intensity)'
echo "== kube-system/carbon-intensity (data keys; binaryData.data is the forecast)"
curl -s 127.0.0.1:16443/api/v1/namespaces/kube-system/configmaps/carbon-intensity | grep -E '"(lastHeartbeatTime|message|numOfRecords|forecastDateTime|minForecast|maxForecast)"'
