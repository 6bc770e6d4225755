#!/usr/bin/env bash
# frontrow's test command, in two tiers (docs/src/testing.md):
#   scripts/test.sh          the full suite, and CI: starts throwaway Redis, MariaDB and
#                            PostgreSQL (installing the Debian packages when missing), runs
#                            every test of the workspace against them, the browser test,
#                            Schemathesis, the book (docs/, links checked) and
#                            the k6 smoke scenarios of loadtest/, then stops the servers.
#   scripts/test.sh --quick  the everyday loop: every test that needs no server (nextest
#                            profile `quick`, see .config/nextest.toml for the naming rule);
#                            starts nothing, installs nothing but the build's one system
#                            library (OpenSSL's headers, for passkeys) when it is missing.
# Both first run the static checks (fmt, clippy, rustdoc, layering guard) and stop at the
# first that fails with one line naming it; both end with one line `tests: N passed, M failed`.
# Usage: scripts/test.sh [--quick] [extra args for cargo nextest / cargo test]
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
export CARGO_PROFILE_DEV_DEBUG="${CARGO_PROFILE_DEV_DEBUG:-line-tables-only}"
export RUST_BACKTRACE="${RUST_BACKTRACE:-1}"

quick=0
if [ "${1:-}" = "--quick" ]; then quick=1; shift; fi

# How long each part took, printed at the end (the full tier's budget is 20 minutes).
started=$SECONDS
lap=$SECONDS
timings=()
took() { # name: the time since the previous lap
  timings+=("$(printf '%-16s %4ds' "$1" $((SECONDS - lap)))")
  lap=$SECONDS
}
print_timings() {
  printf 'time: %s\n' "${timings[@]}"
  printf 'time: %-16s %4ds\n' total $((SECONDS - started))
}

# --- static checks: cheap, and a failure here makes running the tests pointless ---------
static_check() { # one-line message, command...
  local what=$1; shift
  if ! "$@"; then
    echo "static check failed: $what" >&2
    exit 1
  fi
}

# The domain crate must not know the frameworks (docs/src/architecture/overview.md).
layering_guard() {
  local deps offenders
  deps=$(cargo tree -p frontrow-domain -e normal --prefix none --format '{p}' | awk '{print $1}' | sort -u) ||
    return 1
  offenders=$(grep -xE 'actix-web|sea-orm(-.*)?|sqlx(-.*)?|redis|deadpool-redis|utoipa(-.*)?' <<<"$deps" | paste -sd, - || true)
  if [ -n "$offenders" ]; then
    echo "static check failed: layering guard: frontrow-domain depends on ${offenders//,/, }" \
      "(see how: cargo tree -p frontrow-domain -e normal -i <crate>)" >&2
    exit 1
  fi
  # The app's guard (rate limits, identity provider, proof-of-work, admission passes)
  # knows no HTTP framework either: the HTTP layer calls it.
  offenders=$(grep -rnE 'actix|crate::http|crate::startup' crates/app/src/guard | grep -vE '^[^:]+:[0-9]+:\s*//' || true)
  if [ -n "$offenders" ]; then
    echo "static check failed: layering guard: crates/app/src/guard imports the HTTP layer or start-up:" >&2
    echo "$offenders" >&2
    exit 1
  fi
  # The HTTP layer sees use cases and ports, never an adapter: start-up
  # (crates/app/src/startup/) alone picks and wires them, and nothing imports start-up.
  offenders=$(grep -rnE 'frontrow_(seaorm|redis|memory)|crate::startup' crates/app/src/http | grep -vE '^[^:]+:[0-9]+:\s*//' || true)
  if [ -n "$offenders" ]; then
    echo "static check failed: layering guard: crates/app/src/http imports an adapter or start-up:" >&2
    echo "$offenders" >&2
    exit 1
  fi
}

