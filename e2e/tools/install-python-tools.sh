#!/usr/bin/env bash
# Installs the pinned Python tools of the chart checks (kubernetes-validate,
# jsonschema, PyYAML, shellcheck) into a venv in the tools cache and prints
# the venv's bin directory. Idempotent and offline after the first run: a venv
# is keyed by the hash of the requirements file and reused while it matches.
#
#   GRIDSHIFT_TOOLS_DIR  cache directory (default ~/.cache/gridshift/tools)
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
requirements="$here/../charts/requirements.txt"
dir="${GRIDSHIFT_TOOLS_DIR:-$HOME/.cache/gridshift/tools}"
hash="$(sha256sum "$requirements" | cut -c1-12)"
venv="$dir/python-$hash"

if [[ -f "$venv/.complete" ]]; then
  echo "$venv/bin"
  exit 0
fi

command -v python3 >/dev/null 2>&1 || { echo "python3 is needed for the chart checks" >&2; exit 1; }
mkdir -p "$dir"
# A venv cannot be moved (its scripts hold its absolute path), so concurrent
# runs take a lock and the venv counts only once .complete exists.
exec 9>"$dir/.python.lock"
flock 9
if [[ ! -f "$venv/.complete" ]]; then
  rm -rf "$venv"
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements" >&2
  touch "$venv/.complete"
fi
echo "$venv/bin"
