#!/usr/bin/env bash
# Runs kinet's whole test suite: unit tests and integration tests that build real
# labs (network namespaces) and drive them with the machine's kubectl. Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ "$(id -u)" != 0 ]; then
  echo "error: the tests build network namespaces and must run as root (sudo $0)" >&2
  exit 1
fi
# Lint gates: formatting and clippy, warnings are errors.
cargo fmt --all --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace --lib --bins --tests -- --test-threads="${KINET_TEST_THREADS:-2}"
