#!/usr/bin/env python3
"""Validates rendered Kubernetes manifests (`kubectl kustomize` output, one or more files of YAML
documents) against the vendored schemas (schemas/kubernetes-subset.json, see schemas/README.md)
and checks the rules of this deployment that a schema cannot express:

  - every object is of a kind the subset knows (a new kind needs its schema first);
  - the internal listener (port 8081) is only behind ClusterIP Services and no Ingress routes to
    it; no Service is NodePort or LoadBalancer;
  - the controller has a readiness probe on /readyz and a liveness probe on /healthz;
  - every container (init containers too) requests CPU and memory and runs as non-root with no
    privilege escalation;
  - the PodDisruptionBudget, the HorizontalPodAutoscaler and the Services select or target the
    controller's StatefulSet.

Exit 0 when everything holds; 1 listing each problem with the object's kind/name."""
import argparse
import json
import sys

import jsonschema
import yaml

INTERNAL_PORT = 8081


def load_docs(paths):
    docs = []
    for path in paths:
        with open(path, encoding="utf-8") as f:
            for doc in yaml.safe_load_all(f):
                if doc is not None:
                    docs.append((path, doc))
    return docs


def ident(doc):
    return f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"


def schema_problems(docs, subset):
    by_kind = {(k["apiVersion"], k["kind"]): k["definition"] for k in subset["kinds"]}
    out = []
    for path, doc in docs:
        key = (doc.get("apiVersion"), doc.get("kind"))
        if key not in by_kind:
            out.append(f"{path}: {ident(doc)}: {key[0]} {key[1]} is not in the vendored schema "
                       "subset (add it to schemas/generate_schemas.py and regenerate)")
            continue
        schema = {"$ref": "#/definitions/" + by_kind[key], "definitions": subset["definitions"]}
        validator = jsonschema.Draft7Validator(schema)
        for error in sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path)):
            where = "/".join(str(p) for p in error.absolute_path) or "(top)"
            out.append(f"{path}: {ident(doc)}: {where}: {error.message}")
    return out


def containers_of(spec):
    return spec.get("initContainers", []) + spec.get("containers", [])


def port_number(container_ports, port):
    if isinstance(port, int):
        return port
    for p in container_ports:
        if p.get("name") == port:
            return p.get("containerPort")
    return None


def rule_problems(docs):
    out = []
    objs = [d for _, d in docs]
    sets = [d for d in objs if d["kind"] == "StatefulSet"]
    if len(sets) != 1:
        return [f"expected one StatefulSet (the controller), found {len(sets)}"]
    sts = sets[0]
    pod = sts["spec"]["template"]
    labels = pod["metadata"].get("labels", {})
    pod_ports = [p for c in pod["spec"]["containers"] for p in c.get("ports", [])]

    def selects(selector):
        return bool(selector) and all(labels.get(k) == v for k, v in selector.items())

    if not selects(sts["spec"]["selector"].get("matchLabels", {})):
        out.append(f"{ident(sts)}: selector does not match its own pod template's labels")
    controller = next((c for c in pod["spec"]["containers"] if c.get("name") == "controller"), None)
    if controller is None:
        out.append(f"{ident(sts)}: no container named controller")
    else:
        ready = controller.get("readinessProbe", {}).get("httpGet", {}).get("path")
        live = controller.get("livenessProbe", {}).get("httpGet", {}).get("path")
        if ready != "/readyz":
            out.append(f"{ident(sts)}: readiness probe must GET /readyz (has {ready})")
        if live != "/healthz":
            out.append(f"{ident(sts)}: liveness probe must GET /healthz (has {live})")
    for obj in [d for d in objs if d["kind"] in ("StatefulSet", "Job")]:
        spec = obj["spec"]["template"]["spec"]
        sc = spec.get("securityContext", {})
        for c in containers_of(spec):
            req = c.get("resources", {}).get("requests", {})
            for r in ("cpu", "memory"):
                if r not in req:
                    out.append(f"{ident(obj)}: container {c.get('name')} requests no {r}")
            csc = c.get("securityContext", {})
            if not (csc.get("runAsNonRoot") or sc.get("runAsNonRoot")):
                out.append(f"{ident(obj)}: container {c.get('name')} may run as root")
            if csc.get("allowPrivilegeEscalation", True):
                out.append(f"{ident(obj)}: container {c.get('name')} allows privilege escalation")

    internal_services = set()
    for svc in [d for d in objs if d["kind"] == "Service"]:
        spec = svc["spec"]
        kind = spec.get("type", "ClusterIP")
        if kind not in ("ClusterIP",):
            out.append(f"{ident(svc)}: type {kind}; only ClusterIP Services (expose the public "
                       "port through an Ingress or the nginx front)")
        if not selects(spec.get("selector", {})):
            out.append(f"{ident(svc)}: selects no controller pod")
        for p in spec.get("ports", []):
            if port_number(pod_ports, p.get("targetPort", p.get("port"))) == INTERNAL_PORT:
                internal_services.add(svc["metadata"]["name"])
    for ing in [d for d in objs if d["kind"] == "Ingress"]:
        backends = []
        spec = ing["spec"]
        if "defaultBackend" in spec:
            backends.append(spec["defaultBackend"])
        for rule in spec.get("rules", []):
            backends += [p["backend"] for p in rule.get("http", {}).get("paths", [])]
        for b in backends:
            name = b.get("service", {}).get("name")
            if name in internal_services:
                out.append(f"{ident(ing)}: routes to {name}, which serves the internal listener; "
                           "the internal API is never exposed")
    for pdb in [d for d in objs if d["kind"] == "PodDisruptionBudget"]:
        if not selects(pdb["spec"].get("selector", {}).get("matchLabels", {})):
            out.append(f"{ident(pdb)}: does not select the controller's pods")
    for hpa in [d for d in objs if d["kind"] == "HorizontalPodAutoscaler"]:
        ref = hpa["spec"]["scaleTargetRef"]
        if (ref.get("kind"), ref.get("name")) != ("StatefulSet", sts["metadata"]["name"]):
            out.append(f"{ident(hpa)}: scales {ref.get('kind')}/{ref.get('name')}, not "
                       f"{ident(sts)}")
        if hpa["spec"].get("minReplicas", 1) > hpa["spec"]["maxReplicas"]:
            out.append(f"{ident(hpa)}: minReplicas above maxReplicas")
    for kind in ("Service", "PodDisruptionBudget", "HorizontalPodAutoscaler", "Job"):
        if not any(d["kind"] == kind for d in objs):
            out.append(f"no {kind} rendered")
    return out


