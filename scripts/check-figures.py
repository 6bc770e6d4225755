#!/usr/bin/env python3
"""Reports are the only source of figures: checks what the README and the book publish.

For every block of the README and of docs/src (a paragraph, a list item, a table row)
that links a report in loadtest/results/ (a table row without a link of its own takes
the reports of the paragraph just above its table):

1. each linked report must exist and be tracked by git (a report only on one machine
   proves nothing to a reader of the repository);
2. each figure of the block — a number outside code, links, targets (a number after
   <, >, <=, >=, ≤, ≥ or in a column headed "target") and commit ids — must be found in
   one of its reports (the .md, or the .json of the same name), as written or as the
   report's number rounded to the figure's digits (or a fraction shown as a percentage).

In the performance pages (docs/src/performance/), a paragraph or row that publishes a
measured figure (a number with a unit of speed, size or time) but links no report must
say that its report is not kept ("not kept in the repository" / "report not kept").

A number that is not a figure of the report (a count of rounds, a price) may be marked
where it stands with an HTML comment `<!-- not a figure: 3, 1,000 -->` in its block.

Exit 0 when everything holds, 1 with one line per finding otherwise.
Usage: scripts/check-figures.py [files…] (default: README.md and docs/src/**/*.md).
"""
import json
import math
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
RESULTS = "loadtest/results/"
NUM = re.compile(r"(?<![\w.,/#-])(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?(?![\w])")
LINK = re.compile(r"\[([^\]]*)\]\(([^)]*)\)")
CODE = re.compile(r"`[^`]*`")
TARGET = re.compile(r"(?:[<>≤≥~]|<=|>=)\s*[−-]?\s*$")
NOT_A_FIGURE = re.compile(r"<!--\s*(?:not a figure|derived from the report|report not kept):([^>]*)-->")
UNIT = re.compile(r"\d\s*(?:req/s|ms|µs|s\b|B\b|MB|GiB|%|tps|calls/s|answers/s)")
NOT_KEPT = re.compile(r"not kept|not in the repository|no report|computed", re.I)

tracked = set(subprocess.run(["git", "ls-files", RESULTS], cwd=ROOT, capture_output=True,
                             text=True, check=True).stdout.split())
report_numbers = {}


def numbers_of(path):
    """Every number in a report (its .md and .json), as floats."""
    if path not in report_numbers:
        found = []
        stem = re.sub(r"\.(md|json|txt)$", "", path)
        for p in {path, stem + ".md", stem + ".json"}:
            f = ROOT / p
            if not f.exists():
                continue
            text = f.read_text(errors="replace")
            if p.endswith(".json"):
                # Timestamps of samples are not figures: a figure matching one by chance
                # (a "296" against a sample at 296.5 s) must not pass.
                try:
                    text = json.dumps(drop_times(json.loads(text)))
                except ValueError:
                    pass
            for m in re.finditer(r"-?\d[\d,]*\.?\d*(?:[eE]-?\d+)?", text):
                try:
                    found.append(float(m.group(0).replace(",", "")))
                except ValueError:
                    pass
        report_numbers[path] = found
    return report_numbers[path]


def drop_times(v):
    """A report's JSON without the instants of its samples."""
    if isinstance(v, dict):
        return {k: drop_times(x) for k, x in v.items() if k not in ("t", "t_s", "at", "at_ms", "at_s")}
    if isinstance(v, list):
        return [drop_times(x) for x in v]
    return v


def matches(figure, decimals, xs):
    """Is `figure`, written with `decimals` digits, a report number rounded (half up or
    half down), or one shown as a percentage, in seconds for ms or in MB for bytes?"""
    half = 0.5 * 10 ** -decimals + 1e-9
    for x in xs:
        for v in (x, x * 100, x / 1000, x / 1e6):
            if abs(v - figure) <= half:
                return True
    return False


def reports_in(text, source):
    """The reports a block links, as repository paths."""
    out = []
    for _, target in LINK.findall(text):
        if RESULTS in target:
            p = (source.parent / target).resolve()
            try:
                out.append(str(p.relative_to(ROOT)))
            except ValueError:
                pass
    return out


