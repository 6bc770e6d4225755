#!/usr/bin/env bash
# Mutation testing of the domain's booking and line rules (cargo-mutants, docs/src/testing.md
# "Mutation testing"): every mutant of the files below is built and the domain crate's unit
# and integration tests (`cargo test --tests`: no doctests, no server) run against it; a
# mutant no test kills is listed in <output>/mutants.out/missed.txt. Not part of CI.
#
# Three named runs, each bounded to about 30 minutes on this 2-core machine with one job
# (the line rules are found wherever they sit under crates/domain/src):
#   scripts/mutants.sh booking   booking.rs, boxoffice/{mod,planner}.rs, returns/rules.rs,
#                                tickets/rules.rs (the booking rules)
#   scripts/mutants.sh queue     queue.rs, fenwick.rs (the line's vocabulary and counts)
#   scripts/mutants.sh room      waiting_room.rs, lifecycle.rs, draw.rs (the line's use cases)
#   scripts/mutants.sh <run> again
#                                only the mutants the last full <run> missed or timed out
#                                on, against the tests as they are now (output in
#                                <run>-again)
# Extra arguments go to cargo-mutants, e.g. `scripts/mutants.sh room --iterate` (every
# mutant not caught last time, also those a run cut by its bound never reached) or
# `scripts/mutants.sh booking -F check_ask`.
# Output: $CARGO_TARGET_DIR/mutants/<run>/mutants.out (outcomes.json, missed.txt, caught.txt,
# unviable.txt, timeout.txt); a table per file (scripts/mutants_summary.py) and the
# survivors are printed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
run=${1:-}
case "$run" in
  booking)
    files=(booking.rs boxoffice/mod.rs boxoffice/planner.rs returns/rules.rs tickets/rules.rs) ;;
  queue)
    files=('**/queue.rs' '**/fenwick.rs') ;;
  room)
    files=('**/waiting_room.rs' '**/lifecycle.rs' '**/draw.rs') ;;
  *)
    echo "usage: scripts/mutants.sh booking|queue|room [cargo-mutants args]" >&2
    exit 2 ;;
esac
shift
again=0
extra=()
if [ "${1:-}" = again ]; then again=1; shift; fi
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
# Each mutant changes one function: an incremental build of the domain crate takes seconds
# where a full one takes a quarter of a minute, which is what makes a run fit its bound.
# The incremental state of the run's scratch copy is deleted at the end.
export CARGO_INCREMENTAL=1
if ! cargo mutants --version >/dev/null 2>&1; then
  echo "mutants: installing cargo-mutants" >&2
  cargo install --locked cargo-mutants >&2
fi
globs=()
for f in "${files[@]}"; do globs+=(--file "crates/domain/src/$f"); done
out="$CARGO_TARGET_DIR/mutants/$run"
if [ "$again" = 1 ]; then
  previous="$out/mutants.out"
  if [ ! -s "$previous/missed.txt" ] && [ ! -s "$previous/timeout.txt" ]; then
    echo "mutants: no survivor or timeout listed in $previous (run scripts/mutants.sh $run first)" >&2
    exit 2
  fi
  # One exact-name filter per survivor (regex metacharacters escaped).
  while IFS= read -r name; do
    globs+=(-F "^$(printf '%s' "$name" | sed 's/[][\\.*^$+?(){}|]/\\&/g')\$")
  done < <(cat "$previous/missed.txt" "$previous/timeout.txt" 2>/dev/null)
  out="$out-again"
  # The unmutated tests passed in the full run and pass before any commit: no baseline.
  extra=(--baseline skip --timeout 60)
fi
mkdir -p "$out"
marker="$out/.started"
touch "$marker"
# MUTANTS_BOUND (default 35m) bounds the whole run. A mutant whose tests run past their
# timeout (the unmutated tests' time times 5, at least 60 s: a loaded machine must not
# turn a slow run into a timeout) counts as a timeout, listed apart from the caught ones;
# the build of one mutant is bounded too.
status=0
timeout --signal=INT "${MUTANTS_BOUND:-35m}" cargo mutants -p frontrow-domain "${globs[@]}" "${extra[@]}" "$@" \
  --jobs 1 --minimum-test-timeout 60 --build-timeout 300 --no-shuffle \
  --output "$out" -- --tests || status=$?
# The incremental state the run's copy made (the crate's and its test targets').
find "$CARGO_TARGET_DIR/debug/incremental" -mindepth 1 -maxdepth 1 -newer "$marker" \
  -exec rm -rf {} + 2>/dev/null || true
# Caught / missed / timeout / unviable / not reached per file, and the survivors; after
# `again`, the full run's outcomes updated with the re-run's.
if [ "$again" = 1 ]; then
  python3 scripts/mutants_summary.py "${out%-again}" "$out" || true
elif [ -f "$out/mutants.out/mutants.json" ]; then
  python3 scripts/mutants_summary.py "$out" || true
fi
exit "$status"
