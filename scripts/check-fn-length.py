#!/usr/bin/env python3
"""No function of the app crate (crates/app/src) is longer than MAX_LINES lines, from its
`fn` line to its closing brace: a long function is a room that wants splitting (as
start-up was split into wiring, tasks, probes and server). Exceptions are listed in EXCEPTIONS with
their reason. Run by scripts/test.sh's static checks; prints each offender as
path:line: name (N lines) and exits 1 when there is one.

    scripts/check-fn-length.py [--max N] [--list] [DIR...]   (default: crates/app/src)
"""
import os
import re
import sys

MAX_LINES = 80
# "path::fn" -> why it may be longer: tables written as code, one entry a line or arm,
# with no logic to split out. Keep this list short.
EXCEPTIONS = {
    "crates/app/src/http/links.rs::flow":
        "the OpenAPI document's links, one entry each: a table, split it and the flow of a fan "
        "is no longer read in one place",
    "crates/app/src/http/mod.rs::build_app":
        "the route table (one `.service` a route, the shared file every feature adds its routes "
        "to) and the middleware stack in the order they wrap",
    "crates/app/src/http/error.rs::from":
        "`From<OrderError> for ApiError`: one match arm per error variant, the status table of "
        "the orders tag",
}

FN = re.compile(r"\bfn\s+([A-Za-z_][A-Za-z0-9_]*)")


def code_mask(src):
    """The source with comments, strings and char literals blanked (newlines kept), so
    braces inside them do not count."""
    out = list(src)
    i, n = 0, len(src)

    def blank(a, b):
        for k in range(a, b):
            if out[k] != "\n":
                out[k] = " "

    while i < n:
        c = src[i]
        if src.startswith("//", i):
            j = src.find("\n", i)
            j = n if j < 0 else j
            blank(i, j)
            i = j
        elif src.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if src.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif src.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            blank(i, j)
            i = j
        elif c == "r" and re.match(r'r#*"', src[i:i + 260]) and not (i and (src[i - 1].isalnum() or src[i - 1] == "_")):
            m = re.match(r'r(#*)"', src[i:])
            end = '"' + m.group(1)
            j = src.find(end, i + len(m.group(0)))
            j = n if j < 0 else j + len(end)
            blank(i, j)
            i = j
        elif c == '"':
            j = i + 1
            while j < n and src[j] != '"':
                j += 2 if src[j] == "\\" else 1
            blank(i, j + 1)
            i = j + 1
        elif c == "'":
            # A char literal ('x', '\n', '\u{..}', '{') or a lifetime ('a): only the former.
            m = re.match(r"'(\\u\{[0-9a-fA-F]+\}|\\.|[^\\'])'", src[i:i + 12])
            if m:
                blank(i, i + len(m.group(0)))
                i += len(m.group(0))
            else:
                i += 1
        else:
            i += 1
    return "".join(out)


def functions(path):
    """(name, first line, line count) of every function with a body in `path`."""
    with open(path, encoding="utf-8") as f:
        code = code_mask(f.read())
    found = []
    for m in FN.finditer(code):
        # The body: the first `{` after the signature at bracket depth 0, unless a `;`
        # comes first (a trait method without body).
        depth, j = 0, m.end()
        while j < len(code):
            ch = code[j]
            if ch in "([<" and not (ch == "<" and code[j - 1] == "-"):
                depth += 1
            elif ch in ")]>" and not (ch == ">" and code[j - 1] in "-="):
                depth -= 1
            elif ch == ";" and depth <= 0:
                j = -1
                break
            elif ch == "{" and depth <= 0:
                break
            j += 1
        if j < 0 or j >= len(code):
            continue
        braces, k = 0, j
        while k < len(code):
            if code[k] == "{":
                braces += 1
            elif code[k] == "}":
                braces -= 1
                if braces == 0:
                    break
            k += 1
        first = code.count("\n", 0, m.start()) + 1
        last = code.count("\n", 0, k) + 1
        found.append((m.group(1), first, last - first + 1))
    return found


def main(argv):
    max_lines, listing, dirs = MAX_LINES, False, []
    args = iter(argv)
    for a in args:
        if a == "--max":
            max_lines = int(next(args))
        elif a == "--list":
            listing = True
        else:
            dirs.append(a)
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    dirs = dirs or [os.path.join(root, "crates", "app", "src")]
    offenders = []
    for d in dirs:
        for base, _, files in os.walk(d):
            for name in sorted(files):
                if not name.endswith(".rs"):
                    continue
                path = os.path.join(base, name)
                rel = os.path.relpath(path, root)
                for fn, line, count in functions(path):
                    if listing:
                        print(f"{count:5} {rel}:{line}: {fn}")
                    if count > max_lines and f"{rel}::{fn}" not in EXCEPTIONS:
                        offenders.append(f"{rel}:{line}: {fn} ({count} lines)")
    for o in offenders:
        print(o, file=sys.stderr)
    if offenders:
        print(f"check-fn-length: {len(offenders)} function(s) over {max_lines} lines "
              "(split them, or list one in EXCEPTIONS with its reason)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