def figures(text, skip_columns=()):
    """(figure, decimals, as written) of a block, outside code, links and targets."""
    marked = set()
    for m in NOT_A_FIGURE.finditer(text):
        marked |= {x.strip() for x in m.group(1).split(",  ")} | {x.strip() for x in m.group(1).split(", ")}
    text = NOT_A_FIGURE.sub(" ", text)
    text = CODE.sub(" ", text)
    text = LINK.sub(lambda m: " " if RESULTS in m.group(2) or m.group(2).startswith("http") else m.group(1), text)
    cells = text.split("|") if text.lstrip().startswith("|") else [text]
    out = []
    for i, cell in enumerate(cells):
        if i in skip_columns:
            continue
        # Numbers of a range's second half (1–6) or a ratio's (15/15) are checked too.
        for m in NUM.finditer(cell):
            written = m.group(0)
            before = cell[: m.start()]
            after = cell[m.end():m.end() + 8]
            if TARGET.search(before) or written in marked:
                continue
            if re.match(r"\s*(?:cores?|-core|x\b)|\.\d", after) or re.search(r"\bcommit\s*$", before):
                continue
            if re.match(r"\d{4}$", written) and 1990 < int(written) < 2100:
                continue
            value = float(written.replace(",", ""))
            out.append((value, len(m.group(2) or "") - (1 if m.group(2) else 0), written))
    return out


def blocks(lines):
    """(first line number, text, inherits, header cells) of each block: `inherits` for a
    table row or a list item, which also use the reports of the paragraph above."""
    para, start, header, item = [], 0, None, False
    for n, line in enumerate(lines + [""], 1):
        if line.lstrip().startswith("|"):
            if para:
                yield start, " ".join(para), item, None
                para = []
            cells = [c.strip().lower() for c in line.strip().strip("|").split("|")]
            if header is None:
                header = cells
            elif not all(set(c) <= set("-: ") for c in cells):
                yield n, line, True, header
            continue
        header = None
        if not line.strip() or line.lstrip().startswith(("#", "- ", "* ", "```")) or re.match(r"\s*\d+\. ", line):
            if para:
                yield start, " ".join(para), item, None
                para = []
            item = bool(line.strip()) and not line.lstrip().startswith(("#", "```"))
            if item:
                para, start = [line], n
            continue
        if not para:
            start, item = n, False
        para.append(line)


def check(path):
    findings = []
    source = ROOT / path
    lines = source.read_text().split("\n")
    performance = "docs/src/performance/" in path
    last_reports, in_code = [], False
    for n, text, row, header in blocks(lines):
        if text.lstrip().startswith("```"):
            in_code = not in_code
        if in_code:
            continue
        reports = reports_in(text, source)
        for r in reports:
            if not (ROOT / r).exists():
                findings.append(f"{path}:{n}: cites {r}, which is not in the repository")
            elif r not in tracked:
                findings.append(f"{path}:{n}: cites {r}, which git does not track (git add -f it)")
        if not row:
            last_reports = reports
        use = reports + (last_reports if row else [])
        if not reports and NOT_KEPT.search(text):
            use = []  # says where its figures come from, and that it is not kept
        skip = {i + 1 for i, h in enumerate(header or []) if "target" in h}
        if use:
            xs = [x for r in use for x in numbers_of(r)]
            for value, decimals, written in figures(text, skip):
                if not matches(value, max(decimals, 0), xs):
                    findings.append(f"{path}:{n}: {written} is in none of its reports ({', '.join(sorted(set(use)))})")
        elif performance and UNIT.search(CODE.sub(" ", text)) and not NOT_KEPT.search(text):
            findings.append(f"{path}:{n}: a measured figure without a report (link one, or say the report is not kept)")
    return findings


def main(argv):
    # docs/src/performance/earlier/ holds reports themselves, kept with the book.
    files = argv or ["README.md"] + sorted(
        str(p.relative_to(ROOT)) for p in (ROOT / "docs/src").rglob("*.md") if "/earlier/" not in str(p))
    findings = [f for path in files for f in check(path)]
    for f in findings:
        print(f)
    print(f"check-figures: {len(findings)} finding(s) in {len(files)} file(s)", file=sys.stderr)
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
