#!/usr/bin/env bash
# The decisions stay pure: gridshift-core (every decision) and gridshift-whatif (the
# simulator over them) must not pull in the Kubernetes client, gRPC, HTTP clients or
# servers. gridshift-core carries no Kubernetes types at all, and no networking tokio.
set -euo pipefail
cd "$(dirname "$0")/.."

forbidden_everywhere='^(kube|kube-client|kube-runtime|kube-lease-manager|tonic|tonic-[a-z-]+|reqwest|axum|axum-core|hyper|hyper-util|h2|rustls|tokio-rustls)$'
core_only='^(k8s-openapi|kube-core|kube-derive|schemars)$'
status=0

packages() {
    # Every package in the normal+build dependency tree of $1, one name per line.
    cargo tree --locked -p "$1" -e normal,build --prefix none --format '{p}' |
        sed 's/ (\*)//; s/ (proc-macro)//; s/ v[0-9].*//' | sort -u
}

check() {
    local crate=$1 pattern=$2
    local found
    found=$(packages "$crate" | grep -E "$pattern" || true)
    if [ -n "$found" ]; then
        echo "FAIL: $crate depends on: $(echo "$found" | tr '\n' ' ')"
        status=1
    else
        echo "ok: $crate ($(packages "$crate" | wc -l) crates) is free of them"
    fi
}

check gridshift-core "$forbidden_everywhere"
check gridshift-core "$core_only"
check gridshift-whatif "$forbidden_everywhere"
# tokio without its networking, process or filesystem parts under the decisions.
net=$(cargo tree --locked -p gridshift-core -e features -i tokio --prefix none 2>/dev/null |
    grep -E 'tokio feature "(net|process|fs|io-util|rt-multi-thread|signal)"' | grep -v 'dev-dependencies' || true)
if cargo tree --locked -p gridshift-core -e normal,features -i tokio --prefix none 2>/dev/null |
    grep -qE 'tokio feature "(net|process|fs|signal)"'; then
    echo "FAIL: gridshift-core enables tokio I/O features: $net"
    status=1
else
    echo "ok: gridshift-core uses tokio's time and sync only"
fi
exit $status
