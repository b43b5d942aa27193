#!/usr/bin/env bash
# Runs every fuzz target for SECONDS (default 300) each, one after the other, logging to
# fuzz/logs/<target>.log. Used to produce the figures in docs/testing.md ("Fuzzing").
set -uo pipefail
cd "$(dirname "$0")"
seconds="${1:-300}"
mkdir -p logs
export RUSTC_BOOTSTRAP=1
cargo fuzz build -O >logs/build.log 2>&1 || { echo "build failed, see fuzz/logs/build.log"; exit 1; }
for target in template date_pattern ceql config; do
  mkdir -p "corpus/$target"
  cargo fuzz run -O "$target" -- -max_total_time="$seconds" -rss_limit_mb=4096 -max_len=4096 >"logs/$target.log" 2>&1
  echo "$target: exit $?"
done
