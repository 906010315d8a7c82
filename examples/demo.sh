#!/usr/bin/env bash
# The README demo: builds MFS, copies a real tree (/usr/share/doc, or the directory given as
# the first argument) into a primary directory with `cp -a` running under the shim, then checks
# that the mirror is identical. Uses the embedded defaults: no configuration file, and no daemon
# started by hand (`mfsctl run` starts one for the session, which exits once idle).
#
#   examples/demo.sh [SOURCE_DIR] [DEMO_DIR]
#
# Exits 0 when the mirror is identical to the primary, 1 when mfsctl verify lists differences.
set -euo pipefail

source_dir=${1:-/usr/share/doc}
demo=${2:-/tmp/mfs-demo}
cd "$(dirname "$0")/.."

cargo build --release
rm -rf "$demo"
mkdir -p "$demo/primary" "$demo/mirror"
target/release/mfsctl run --mirror "$demo/primary:$demo/mirror" -- cp -a "$source_dir" "$demo/primary/"
target/release/mfsctl verify "$demo/primary" "$demo/mirror"
