#!/usr/bin/env bash
# The test command of the README: prepares the machine, then runs every test of the workspace
# against the real fixture, real databases and a real Kafka-protocol broker.
#
#   scripts/test.sh [extra cargo test arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/seaf-backup/target}"
export RUST_BACKTRACE="${RUST_BACKTRACE:-1}"

scripts/setup.sh
# The end-to-end tests run the real binary: build it first (cargo test alone does not
# rebuild another package's binary).
cargo build --workspace --bins
cargo test --workspace --no-fail-fast "$@"
