#!/usr/bin/env python3
"""Fails if a source of a layer includes, directly or through our own headers, a header it must not.

The order domain's store and rules (target reclothes_controller_domain) must not see HTTP: not
cpp-httplib, not the controller's router and request types, not the listeners. The check follows
every quoted include through the project's own headers, so an HTTP header pulled in two levels
down is found too, and names the chain that leads to it.

Route files (--routes FILE) are checked the other way: they must run no SQL themselves (no
exec, exec_params, exec1, exec_params1 or exec_prepared call): the store does.

usage: check_domain_layering.py --include-dir DIR ... --forbid NAME ... [--routes FILE ...] SOURCE ...
Exit 0 when clean, 1 with one line per offending chain, 2 on a usage error.
"""
import argparse
import os
import re
import sys

INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')


def resolve(name, quoted, current_dir, include_dirs):
    candidates = ([os.path.join(current_dir, name)] if quoted else []) + [
        os.path.join(d, name) for d in include_dirs
    ]
    for c in candidates:
        if os.path.isfile(c):
            return os.path.normpath(c)
    return None


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--include-dir", action="append", default=[])
    p.add_argument("--forbid", action="append", default=[],
                   help="an include as written (httplib.h) or a path suffix of one of our headers")
    p.add_argument("--routes", action="append", default=[],
                   help="a route file that must run no SQL")
    p.add_argument("sources", nargs="+")
    a = p.parse_args()
    if not a.forbid:
        print("check_domain_layering: give at least one --forbid", file=sys.stderr)
        return 2

    problems = []
    for source in a.sources:
        if not source.endswith((".cpp", ".h")):
            continue
        stack = [(os.path.normpath(source), [source])]
        visited = set()
        while stack:
            path, chain = stack.pop()
            if path in visited:
                continue
            visited.add(path)
            try:
                with open(path, encoding="utf-8") as f:
                    lines = f.readlines()
            except OSError as e:
                problems.append(f"{' -> '.join(chain)}: cannot read: {e}")
                continue
            for line in lines:
                m = INCLUDE.match(line)
                if not m:
                    continue
                quoted, name = m.group(1) == '"', m.group(2)
                target = resolve(name, quoted, os.path.dirname(path), a.include_dir)
                for f in a.forbid:
                    if name == f or name.endswith("/" + f) or (
                            target is not None and target.endswith(os.sep + f)):
                        problems.append(f"{' -> '.join(chain + [name])}: must not be included "
                                        f"by the domain (it is HTTP)")
                if target is not None:
                    stack.append((target, chain + [name]))
    sql = re.compile(r"\.(exec|exec_params|exec1|exec_params1|exec0|exec_prepared)\s*\(")
    for route_file in a.routes:
        with open(route_file, encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                if sql.search(line):
                    problems.append(f"{route_file}:{number}: a route runs SQL; move it into the "
                                    "store")
    for line in sorted(set(problems)):
        print(line)
    if problems:
        print(f"check_domain_layering: {len(set(problems))} problem(s): HTTP belongs in the routes "
              "(controller/src/domain/routes/), SQL in the store (controller/src/domain/store/)",
              file=sys.stderr)
        return 1
    print(f"check_domain_layering: {len(a.sources)} sources, no HTTP header reached; "
          f"{len(a.routes)} route files, no SQL")
    return 0


if __name__ == "__main__":
    sys.exit(main())
