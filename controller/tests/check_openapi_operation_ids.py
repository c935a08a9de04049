#!/usr/bin/env python3
"""Every operation of controller/openapi.json has an operationId: present, camelCase
(^[a-z][a-zA-Z0-9]*$) and unique. Client generators name their methods after it, so a route
added without one (on any branch) fails here, without needing npm. Exit 0 when all hold, 1
listing each operation that breaks a rule."""
import argparse
import json
import re
import sys

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
CAMEL = re.compile(r"^[a-z][a-zA-Z0-9]*$")


def problems(doc):
    seen = {}
    out = []
    count = 0
    for path, item in doc.get("paths", {}).items():
        for method in METHODS:
            op = item.get(method)
            if op is None:
                continue
            count += 1
            where = f"{method.upper()} {path}"
            oid = op.get("operationId")
            if not oid:
                out.append(f"{where}: no operationId (add a camelCase one, e.g. getBox)")
                continue
            if not CAMEL.match(oid):
                out.append(f"{where}: operationId {oid!r} is not camelCase ([a-z][a-zA-Z0-9]*)")
            if oid in seen:
                out.append(f"{where}: operationId {oid!r} is also used by {seen[oid]}")
            else:
                seen[oid] = where
    return count, out


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("openapi", help="the OpenAPI document (JSON)")
    args = parser.parse_args()
    with open(args.openapi, encoding="utf-8") as f:
        doc = json.load(f)
    count, found = problems(doc)
    for p in found:
        print(f"{args.openapi}: {p}", file=sys.stderr)
    if count == 0:
        print(f"{args.openapi}: no operations found", file=sys.stderr)
        return 1
    if found:
        print(f"{len(found)} problem(s) in {count} operations", file=sys.stderr)
        return 1
    print(f"{count} operations, each with a unique camelCase operationId")
    return 0


if __name__ == "__main__":
    sys.exit(main())