# Breakages the checks must catch, applied one at a time to a copy of the first manifest file
# (--self-test): proof that the validation is not vacuous.
def _sts(docs):
    return next(d for d in docs if d["kind"] == "StatefulSet")


def _svc(docs, name):
    return next(d for d in docs if d["kind"] == "Service" and d["metadata"]["name"] == name)


def _controller(docs):
    return _sts(docs)["spec"]["template"]["spec"]["containers"][0]


BREAKAGES = {
    "a misspelt field": lambda d: _controller(d).update(readinessProbes=_controller(d)["readinessProbe"]),
    "a string where an integer belongs": lambda d: _sts(d)["spec"].update(replicas="two"),
    "a container without its required name": lambda d: _controller(d).pop("name"),
    "an unknown kind": lambda d: d.append({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"}}),
    "the internal Service as NodePort": lambda d: _svc(d, "reclothes-controller-internal")["spec"].update(type="NodePort"),
    "a liveness probe on /readyz": lambda d: _controller(d)["livenessProbe"]["httpGet"].update(path="/readyz"),
    "no memory request": lambda d: _controller(d)["resources"]["requests"].pop("memory"),
    "an Ingress to the internal listener": lambda d: d.append({
        "apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "bad"},
        "spec": {"rules": [{"http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": {
            "service": {"name": "reclothes-controller-internal", "port": {"number": 8081}}}}]}}]}}),
}


def self_test(path, subset):
    import copy
    base = [d for _, d in load_docs([path])]
    clean = schema_problems([(path, d) for d in base], subset) + rule_problems([(path, d) for d in base])
    if clean:
        print("self-test: the unmodified manifests already have problems", file=sys.stderr)
        return 1
    failed = 0
    for what, breakage in BREAKAGES.items():
        docs = copy.deepcopy(base)
        breakage(docs)
        found = schema_problems([(path, d) for d in docs], subset) + rule_problems([(path, d) for d in docs])
        if found:
            print(f"self-test: {what}: caught ({found[0]})")
        else:
            print(f"self-test: {what}: NOT caught", file=sys.stderr)
            failed += 1
    return 1 if failed else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--schemas", required=True, help="schemas/kubernetes-subset.json")
    parser.add_argument("--self-test", action="store_true",
                        help="also break a copy of the first file in known ways and require "
                             "each breakage to be reported")
    parser.add_argument("manifests", nargs="+", help="rendered YAML files (kubectl kustomize)")
    args = parser.parse_args()
    with open(args.schemas, encoding="utf-8") as f:
        subset = json.load(f)
    if args.self_test and self_test(args.manifests[0], subset) != 0:
        return 1
    problems = []
    for path in args.manifests:
        docs = load_docs([path])
        if not docs:
            problems.append(f"{path}: no objects")
            continue
        problems += schema_problems(docs, subset)
        problems += [f"{path}: {p}" for p in rule_problems(docs)]
        print(f"{path}: {len(docs)} objects: " +
              ", ".join(sorted(ident(d) for _, d in docs)))
    for p in problems:
        print(p, file=sys.stderr)
    if problems:
        print(f"{len(problems)} problem(s)", file=sys.stderr)
        return 1
    print("every object validates against the Kubernetes schemas and the deployment's rules")
    return 0


if __name__ == "__main__":
    sys.exit(main())
