#!/usr/bin/env bash
# The decisions stay pure: gridshift-core (every decision) and gridshift-whatif (the
# simulator over them) pull in no Kubernetes client, gRPC, HTTP client or server.
# gridshift-core carries no Kubernetes types at all, and tokio only for time and sync.
set -euo pipefail
cd "$(dirname "$0")/.."

network='^(kube|kube-client|kube-runtime|kube-lease-manager|tonic|tonic-[a-z-]+|reqwest|axum|axum-core|hyper|hyper-util|h2|rustls|tokio-rustls|mio)$'
kubernetes_types='^(k8s-openapi|kube-core|kube-derive)$'
status=0

# Every package in the normal and build dependency tree of $1, one name per line.
packages() {
    cargo tree --locked -p "$1" -e normal,build --prefix none --format '{p}' |
        sed 's/ (\*)//; s/ (proc-macro)//; s/ v[0-9].*//' | sort -u
}

# Fails when a package of $1's tree matches $2 (what $3 names).
refuse() {
    local found
    found=$(packages "$1" | grep -E "$2" || true)
    if [ -n "$found" ]; then
        echo "FAIL: $1 depends on $3: $(echo "$found" | tr '\n' ' ')"
        status=1
    else
        echo "ok: $1 ($(packages "$1" | wc -l | tr -d ' ') crates) has no $3"
    fi
}

refuse gridshift-core "$network" "client, server or network stack"
refuse gridshift-core "$kubernetes_types" "Kubernetes types"
refuse gridshift-whatif "$network" "client, server or network stack"
# tokio under the decisions: time and sync only (mio, refused above, is its I/O driver).
if cargo tree --locked -p gridshift-core -e normal,features --prefix none -i tokio |
    grep -qE 'tokio feature "(net|process|fs|signal|io-util|rt-multi-thread)"'; then
    echo "FAIL: gridshift-core turns on tokio's I/O features"
    status=1
else
    echo "ok: gridshift-core uses tokio for time and sync only"
fi
# The check itself can see a forbidden dependency: the hub has them all.
if [ -z "$(packages gridshift-hub | grep -E "$network" || true)" ]; then
    echo "FAIL: the check finds no network crate even in gridshift-hub"
    status=1
fi
exit $status
