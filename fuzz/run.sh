#!/usr/bin/env bash
# Long fuzz runs: every target for RUNS executions (default 10 million), libFuzzer under
# `cargo +nightly fuzz`, no sanitizer (the code is safe Rust: unsafe is forbidden workspace-wide,
# so a sanitizer would only slow the search). Prints one summary line per target; inputs that
# grow coverage are kept in fuzz/corpus/<target> (seeds from the samples: fuzz/seeds/<target>);
# `make test` replays both on stable. After a long run, `cargo +nightly fuzz cmin -s none -O <t>`
# keeps the corpus small.
set -euo pipefail
cd "$(dirname "$0")"
RUNS="${RUNS:-10000000}"
TARGETS="${TARGETS:-lifecycle_policy event custom_resource_request manifest image_details}"
mkdir -p logs
for t in $TARGETS; do
  start=$(date +%s)
  mkdir -p "corpus/$t"
  cargo +nightly fuzz run -s none -O "$t" "corpus/$t" "seeds/$t" -- \
    -runs="$RUNS" -max_len=8192 -timeout=5 -print_final_stats=1 -close_fd_mask=3 >"logs/$t.log" 2>&1 || {
    echo "$t: FAILED (see fuzz/logs/$t.log and fuzz/artifacts/$t)"; exit 1; }
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "logs/$t.log" | grep -o '[0-9]*$')
  cov=$(grep -o 'cov: [0-9]*' "logs/$t.log" | tail -1)
  echo "$t: $runs executions in $(( $(date +%s) - start )) s, $cov, 0 crashes, 0 timeouts, corpus $(ls "corpus/$t" | wc -l) inputs"
done
