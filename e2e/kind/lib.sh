#!/usr/bin/env bash
# Shared settings and helpers of the kind demo scripts (sourced, not run).
# shellcheck disable=SC2034 # variables are used by the scripts that source this

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
tools="${GRIDSHIFT_TOOLS_DIR:-$HOME/.cache/gridshift/tools}"
state="${GRIDSHIFT_KIND_DIR:-$HOME/.cache/gridshift/kind}"

KIND_VERSION="${KIND_VERSION:-v0.29.0}"
KARMADA_VERSION="${KARMADA_VERSION:-v1.16.0}"
KEDA_CHART_VERSION="${KEDA_CHART_VERSION:-2.17.0}"
IMAGE="${GRIDSHIFT_IMAGE:-gridshift:dev}"
# Simulated time: replay the 2022 traces from this instant, 60x faster.
CLOCK_START="${GRIDSHIFT_CLOCK_START:-2022-06-01T00:00:00Z}"
CLOCK_SPEED="${GRIDSHIFT_CLOCK_SPEED:-60}"

host_cluster="karmada-host"
members=(member-gb member-nw member-tex)
declare -A grid_zone=([member-gb]=GB [member-nw]=US-NW-BPAT [member-tex]=US-TEX-ERCO)
hub_node_port=30443
karmada_node_port=32443
karmada_config="$state/karmada-apiserver.config"

log() { printf '\n==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

need() {
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool is required (see README: the kind demo)"
  done
}

# kubectl for one kind cluster (context kind-NAME of the default kubeconfig).
kc() { local cluster="$1"; shift; "$kubectl" --context "kind-$cluster" "$@"; }
# kubectl for the Karmada API server.
kk() { "$kubectl" --kubeconfig "$karmada_config" "$@"; }

# wait_until SECONDS DESCRIPTION CMD...: polls CMD every 2 s until it succeeds.
wait_until() {
  local limit="$1" what="$2"; shift 2
  local deadline=$((SECONDS + limit))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      echo "timed out after ${limit}s waiting for: $what" >&2
      "$@" || true
      return 1
    fi
    sleep 2
  done
  echo "  ok: $what" >&2
}

# The container IP of a kind node on the "kind" docker network.
node_ip() {
  docker inspect -f '{{ (index .NetworkSettings.Networks "kind").IPAddress }}' "$1-control-plane"
}

# Installs kind, kubectl, helm and karmadactl into $tools when absent.
install_tools() {
  need docker curl tar
  mkdir -p "$tools"
  bash "$repo/e2e/tools/install-kubectl.sh" >/dev/null
  kubectl="$tools/kubectl"
  helm="$tools/helm"
  local arch
  arch="$(uname -m)"
  case "$arch" in x86_64) arch=amd64 ;; aarch64 | arm64) arch=arm64 ;; esac
  kind="$tools/kind-$KIND_VERSION"
  if [[ ! -x "$kind" ]]; then
    curl -fsSL -o "$kind.tmp" "https://kind.sigs.k8s.io/dl/$KIND_VERSION/kind-linux-$arch"
    chmod +x "$kind.tmp" && mv "$kind.tmp" "$kind"
  fi
  karmadactl="$tools/karmadactl-$KARMADA_VERSION"
  if [[ ! -x "$karmadactl" ]]; then
    local tmp
    tmp="$(mktemp -d)"
    curl -fsSL -o "$tmp/k.tgz" \
      "https://github.com/karmada-io/karmada/releases/download/$KARMADA_VERSION/karmadactl-linux-$arch.tgz"
    tar -xzf "$tmp/k.tgz" -C "$tmp" karmadactl
    mv "$tmp/karmadactl" "$karmadactl"
    rm -rf "$tmp"
  fi
}
