#!/usr/bin/env bash
# Refreshes the copies the charts carry (Helm reads only files inside a chart):
# the RBAC rules from docs/rbac/ and the CRDs from crds/. check.sh fails while
# a copy differs from its source. The Karmada-side rules in
# charts/gridshift-hub/karmada/rbac.yaml are a manifest, edited by hand.
set -euo pipefail
cd "$(dirname "$0")/../.."
cp docs/rbac/agent-configmap-keda.yaml docs/rbac/agent-scheduler.yaml charts/gridshift-agent/rbac/
cp crds/carbonawarekedascalers.gridshift.io.yaml charts/gridshift-agent/files/crds/
cp crds/carbonawarekarmadapolicies.gridshift.io.yaml charts/gridshift-hub/karmada/crds/
echo "chart copies refreshed; review with git diff charts/"
