#!/usr/bin/env bash
# Runs the fuzz targets (all, or the comma-separated TARGETS) for SECONDS
# each (default 600), JOBS at a time (default: half the cores), from corpora
# seeded with the test data.
# A crash is saved under fuzz/artifacts/<target>/ and fails the run; commit
# each as a regression test (see fuzz/README.md).
#   fuzz/run.sh [SECONDS] [JOBS] [TARGETS]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
secs="${1:-600}"
jobs="${2:-$(( ($(nproc) + 1) / 2 ))}"
cd "$here"
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
targets=(read page segment chunk constraint ground gguf spm digest_json jsonl)
if [ -n "${3:-}" ]; then IFS=, read -r -a targets <<<"$3"; fi
# Safe Rust throughout these paths: no sanitizer, for speed; panics, aborts,
# timeouts and out-of-memory are what the runs look for.
cargo +nightly fuzz build -s none -O
"$here/seed.sh" "$root"
mkdir -p logs
run_one() {
  local t="$1"
  mkdir -p "corpus/$t" "artifacts/$t"
  if cargo +nightly fuzz run -s none -O "$t" "corpus/$t" -- \
      -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=262144 \
      -artifact_prefix="artifacts/$t/" -print_final_stats=1 >"logs/$t.log" 2>&1; then
    echo "$t: ok, $(grep -o 'stat::number_of_executed_units: [0-9]*' "logs/$t.log" | grep -o '[0-9]*$') runs in ${secs}s"
  else
    echo "$t: FAILED, see fuzz/logs/$t.log and fuzz/artifacts/$t/"
    return 1
  fi
}
export -f run_one
export secs
printf '%s\n' "${targets[@]}" | xargs -P "$jobs" -I{} bash -c 'run_one {}'
