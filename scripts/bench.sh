#!/usr/bin/env bash
# Runs the benchmarks of docs/benchmarks.md and prints their table.
#
#   scripts/bench.sh                  default scale, every phase
#   scripts/bench.sh --full           the "Prove it" issue's sizes (10k libraries, ~1M objects, 1M events, 4 GiB of big files)
#   scripts/bench.sh --scale tiny     every phase in about 2 minutes (for working on the bench)
#   scripts/bench.sh --only link,bigfiles        some of: copy,incremental,latency,replay,link,bigfiles,scan,dbcost,marker
#   scripts/bench.sh --scale tiny --only copy,incremental     any other seaf-bench option (--help)
#
#   scripts/bench.sh --scratch-fs 40G --only copy   on a fresh ext4 file system of that size (root only)
#
# --scratch-fs SIZE (first argument): the work directory goes on a new ext4 file system in a
# sparse image file (loop-mounted, removed at the end) instead of the machine's own. A file
# system that has just had millions of files deleted (every earlier bench run's work
# directory) allocates inodes up to 20 times slower (ext4's `recently_deleted` scan), which
# moved both sides of the copy ratios from run to run; a fresh one is what a new backup disk
# is. The image goes in $TMPDIR (default /tmp).
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
bench="$CARGO_TARGET_DIR/release/seaf-bench"
if [ "${1:-}" != "--scratch-fs" ]; then exec "$bench" "$@"; fi

size="${2:?--scratch-fs needs a size, e.g. 40G}"
shift 2
[ "$(id -u)" -eq 0 ] || { echo "--scratch-fs mounts a loop device: run as root" >&2; exit 2; }
scratch="$(mktemp -d "${TMPDIR:-/tmp}/seaf-bench-fs.XXXXXX")"
cleanup() {
  umount "$scratch/mnt" 2>/dev/null || true
  rm -rf "$scratch"
}
trap cleanup EXIT
truncate -s "$size" "$scratch/image"
mkfs.ext4 -q -F -i 8192 "$scratch/image"
mkdir "$scratch/mnt"
mount -o loop "$scratch/image" "$scratch/mnt"
echo "work directory on a fresh ext4 file system of $size ($scratch/image, loop-mounted)" >&2
# The whole file system goes at the end: no need for the bench to delete its files first.
"$bench" --work-dir "$scratch/mnt" --keep-work-dir "$@"
