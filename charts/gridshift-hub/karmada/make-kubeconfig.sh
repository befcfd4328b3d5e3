#!/usr/bin/env bash
# Builds a kubeconfig for the hub's least-privilege identity in the Karmada API
# server (the ServiceAccount and token Secret from rbac.yaml, applied first)
# and stores it as a Secret on the host cluster, where the hub chart mounts it
# (karmada.kubeconfigSecret).
#
#   make-kubeconfig.sh --karmada-kubeconfig FILE --server URL \
#       [--host-kubeconfig FILE] [--host-context NAME] [--namespace karmada-system] \
#       [--secret gridshift-hub-karmada] [--key kubeconfig]
#
# --server is the Karmada API server as the hub's pod reaches it, e.g.
# https://karmada-apiserver.karmada-system.svc.cluster.local:5443.
set -euo pipefail

karmada_kubeconfig=""
server=""
host_args=()
namespace="karmada-system"
secret="gridshift-hub-karmada"
key="kubeconfig"
kubectl="${KUBECTL:-kubectl}"

usage() { sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --karmada-kubeconfig) karmada_kubeconfig="$2"; shift 2 ;;
    --server) server="$2"; shift 2 ;;
    --host-kubeconfig) host_args+=(--kubeconfig "$2"); shift 2 ;;
    --host-context) host_args+=(--context "$2"); shift 2 ;;
    --namespace) namespace="$2"; shift 2 ;;
    --secret) secret="$2"; shift 2 ;;
    --key) key="$2"; shift 2 ;;
    -h|--help) usage 0 ;;
    *) echo "unknown argument: $1" >&2; usage 2 ;;
  esac
done
[[ -n "$karmada_kubeconfig" && -n "$server" ]] || usage 2

karmada() { "$kubectl" --kubeconfig "$karmada_kubeconfig" "$@"; }

# The token controller fills the Secret shortly after it is created.
token=""
for _ in $(seq 1 60); do
  token="$(karmada -n karmada-system get secret gridshift-hub-token -o jsonpath='{.data.token}' 2>/dev/null || true)"
  [[ -n "$token" ]] && break
  sleep 1
done
if [[ -z "$token" ]]; then
  echo "karmada-system/gridshift-hub-token has no token after 60 s: was rbac.yaml applied to the Karmada API server?" >&2
  exit 1
fi
ca="$(karmada -n karmada-system get secret gridshift-hub-token -o jsonpath='{.data.ca\.crt}')"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cat >"$work/kubeconfig" <<YAML
apiVersion: v1
kind: Config
clusters:
  - name: karmada-apiserver
    cluster:
      server: ${server}
      certificate-authority-data: ${ca}
users:
  - name: gridshift-hub
    user:
      token: $(printf '%s' "$token" | base64 -d)
contexts:
  - name: gridshift-hub@karmada-apiserver
    context:
      cluster: karmada-apiserver
      user: gridshift-hub
current-context: gridshift-hub@karmada-apiserver
YAML

"$kubectl" "${host_args[@]}" -n "$namespace" create secret generic "$secret" \
  --from-file="$key=$work/kubeconfig" --dry-run=client -o yaml \
  | "$kubectl" "${host_args[@]}" apply -f -
echo "host Secret $namespace/$secret (key $key) holds the hub's Karmada kubeconfig;"
echo "install the chart with --set karmada.kubeconfigSecret.name=$secret"