# Passkeys (webauthn-rs) link OpenSSL: a fresh Debian machine lacks its headers.
if ! pkg-config --exists openssl 2>/dev/null; then
  if [ "$(id -u)" != 0 ]; then echo "test: need root to apt-get install libssl-dev pkg-config" >&2; exit 1; fi
  echo "test: installing libssl-dev pkg-config" >&2
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libssl-dev pkg-config >&2
fi

static_check "formatting (cargo fmt --all --check; fix: cargo fmt --all)" \
  cargo fmt --all --check
static_check "clippy (cargo clippy --workspace --all-targets -- -D warnings)" \
  cargo clippy --quiet --workspace --all-targets -- -D warnings
static_check "rustdoc (RUSTDOCFLAGS='-D warnings' cargo doc --workspace --no-deps)" \
  env RUSTDOCFLAGS="-D warnings" cargo doc --quiet --workspace --no-deps
static_check "layering guard (cargo tree -p frontrow-domain -e normal)" layering_guard
static_check "function length (scripts/check-fn-length.py: none over 80 lines in crates/app/src)" \
  scripts/check-fn-length.py
# Code, scripts and docs say what the product does, never which work item asked for it
# (the changelog and the commit messages keep that history).
no_work_items() {
  local found
  found=$(git grep -nIiE '\b(issue|wave) [0-9]+\b' -- crates tests scripts loadtest docs \
    migrations config README.md ':!loadtest/results' || true)
  if [ -n "$found" ]; then
    echo "$found" >&2
    return 1
  fi
}
static_check "no work items named in code, scripts or docs (issue N, wave N)" no_work_items
echo "static checks: ok (fmt, clippy, rustdoc, layering, function length, no work items)"
took "static checks"

# --- tests --------------------------------------------------------------------------------
LOG=$(mktemp /tmp/frontrow-test.XXXXXX.log)
if [ "$quick" = 1 ]; then
  # No server: a test that asks for one fails (see tests/src/lib.rs), it is never skipped.
  unset FRONTROW_TEST_REDIS_URL FRONTROW_TEST_MYSQL_URL FRONTROW_TEST_POSTGRES_URL
  unset FRONTROW_TEST_REDIS_CLUSTER_URLS FRONTROW_TEST_REDIS_FAILOVER_URLS
  nextest_args=(--profile quick)
  skip_args=(--skip on_redis --skip on_mariadb --skip on_postgres)
else
  # shellcheck source=scripts/services.sh
  source scripts/services.sh
  # The Redis Clusters: 3 masters (contract suite, slot moves, three instances, sell-out)
  # and 3 masters + 3 replicas (the failover test kills a master), ~6 s to start both.
  services_up redis mariadb postgres redis_cluster redis_cluster_failover
  took "servers up"
  nextest_args=()
  skip_args=()
fi

failed=0
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run "${nextest_args[@]}" --workspace --no-fail-fast "$@" 2>&1 | tee "$LOG" || failed=1
  summary=$(grep -E '^\s+Summary \[' "$LOG" | tail -1 || true)
  passed=$(sed -nE 's/.* ([0-9]+) passed.*/\1/p' <<<"$summary")
  nfailed=$(sed -nE 's/.* ([0-9]+) failed.*/\1/p' <<<"$summary")
else
  cargo test --workspace --no-fail-fast "$@" -- --test-threads 2 "${skip_args[@]}" 2>&1 | tee "$LOG" || failed=1
  passed=$(grep -E '^test result:' "$LOG" | sed -nE 's/.* ([0-9]+) passed.*/\1/p' | paste -sd+ | bc)
  nfailed=$(grep -E '^test result:' "$LOG" | sed -nE 's/.* ([0-9]+) failed.*/\1/p' | paste -sd+ | bc)
