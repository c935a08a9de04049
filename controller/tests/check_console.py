#!/usr/bin/env python3
"""Static checks of the staff console's sources (controller/web/console/, docs/console.md).

  check_console.py CONSOLE_DIR

Fails (exit 1, naming file and line) when: a text file under i18n/ is not valid JSON; a
t('area.key') with a literal key names no text in i18n/en/<area>.json; a nav label names no
text; a page module imported by pages/index.js does not exist; index.html has an inline script
or style; a script builds markup from strings (innerHTML, outerHTML, insertAdjacentHTML,
document.write) or evaluates strings (eval, new Function), which the CSP and the console's rules
forbid.
"""
import json
import pathlib
import re
import sys

FORBIDDEN = [
    (re.compile(r"\.(innerHTML|outerHTML)\s*=|insertAdjacentHTML|document\.write"),
     "builds markup from a string: use ui.el"),
    (re.compile(r"\beval\s*\(|new\s+Function\s*\("), "evaluates a string"),
    (re.compile(r"localStorage|sessionStorage"), "web storage: the session stays in memory"),
]


def lookup(table, key):
    if key in table:
        return isinstance(table[key], str)
    node = table
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return isinstance(node, str)


def main():
    if len(sys.argv) != 2 or sys.argv[1] in ("-h", "--help"):
        print(__doc__)
        return 0 if len(sys.argv) == 2 else 2
    root = pathlib.Path(sys.argv[1])
    problems = []
    tables = {}
    for f in sorted((root / "i18n").rglob("*.json")):
        try:
            data = json.loads(f.read_text(encoding="utf-8"))
        except ValueError as e:
            problems.append(f"{f}: not valid JSON: {e}")
            continue
        if f.parent.name == "en":
            tables[f.stem] = data
    key_re = re.compile(r"""\bt\(\s*['"]([A-Za-z0-9_]+)\.([A-Za-z0-9_.]+)['"]""")
    label_re = re.compile(r"""\blabel:\s*['"]([a-z]+)\.([A-Za-z0-9_.]+)['"]""")
    for f in sorted(root.rglob("*.js")):
        for n, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1):
            if line.lstrip().startswith("//"):
                continue
            for regex in (key_re, label_re):
                for m in regex.finditer(line):
                    area, key = m.group(1), m.group(2)
                    if area not in tables:
                        problems.append(f"{f}:{n}: no i18n/en/{area}.json for '{area}.{key}'")
                    elif not lookup(tables[area], key):
                        problems.append(f"{f}:{n}: no text '{area}.{key}' in i18n/en/{area}.json")
            for regex, why in FORBIDDEN:
                if regex.search(line):
                    problems.append(f"{f}:{n}: {why}")
    registry = root / "pages" / "index.js"
    for m in re.finditer(r"""from\s+['"]\./([^'"]+)['"]""", registry.read_text(encoding="utf-8")):
        if not (registry.parent / m.group(1)).is_file():
            problems.append(f"{registry}: imports ./{m.group(1)}, which does not exist")
    html = (root / "index.html").read_text(encoding="utf-8")
    if re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html) or "<style" in html or re.search(r"\sstyle=", html) \
            or re.search(r"\son[a-z]+=", html):
        problems.append(f"{root / 'index.html'}: inline script, style or event handler (the CSP refuses them)")
    for p in problems:
        print(p)
    print(f"console sources: {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
