#!/usr/bin/env bash
# Runs the benchmarks of docs/benchmarks.md and prints their table.
#
#   scripts/bench.sh                  default scale, every phase
#   scripts/bench.sh --full           the "Prove it" issue's sizes (10k libraries, ~1M objects, 1M events, 4 GiB of big files)
#   scripts/bench.sh --scale tiny     every phase in about 2 minutes (for working on the bench)
#   scripts/bench.sh --only link,bigfiles        some of: copy,incremental,latency,replay,link,bigfiles,scan
#   scripts/bench.sh --scale tiny --only copy,incremental     any other seaf-bench option (--help)
#
# Give each checkout its own CARGO_TARGET_DIR (e.g. CARGO_TARGET_DIR=~/.cache/seaf-backup/target-bench).
# The bigfiles phase needs three times its data size free in the work directory (--work-dir).
#
# Prepares the machine (scripts/setup.sh: databases, Apache Kafka), builds seaf-backup and
# seaf-bench in release mode, then runs seaf-bench, which starts its own broker, databases and
# processes and removes them when done. The table goes to stdout, progress to stderr.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/seaf-backup/target}"

scripts/setup.sh
if ! command -v rsync >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get install -y -qq rsync
fi
cargo build --release -p seaf-backup -p seaf-bench
exec "$CARGO_TARGET_DIR/release/seaf-bench" "$@"
