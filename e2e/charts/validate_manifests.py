"""Validates Kubernetes manifests, strictly (unknown fields are errors).

Built-in kinds go through kubernetes-validate (the library behind the
`kubernetes-validate --strict` command) against Kubernetes 1.33's schemas.
Custom resources go through the openAPIV3Schema of their CRD, taken from the
CRD manifests given with --crds (ours in crds/, Karmada's and KEDA's in
e2e/crds/, and the schemas we keep for optional kinds in e2e/charts/schemas/),
made strict the way `kubectl apply --validate=strict` is: a field the schema
does not declare is an error, not silently pruned. A kind that neither knows
fails: nothing passes unvalidated.

usage: validate_manifests.py [--crds DIR]... FILE...   (FILE may be - for stdin)
"""

import argparse
import pathlib
import sys

import jsonschema
import kubernetes_validate
import yaml

K8S_VERSION = "1.33.0"


def strict_schema(s):
    """A CRD structural schema as a JSON schema that rejects unknown fields."""
    if not isinstance(s, dict):
        return s
    s = dict(s)
    if s.pop("x-kubernetes-int-or-string", False):
        return {"anyOf": [{"type": "integer"}, {"type": "string"}]}
    preserve = s.pop("x-kubernetes-preserve-unknown-fields", False)
    for key in [k for k in s if k.startswith("x-kubernetes-")]:
        del s[key]
    if s.pop("nullable", False) and "type" in s:
        s["type"] = [s["type"], "null"]
    if "properties" in s:
        s["properties"] = {k: strict_schema(v) for k, v in s["properties"].items()}
        if "additionalProperties" not in s and not preserve:
            s["additionalProperties"] = False
    if isinstance(s.get("additionalProperties"), dict):
        s["additionalProperties"] = strict_schema(s["additionalProperties"])
    if "items" in s:
        s["items"] = strict_schema(s["items"])
    for key in ("allOf", "anyOf", "oneOf"):
        if key in s:
            s[key] = [strict_schema(x) for x in s[key]]
    return s


def load_crd_schemas(dirs):
    """(apiVersion, kind) -> strict JSON schema, for every served version."""
    out = {}
    for d in dirs:
        for path in sorted(pathlib.Path(d).glob("*.yaml")):
            for doc in yaml.safe_load_all(path.read_text()):
                if not doc or doc.get("kind") != "CustomResourceDefinition":
                    continue
                spec = doc["spec"]
                for v in spec["versions"]:
                    schema = strict_schema(v["schema"]["openAPIV3Schema"])
                    props = schema.setdefault("properties", {})
                    # The API server owns these; the CRD schema need not list them.
                    props.setdefault("apiVersion", {"type": "string"})
                    props.setdefault("kind", {"type": "string"})
                    props["metadata"] = {"type": "object"}
                    key = (f"{spec['group']}/{v['name']}", spec["names"]["kind"])
                    out[key] = schema
    return out


def documents(name):
    text = sys.stdin.read() if name == "-" else pathlib.Path(name).read_text()
    for i, doc in enumerate(yaml.safe_load_all(text)):
        if doc:
            yield i, doc


def validate(doc, crds):
    """Error messages for one object (empty when valid)."""
    key = (doc.get("apiVersion", ""), doc.get("kind", ""))
    if key in crds:
        v = jsonschema.Draft7Validator(crds[key])
        return [f"{'.'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in v.iter_errors(doc)]
    try:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    except kubernetes_validate.SchemaNotFoundError:
        return [f"no schema for {key[0]} {key[1]}: add its CRD to a --crds directory"]
    except kubernetes_validate.ValidationError as e:
        path = ".".join(map(str, e.path)) or "<root>"
        return [f"{path}: {e.message}"]
    return []


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--crds", action="append", default=[])
    ap.add_argument("files", nargs="+")
    args = ap.parse_args()
    crds = load_crd_schemas(args.crds)
    failed = checked = 0
    for name in args.files:
        for i, doc in documents(name):
            checked += 1
            meta = doc.get("metadata") or {}
            what = f"{name}[{i}] {doc.get('kind')}/{meta.get('name')}"
            errors = validate(doc, crds)
            if errors:
                failed += 1
                for e in errors:
                    print(f"INVALID {what}: {e}", file=sys.stderr)
    if checked == 0:
        print("no objects to validate", file=sys.stderr)
        return 1
    print(f"validated {checked} object(s), {failed} invalid")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
