#!/usr/bin/env bash
# The whole test suite: starts throwaway Redis, MariaDB and PostgreSQL (installing the
# Debian packages when missing), runs every test of the workspace against them, runs
# the k6 smoke scenarios, and stops the servers. Usage: scripts/test.sh [cargo test args]
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
export CARGO_PROFILE_DEV_DEBUG="${CARGO_PROFILE_DEV_DEBUG:-line-tables-only}"
export RUST_BACKTRACE="${RUST_BACKTRACE:-1}"

# shellcheck source=scripts/services.sh
source scripts/services.sh
services_up redis mariadb postgres

if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast --test-threads 2 "$@"
  cargo test --workspace --doc --quiet
else
  cargo test --workspace --no-fail-fast "$@" -- --test-threads 2
fi
