#!/usr/bin/env bash
# Sourced by the load-test scripts: `provenance_md COMMAND...` prints the head every report
# starts with — the commit (and whether the tree had uncommitted changes), the machine
# (cores, CPU, memory), the command line and the date — so a figure can be tied to the
# code it measured and rerun (docs/src/performance/reports.md).
provenance_md() {
  local root commit cpu mem
  root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  commit=$(git -C "$root" rev-parse HEAD 2>/dev/null || echo unknown)
  if [ -n "$(git -C "$root" status --porcelain --untracked-files=no 2>/dev/null)" ]; then
    commit="$commit (with uncommitted changes)"
  fi
  cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
  mem=$(awk '/MemTotal/{printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)
  echo "- commit: \`$commit\`"
  # A run of these scripts against binaries built from another commit (a before/after
  # comparison: FRONTROW_PREBUILT=1 CARGO_TARGET_DIR=<its target dir>) says so.
  if [ -n "${FRONTROW_BINARY_COMMIT:-}" ]; then
    echo "- binaries: built from \`$FRONTROW_BINARY_COMMIT\` (prebuilt in ${CARGO_TARGET_DIR:-target}), run by the scripts of the commit above"
  fi
  echo "- machine: $(nproc) cores ($cpu), $mem RAM"
  echo "- command: \`$*\`"
  echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
}
