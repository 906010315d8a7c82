#!/usr/bin/env bash
# The README outage demo: a program keeps writing into a mirrored directory while the mirror
# is taken offline; `mfsctl status` shows the journal growing, `mfsctl online` replays it, and
# `mfsctl verify` finds the copies identical. `mfsctl run` starts the control daemon for the
# session (its socket and state under DEMO_DIR).
#
#   examples/outage.sh [DEMO_DIR]
#
# Exits 0 when the copies are identical after the recovery.
set -euo pipefail

D=${1:-/tmp/mfs-outage}
cd "$(dirname "$0")/.."
cargo build --release
rm -rf "$D"
mkdir -p "$D/data" "$D/mirror"
export MFS_SOCKET=$D/mfsd.sock
target/release/mfsctl run --mirror "$D/data:$D/mirror" -- \
    sh -c 'for i in $(seq 300); do echo "$i" > "$0/f$((i % 40))"; sleep 0.01; done' "$D/data" &
sleep 1
target/release/mfsctl offline data
target/release/mfsctl status
wait
target/release/mfsctl online data
target/release/mfsctl verify "$D/data" "$D/mirror"