fi
rm -f "$LOG"
took "nextest"
passed=${passed:-0}; nfailed=${nfailed:-0}
# Without arguments nextest built every test and binary of the workspace: the scripts below
# use those binaries as they are (a build of one package selects other features of some
# thirty dependencies and would rebuild them: over a minute on a fresh clone).
if [ $# -eq 0 ]; then export FRONTROW_PREBUILT=1; fi

if [ "$quick" = 0 ]; then
  # A short season on the servers already up: concerts one after another on one Redis and
  # on the Cluster, each sold out, its line closed and retired; fails on a lost place, a
  # late poller not told SOLD_OUT, a seat unsold or a retired line's key left behind.
  if loadtest/season.sh --quick; then
    passed=$((passed + 1))
  else
    failed=1; nfailed=$((nfailed + 1))
    echo "season soak (--quick): FAILED" >&2
  fi
  took "season (quick)"
fi
if [ "$failed" = 1 ] && [ "$nfailed" = 0 ]; then nfailed=1; fi

# The in-memory queue's critical sections under shuttle's scheduler, which preempts at
# every lock (a model check; the `shuttle` feature swaps the crate's locks for its own).
if cargo test -q -p frontrow-memory --features shuttle --test shuttle; then
  passed=$((passed + 1))
else
  failed=1; nfailed=$((nfailed + 1))
  echo "shuttle model check: FAILED" >&2
fi
took "shuttle"

if [ "$quick" = 1 ]; then
  print_timings
  echo "tests: ${passed} passed, ${nfailed} failed"
  exit "$failed"
fi
services_down

# A fan's journey in a real browser (headless Chromium). It waits on pages and timers far
# more than it computes, so it runs beside the parts below (each starts its own server on
# a free port); its output is printed when it ends.
BROWSER_LOG=$(mktemp /tmp/frontrow-browser.XXXXXX.log)
browser_started=$SECONDS
scripts/browser-test.sh >"$BROWSER_LOG" 2>&1 &
browser_pid=$!
browser_wait() {
  local rc=0
  wait "$browser_pid" || rc=$?
  local secs=$((SECONDS - browser_started))
  cat "$BROWSER_LOG"; rm -f "$BROWSER_LOG"
  timings+=("$(printf '%-16s %4ds' "browser" "$secs") (beside schemathesis, promtool, book, figures, smoke)")
  if [ "$rc" = 0 ]; then
    passed=$((passed + 1))
  else
    failed=1; nfailed=$((nfailed + 1))
    echo "browser test: FAILED" >&2
  fi
}
trap 'kill "$browser_pid" 2>/dev/null || true' EXIT

# The API against its own OpenAPI contract (Schemathesis, a few minutes at most): no 5xx,
# only documented status codes, bodies matching their schemas.
if scripts/schemathesis.sh; then
  passed=$((passed + 1))
else
  failed=1; nfailed=$((nfailed + 1))
  echo "schemathesis: FAILED" >&2
fi
took "schemathesis"

# /metrics as Prometheus's own linter reads it (promtool, Debian's prometheus package).
if scripts/promtool-check.sh; then
  passed=$((passed + 1))
else
  failed=1; nfailed=$((nfailed + 1))
  echo "promtool: FAILED" >&2
fi
took "promtool"

# The book (docs/): mdBook builds it, and no relative link or anchor may be broken.
if scripts/check-book-links.sh; then
  passed=$((passed + 1))
else
  failed=1; nfailed=$((nfailed + 1))
  echo "book: FAILED" >&2
fi
took "book"

# Published figures: every report the README and the book cite is in git, and every
# figure beside such a link is in its report (scripts/check-figures.py).
if scripts/check-figures.py; then
  passed=$((passed + 1))
else
  failed=1; nfailed=$((nfailed + 1))
  echo "figures: FAILED" >&2
fi
took "figures"

# The load-test scripts must not rot: a few seconds of each scenario, with its invariants.
smoke=0
if [ -z "${SKIP_LOADTEST_SMOKE:-}" ]; then
  if loadtest/run.sh --smoke; then
    passed=$((passed + 1))
  else
    smoke=1; nfailed=$((nfailed + 1))
    echo "loadtest smoke: FAILED" >&2
  fi
  took "loadtest smoke"
fi
browser_wait
took "browser's rest"
print_timings
echo "tests: ${passed} passed, ${nfailed} failed"
[ "$failed" = 0 ] && [ "$smoke" = 0 ]
