#!/usr/bin/env python3
"""The attacker's probe of the abuse controls, against a running frontrow:

  A. 3,000 POST /api/v1/users from one client, as fast as it goes (the goal: 10 s);
  B. 2,000 different users entering one line from one address (the goal: 5 s) —
     their accounts made first from 2,000 addresses (X-Forwarded-For, which the server
     believes only when started with FRONTROW__LIMITS__TRUSTED_PROXIES=127.0.0.1), as an
     attacker with a botnet or bought accounts would have them;
  C. one user entering 500 times (the goal: 2 s), from an address B did not use.

Prints the answers by status code for each. Usage:
  FRONTROW__LIMITS__TRUSTED_PROXIES=127.0.0.1 frontrow serve --demo &
  python3 loadtest/abuse_probe.py --base http://127.0.0.1:8080 [--concert 1]
"""

import argparse
import collections
import concurrent.futures as cf
import threading
import uuid
import time

import requests

local = threading.local()


def session():
    if not hasattr(local, "s"):
        local.s = requests.Session()
    return local.s


def run(label, calls, threads=16):
    started = time.monotonic()
    codes = collections.Counter()
    results = []
    with cf.ThreadPoolExecutor(threads) as pool:
        for res in pool.map(lambda f: f(), calls):
            codes[res.status_code] += 1
            results.append(res)
    took = time.monotonic() - started
    retry = sorted({r.headers.get("Retry-After") for r in results if r.status_code == 429})
    print(f"{label}: {dict(sorted(codes.items()))} in {took:.1f} s"
          + (f" (Retry-After values {retry})" if retry else ""))
    return results


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", default="http://127.0.0.1:8080")
    ap.add_argument("--concert", type=int, default=1)
    a = ap.parse_args()
    api = a.base + "/api/v1"

    def sign_up(forwarded=None):
        headers = {"X-Forwarded-For": forwarded} if forwarded else {}
        return lambda: session().post(api + "/users", json={"name": "bot", "email": f"bot-{uuid.uuid4().hex}@load.test", "password": "load-test-password"}, headers=headers)

    run("A. 3,000 sign-ups from one client", [sign_up() for _ in range(3000)])

    made = run("B0. 2,000 accounts made from 2,000 addresses",
               [sign_up(f"10.{i // 250}.{i % 250}.7") for i in range(2000)])
    tokens = [r.json()["access_token"] for r in made if r.status_code == 201]

    def enter(token, forwarded=None):
        headers = {"Authorization": f"Bearer {token}"}
        if forwarded:
            headers["X-Forwarded-For"] = forwarded
        return lambda: session().post(f"{api}/concerts/{a.concert}/queue", headers=headers)

    run(f"B. {len(tokens):,} users entering one line from one address", [enter(t) for t in tokens])
    # From an address of its own, so what stops it is the per-user limit.
    run("C. one user entering 500 times", [enter(tokens[-1], "192.0.2.99") for _ in range(500)])


if __name__ == "__main__":
    main()
