#!/usr/bin/env bash
# Mutation testing of the domain's booking and line rules (cargo-mutants): every mutant
# of crates/domain/src/booking.rs, queue.rs, waiting_room.rs, fenwick.rs and draw.rs is
# built and the domain's own tests run against it; a mutant no test kills is listed in
# mutants.out/missed.txt. Not part of CI: bounded to about 30 minutes on this 2-core
# machine (--timeout per mutant, --minimum-test-timeout, and the file list).
# Usage: scripts/mutants.sh [extra cargo-mutants args, e.g. --file crates/domain/src/fenwick.rs]
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
if ! cargo mutants --version >/dev/null 2>&1; then
  echo "mutants: installing cargo-mutants" >&2
  cargo install --locked cargo-mutants >&2
fi
files=(--file crates/domain/src/booking.rs --file crates/domain/src/queue.rs
       --file crates/domain/src/waiting_room.rs --file crates/domain/src/fenwick.rs
       --file crates/domain/src/draw.rs)
if [ "$#" -gt 0 ]; then files=(); fi
# Only the domain crate's tests: the rules are pure and their tests need no server.
timeout 35m cargo mutants -p frontrow-domain "${files[@]}" "$@" \
  --timeout 120 --minimum-test-timeout 20 --jobs 1 --output target/mutants \
  -- --lib || status=$?
status=${status:-0}
echo "mutants: caught/missed/unviable/timeouts in target/mutants/mutants.out/outcomes.json" >&2
if [ -f target/mutants/mutants.out/missed.txt ]; then
  echo "mutants: survivors (each needs a test that kills it, or a reason it cannot):" >&2
  cat target/mutants/mutants.out/missed.txt >&2
fi
exit "$status"
