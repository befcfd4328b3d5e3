#!/usr/bin/env bash
# Runs every check and test: formatting, clippy (-D warnings), the whole test
# suite. This is the README's test command and what CI runs (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
# An anyhow error in a failing test prints its message and causes, not a
# backtrace that pushes them out of a CI log's tail (panics keep RUST_BACKTRACE).
export RUST_LIB_BACKTRACE="${RUST_LIB_BACKTRACE:-0}"

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== the decisions stay pure (cargo tree of gridshift-core and gridshift-whatif)"
bash e2e/check-deps.sh
echo "== cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo test"
cargo test --workspace --all-targets --locked
echo "== charts (helm lint/template, schema validation, RBAC, shellcheck)"
bash e2e/charts/check.sh
echo "== chart flags against the binaries' --help"
bash e2e/charts/check-flags.sh
