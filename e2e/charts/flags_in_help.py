"""Checks that every flag and GRIDSHIFT_* variable a rendered chart passes to
a binary is one the binary declares (its --help text), so a renamed or
missing flag is caught before a pod crash-loops on it.

usage: flags_in_help.py --bin NAME=HELPFILE [--bin ...] MANIFEST...
(NAME is the binary's file name, e.g. gridshift-hub; HELPFILE its --help
output, for the hub `gridshift-hub serve --help`.)
"""

import argparse
import pathlib
import re
import sys

import yaml


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", action="append", required=True)
    ap.add_argument("manifests", nargs="+")
    args = ap.parse_args()
    helps = {}
    for b in args.bin:
        name, path = b.split("=", 1)
        helps[name] = pathlib.Path(path).read_text()
    problems, checked = [], 0
    for manifest in args.manifests:
        for doc in yaml.safe_load_all(pathlib.Path(manifest).read_text()):
            if not doc or doc.get("kind") != "Deployment":
                continue
            for c in doc["spec"]["template"]["spec"]["containers"]:
                binary = pathlib.PurePosixPath((c.get("command") or [""])[0]).name
                if binary not in helps:
                    continue
                text = helps[binary]
                for arg in c.get("args", []):
                    if not arg.startswith("--"):
                        continue
                    flag = arg.split("=", 1)[0]
                    checked += 1
                    if not re.search(r"(^|[\s,])" + re.escape(flag) + r"([\s=,\[<]|$)", text, re.M):
                        problems.append(f"{manifest}: {binary} has no flag {flag}")
                for env in c.get("env", []):
                    name = env["name"]
                    if not name.startswith("GRIDSHIFT_"):
                        continue
                    checked += 1
                    if f"[env: {name}=" not in text:
                        problems.append(f"{manifest}: {binary} reads no environment variable {name}")
    for p in problems:
        print(p, file=sys.stderr)
    print(f"{checked} flags and variables checked, {len(problems)} unknown")
    return 1 if problems or checked == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
