#!/usr/bin/env bash
# The test command of the README: prepares the machine, then runs every test of the workspace
# against the real fixture, real databases and a real Kafka-protocol broker.
#
#   scripts/test.sh [extra cargo test arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/seaf-backup/target}"
export RUST_BACKTRACE="${RUST_BACKTRACE:-1}"

scripts/setup.sh packages
# The services install (network, disk) while the build uses the CPU.
scripts/setup.sh databases kafka registry &
setup=$!
# The end-to-end tests run the real binary: build it first (cargo test alone does not
# rebuild another package's binary), and the tests, before the services are needed.
cargo build --workspace --bins --tests
wait "$setup" || { echo "scripts/setup.sh failed (output above)" >&2; exit 1; }
# The fault suite (tests/faults.rs) appends one row per scenario to this table.
table="$CARGO_TARGET_DIR/tmp/fault-table.md"
rm -f "$table"
status=0
cargo test --workspace --no-fail-fast "$@" || status=$?
if [[ -s "$table" ]]; then
  echo
  echo "Fault suite:"
  echo "| scenario | cycles | dangling heads | lost updates | time to converge | note |"
  echo "|---|---|---|---|---|---|"
  cat "$table"
fi
exit "$status"
