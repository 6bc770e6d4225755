#!/usr/bin/env python3
"""Summarises cargo-mutants runs of scripts/mutants.sh, per source file.

Usage: scripts/mutants_summary.py RUN_DIR [AGAIN_DIR]

RUN_DIR is a full run's output ($CARGO_TARGET_DIR/mutants/<run>); AGAIN_DIR, when given,
is the output of `scripts/mutants.sh <run> again` (its survivors re-tested against newer
tests): the mutants it caught count as caught, the ones it missed stay missed. A mutant
the full run never reached (it was cut by its time bound) is "not reached". The score is
(caught + timeout) / (caught + missed + timeout): a mutant that makes the tests hang is
noticed, as cargo-mutants counts it (`again` re-runs timeouts, so one caused by a loaded
machine is decided then).
"""

import collections
import json
import sys


def outcomes(directory):
    """{mutant name: summary} of one run's outcomes.json."""
    with open(f"{directory}/mutants.out/outcomes.json", encoding="utf-8") as f:
        data = json.load(f)
    result = {}
    for o in data["outcomes"]:
        scenario = o["scenario"]
        if isinstance(scenario, dict):
            result[scenario["Mutant"]["name"]] = o["summary"]
    return result


def files_of(directory):
    """{mutant name: file} of every mutant the run listed, reached or not."""
    with open(f"{directory}/mutants.out/mutants.json", encoding="utf-8") as f:
        return {m["name"]: m["file"] for m in json.load(f)}


KINDS = {
    "CaughtMutant": "caught",
    "MissedMutant": "missed",
    "Unviable": "unviable",
    "Timeout": "timeout",
}


def main():
    run = sys.argv[1]
    again = sys.argv[2] if len(sys.argv) > 2 else None
    files = files_of(run)
    first = outcomes(run)
    second = outcomes(again) if again else {}
    rows = collections.defaultdict(collections.Counter)
    missed = []
    for name, path in files.items():
        kind = KINDS.get(second.get(name) or first.get(name, ""), "not reached")
        rows[path][kind] += 1
        if kind in ("missed", "timeout"):
            missed.append(f"{kind:8} {name}")
    header = "| file | mutants | caught | missed | timeout | unviable | not reached | score |"
    print(header)
    print("|---|--:|--:|--:|--:|--:|--:|--:|")
    total = collections.Counter()
    for path in sorted(rows):
        total.update(rows[path])
        print(line(path, rows[path]))
    print(line("**all**", total))
    if missed:
        print()
        for m in sorted(missed):
            print(m)


def line(path, c):
    tested = c["caught"] + c["missed"] + c["timeout"]
    score = f"{100 * (c['caught'] + c['timeout']) / tested:.0f} %" if tested else "–"
    n = sum(c.values())
    return (
        f"| {path} | {n} | {c['caught']} | {c['missed']} | {c['timeout']} | "
        f"{c['unviable']} | {c['not reached']} | {score} |"
    )


if __name__ == "__main__":
    main()
