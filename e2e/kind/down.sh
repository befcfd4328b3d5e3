#!/usr/bin/env bash
# Tears the kind demo down: deletes the four clusters and the demo's state
# (kubeconfigs, certificates) under ~/.cache/gridshift/kind. Tools stay cached.
set -euo pipefail
# shellcheck source=e2e/kind/lib.sh
source "$(dirname "$0")/lib.sh"
need docker
kind="$tools/kind-$KIND_VERSION"
command -v "$kind" >/dev/null 2>&1 || kind="$(command -v kind || true)"
[[ -n "$kind" ]] || die "kind not found (nothing was created?)"
for cluster in "$host_cluster" "${members[@]}"; do
  if "$kind" get clusters | grep -qx "$cluster"; then
    "$kind" delete cluster --name "$cluster"
  fi
done
rm -rf "$state"
echo "kind demo removed" >&2
