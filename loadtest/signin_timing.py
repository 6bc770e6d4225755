#!/usr/bin/env python3
"""Sign-in timing: known email with the right password, known email with a wrong one,
and an unknown email, interleaved against one running frontrow (BASE, default
http://127.0.0.1:8080). Prints the median and p90 of each, in ms: the three should be
alike (no account enumeration by time), and the first is the cost of one argon2id
verification plus a session write. Sequential, bounded: ROUNDS (default 30) of each.
"""
import json
import os
import statistics
import time
import urllib.error
import urllib.request
import uuid

BASE = os.environ.get("BASE", "http://127.0.0.1:8080") + "/api/v1"
ROUNDS = int(os.environ.get("ROUNDS", "30"))


def post(path, body):
    req = urllib.request.Request(BASE + path, data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    t0 = time.perf_counter()
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            status = r.status
    except urllib.error.HTTPError as e:
        status = e.code
    return status, (time.perf_counter() - t0) * 1000


email = f"timing-{uuid.uuid4().hex}@load.test"
status, signup_ms = post("/users", {"name": "timing", "email": email, "password": "load-test-password"})
assert status == 201, status
cases = {
    "right password": {"email": email, "password": "load-test-password"},
    "wrong password": {"email": email, "password": "not-the-password"},
    "unknown email": {"email": f"nobody-{uuid.uuid4().hex}@load.test", "password": "load-test-password"},
}
times = {k: [] for k in cases}
statuses = {k: set() for k in cases}
for _ in range(ROUNDS):
    for name, body in cases.items():
        s, ms = post("/sessions", body)
        statuses[name].add(s)
        times[name].append(ms)
print(f"sign-up: {signup_ms:.1f} ms (one hash)")
for name, ts in times.items():
    ts.sort()
    p90 = ts[int(len(ts) * 0.9) - 1]
    print(f"{name:15} status {sorted(statuses[name])}  median {statistics.median(ts):6.1f} ms  p90 {p90:6.1f} ms  (n={len(ts)})")
