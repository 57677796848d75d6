#!/usr/bin/env bash
# The fault-injection suite on its own, with its table at the end:
#
#   scripts/faults.sh            20 kill cycles, 60 s outages (what CI runs inside scripts/test.sh)
#   scripts/faults.sh --long     100 kill cycles
#
# SEAF_FAULT_CYCLES and SEAF_FAULT_OUTAGE (seconds) override the sizes. Needs root for the
# full-disk scenario (it mounts a 3 MiB tmpfs).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/seaf-backup/target}"
[[ "${1:-}" == "--long" ]] && export SEAF_FAULT_LONG=1

scripts/setup.sh
cargo build --workspace --bins
table="$CARGO_TARGET_DIR/tmp/fault-table.md"
rm -f "$table"
status=0
cargo test -p seaf-tests --test faults -- --nocapture || status=$?
echo
echo "| scenario | cycles | dangling heads | lost updates | time to converge | note |"
echo "|---|---|---|---|---|---|"
cat "$table" 2>/dev/null || echo "(no scenario finished)"
exit "$status"
