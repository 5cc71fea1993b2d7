#!/usr/bin/env bash
# The short bench pass of CI and its regression check against the baseline of this machine kind.
#
#   bash cmake/bench-check.sh <build dir> [baseline.json]
#
# Runs the bench binaries of <build dir> (a release build: the `test` workflow's build/release
# has them) with reduced repetitions (the pass below, under 10 minutes on the CI machine), writes
# <build dir>/bench-check/results.json and report.html, then tools/regress.py compares it with
# bench/baselines/<machine kind>.json (or the baseline given): it fails when a budget that passed
# in the baseline is beyond its goal by more than its noise twice (the binary is rerun once to
# confirm), and prints every other regression. With no baseline for this machine kind it says so
# and checks nothing (exit 0); a baseline given for another kind is refused (exit 2).
#
#   TICKFLOW_BENCH_CHECK_MAKE=1 bash cmake/bench-check.sh build/release   # run only, no compare
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:?usage: bash cmake/bench-check.sh <build dir> [baseline.json]}
baseline=${2:-}
bin="$build/bench"
out="$build/bench-check"
py=/usr/bin/python3
[ -x "$py" ] || py=python3

# The pass: every binary whose budgets fit a short run, with 5 repetitions (the fewest at which
# compare.py's two-sided U test can reach p < 0.05: 0.008; with 3 it cannot go below 0.1) and
# shorter cases.
# Left out: benchmark_05_throughput, benchmark_06_tick_latency (1000 ticks) and
# benchmark_07_memory (1M pages, 1000 churn ticks), whose budgets need their full workloads;
# benchmark_04_purity (no budget line) and benchmark_10_provenance (its budgets have 6-100x of
# headroom, and its 40 s go to building W), to keep CI under 30 minutes.
binaries=(bench_queue bench_page bench_columnar benchmark_01_replay benchmark_02_integrity benchmark_03_graph
          benchmark_08_invariants benchmark_09_stability)
args="--benchmark_repetitions=5 --benchmark_min_time=0.05"
paths=()
for b in "${binaries[@]}"; do
  [ -x "$bin/$b" ] || { echo "bench-check: $bin/$b is missing (build the release preset first)" >&2; exit 1; }
  paths+=("$bin/$b")
done
joined=$(IFS='|'; echo "${paths[*]}")
start=$(date +%s)
rm -rf "$out"
cmake "-DBINARIES=$joined" "-DOUT_DIR=$out" "-DEXTRA_ARGS=$args" "-DPYTHON=$py" \
      "-DCOMPILER=$(c++ --version | head -1)" "-DFLAGS=-O2 -DNDEBUG (release preset)" \
      -P cmake/run_benchmarks.cmake >"$out.log" 2>&1 || { tail -30 "$out.log"; echo "bench-check: the bench pass failed" >&2; exit 1; }
sed -n '/==== tickflow budgets ====/,$p' "$out.log"
echo "bench-check: the pass took $(( $(date +%s) - start )) s"
[ "${TICKFLOW_BENCH_CHECK_MAKE:-0}" = 1 ] && exit 0

kind=$("$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))["machine"]["kind"])' "$out/results.json")
if [ -z "$baseline" ]; then
  baseline="bench/baselines/$kind.json"
  if [ ! -f "$baseline" ]; then
    echo "bench-check: no baseline for machine kind '$kind' (have: $(cd bench/baselines && ls *.json 2>/dev/null | tr '\n' ' ')); nothing compared"
    exit 0
  fi
fi
"$py" tools/regress.py check --baseline "$baseline" --results "$out/results.json" --bin-dir "$bin" --args "$args"
