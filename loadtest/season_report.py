#!/usr/bin/env python3
"""Writes the season soak's report: <out>.md (tables, verdict) and <out>.svg (Redis
used_memory and instance RSS after each concert, per setup) from <out>-<setup>.json.

usage: season_report.py <out prefix> <command line> <profile> <setup>...
"""
import datetime
import json
import os
import platform
import subprocess
import sys

REDIS_TARGET = 4 * 1024
RSS_TARGET = 64 * 1024


def main():
    out, cmdline, profile, setups = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
    runs = {}
    for s in setups:
        path = f"{out}-{s}.json"
        if os.path.exists(path):
            with open(path) as f:
                runs[s] = json.load(f)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    cpus = os.cpu_count()
    lines = [
        "# Season soak: retained memory per finished concert",
        "",
        f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC",
        f"- commit: {commit} ({profile} build)",
        f"- machine: {platform.machine()}, {cpus} cores (shared with other work), {platform.platform()}",
        f"- command: `{cmdline}`",
        "- per concert: one schedule of N seats, the N buyers enter first, are admitted, hold",
        "  a seat each and pay; every other fan polls until `SOLD_OUT` (an admitted one leaves);",
        "  the line closes (sold out, no hold left) and retires one second later",
        "  (`queue.retire_after_seconds = 1`); the driver then checks that late pollers read",
        "  `SOLD_OUT` and samples Redis `used_memory` and the keys under the instances' prefix",
        "  (summed over the nodes) and, after a quiet second, each instance's RSS (the",
        "  smallest of three samples 200 ms apart).",
        "- retained per concert: least-squares slope of each figure over the second half of",
        "  the season (the first half warms allocators, connection pools and caches up).",
        "",
        "| setup | concerts | fans/concert | seats | Redis B/concert | Redis keys/concert | RSS B/concert per instance | targets (< 4 KB, < 64 KB) | lost places | late pollers not SOLD_OUT | unsold seats | unexpected answers | 503/429 retried |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for s, r in runs.items():
        redis_b = r["retained_redis_bytes_per_concert"]
        each = r.get("retained_rss_bytes_per_concert_each_instance") or [
            r["retained_rss_bytes_per_concert_per_instance"]]
        rss_b = max(each)
        ok = redis_b < REDIS_TARGET and rss_b < RSS_TARGET
        label = {"single": "1 instance, 1 Redis", "two": "2 instances, 1 Redis",
                 "cluster": "1 instance, 3-master cluster"}.get(s, s)
        lines.append(
            f"| {label} | {r['concerts']} | {r['fans']} | {r['seats']} | {redis_b:,.0f} | "
            f"{r['retained_redis_keys_per_concert']:.2f} | {' / '.join(f'{b:,.0f}' for b in each)} | "
            f"{'met' if ok else 'MISSED'} | {r['lost_places']} | {r['late_pollers_not_sold_out']} | "
            f"{r.get('unsold_seats', 0)} | {r['unexpected_answers']} | {r['retried_503_429']} |")
    lines += ["", "![Redis used_memory and instance RSS after each concert](" +
              os.path.basename(out) + ".svg)", ""]
    for s, r in runs.items():
        rows = r["rows"]
        lines += [f"## {s}", "",
                  "| after concert | seconds | sold | Redis used_memory | Redis keys | RSS of each instance |",
                  "| --- | --- | --- | --- | --- | --- |"]
        step = max(1, len(rows) // 10)
        for row in rows[::step] + ([rows[-1]] if (len(rows) - 1) % step else []):
            rss = " / ".join(f"{b:,}" for b in row.get("rss_each") or [row["rss"]])
            lines.append(f"| {row['concert']} | {row['seconds']:.1f} | {row['sold']} | "
                         f"{row['redis_used_memory']:,} | {row['redis_keys']:,} | {rss} |")
        lines.append("")
    with open(out + ".md", "w") as f:
        f.write("\n".join(lines))
    with open(out + ".svg", "w") as f:
        f.write(svg(runs))


def svg(runs):
    """Two panels: Redis used_memory (MB) and RSS per instance (MB) against the concert."""
    w, h, pad = 900, 300, 50
    colours = {"single": "#1f77b4", "two": "#ff7f0e", "cluster": "#2ca02c"}
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{2 * h}" '
             'font-family="sans-serif" font-size="12">']
    panels = [("Redis used_memory (MB)", lambda r, row: row["redis_used_memory"]),
              ("RSS per instance (MB)",
               lambda r, row: row["rss"] / max(1, r["targets"]))]
    for i, (title, value) in enumerate(panels):
        top = i * h
        series = {s: [(row["concert"], value(r, row) / 1e6) for row in r["rows"]]
                  for s, r in runs.items()}
        if i == 1:
            # one line per instance
            series = {}
            for s, r in runs.items():
                n = len(r["rows"][0].get("rss_each") or []) if r["rows"] else 0
                if n > 1:
                    for k in range(n):
                        series[f"{s} #{k + 1}"] = [(row["concert"], row["rss_each"][k] / 1e6)
                                                   for row in r["rows"]]
                else:
                    series[s] = [(row["concert"], value(r, row) / 1e6) for row in r["rows"]]
        xs = [x for pts in series.values() for x, _ in pts] or [1]
        ys = [y for pts in series.values() for _, y in pts] or [1]
        x0, x1 = min(xs), max(xs) if max(xs) > min(xs) else min(xs) + 1
        y0, y1 = 0, max(ys) * 1.1 or 1
        sx = lambda x: pad + (x - x0) / (x1 - x0) * (w - 2 * pad)
        sy = lambda y: top + h - pad + 10 - (y - y0) / (y1 - y0) * (h - 2 * pad)
        parts.append(f'<text x="{pad}" y="{top + 20}" font-weight="bold">{title}</text>')
        parts.append(f'<line x1="{pad}" y1="{sy(0)}" x2="{w - pad}" y2="{sy(0)}" stroke="#999"/>')
        parts.append(f'<line x1="{pad}" y1="{sy(0)}" x2="{pad}" y2="{sy(y1)}" stroke="#999"/>')
        parts.append(f'<text x="{pad - 5}" y="{sy(y1)}" text-anchor="end">{y1:.1f}</text>')
        parts.append(f'<text x="{pad - 5}" y="{sy(0)}" text-anchor="end">0</text>')
        parts.append(f'<text x="{w - pad}" y="{sy(0) + 15}" text-anchor="end">concert {x1}</text>')
        for j, (s, pts) in enumerate(series.items()):
            path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in pts)
            c = colours.get(s.split(" #")[0], "#000")
            if s.endswith(" #2"):
                c = "#d62728"
            parts.append(f'<polyline fill="none" stroke="{c}" stroke-width="1.5" points="{path}"/>')
            parts.append(f'<text x="{w - pad - 150}" y="{top + 20 + 15 * j}" fill="{c}">{s}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


if __name__ == "__main__":
    main()
