"""Compares the RBAC a manifest grants with the rules the code needs.

The code's needs are docs/rbac/*.yaml (lists of PolicyRules, written by the
controllers' authors). Every (apiGroup, resource, verb) in them must be granted
by a ClusterRole or Role of the manifest and nothing else may be: a missing
verb fails (the controller would get 403), and so does an extra one (least
privilege). Roles may hold only the namespaced rules the charts place in them
(configmaps, leases).

usage: compare_rbac.py --needs docs/rbac/x.yaml [--needs ...] MANIFEST
"""

import argparse
import pathlib
import sys

import yaml

ROLE_RESOURCES = {"configmaps", "leases"}


def triples(rules):
    out = set()
    for r in rules or []:
        for g in r.get("apiGroups", []):
            for res in r.get("resources", []):
                for v in r.get("verbs", []):
                    out.add((g, res, v))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--needs", action="append", required=True)
    ap.add_argument("manifest")
    args = ap.parse_args()
    needed = set()
    for path in args.needs:
        needed |= triples(yaml.safe_load(pathlib.Path(path).read_text()))
    granted = set()
    problems = []
    text = sys.stdin.read() if args.manifest == "-" else pathlib.Path(args.manifest).read_text()
    for doc in yaml.safe_load_all(text):
        if not doc or doc.get("kind") not in ("ClusterRole", "Role"):
            continue
        got = triples(doc.get("rules"))
        granted |= got
        if doc["kind"] == "Role":
            stray = {t for t in got if t[1] not in ROLE_RESOURCES}
            if stray:
                problems.append(f"Role {doc['metadata']['name']} holds cluster-wide rules {sorted(stray)}")
    for g, res, v in sorted(needed - granted):
        problems.append(f"missing: verb {v!r} on {res!r} in group {g!r}")
    for g, res, v in sorted(granted - needed):
        problems.append(f"not needed by the code: verb {v!r} on {res!r} in group {g!r}")
    for p in problems:
        print(f"RBAC {args.manifest}: {p}", file=sys.stderr)
    if not problems:
        print(f"RBAC {args.manifest}: {len(granted)} grants match {', '.join(args.needs)}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
