#!/usr/bin/env bash
# Profiles a bench binary with perf's cpu-clock event (a timer, so it works where the machine has
# no hardware counters, as under KVM here) and writes the `perf script` text that Firefox Profiler
# (profiler.firefox.com, "Load a profile from file") and speedscope (speedscope.app) open as flame
# graphs.
#
#   bash cmake/profile.sh <bench binary> [benchmark filter]
#   e.g. bash cmake/profile.sh build/bench/bench/benchmark_05_throughput 'fork_join/'
#
# Environment: PROFILE_DIR (default ./profile-<binary>-<time>), PROFILE_HZ (default 999 samples
# per second), PROFILE_CALLGRAPH (default dwarf: the bench builds keep no frame pointers; "fp"
# is smaller and faster with -fno-omit-frame-pointer builds). Extra environment the binary reads
# (TF_TICKS, TF_WORKLOAD, ...) passes through.
set -euo pipefail
if [ $# -lt 1 ] || [ $# -gt 2 ] || [ ! -x "$1" ]; then
  echo "usage: bash cmake/profile.sh <bench binary> [benchmark filter]" >&2
  [ $# -ge 1 ] && [ ! -x "$1" ] && echo "profile.sh: $1 is not an executable (build it: cmake --preset bench && cmake --build build/bench -j2)" >&2
  exit 2
fi
command -v perf >/dev/null || { echo "profile.sh: perf is not installed (Debian: apt-get install linux-perf)" >&2; exit 1; }

bin=$(realpath "$1")
filter=${2:-}
name=$(basename "$bin")
out=${PROFILE_DIR:-profile-$name-$(date +%Y%m%d-%H%M%S)}
hz=${PROFILE_HZ:-999}
callgraph=${PROFILE_CALLGRAPH:-dwarf}
[ "$callgraph" = dwarf ] && callgraph="dwarf,16384"
mkdir -p "$out"

args=(--benchmark_repetitions=1 --benchmark_enable_random_interleaving=false)
[ -n "$filter" ] && args+=("--benchmark_filter=$filter")

echo "profile.sh: perf record -e cpu-clock -F $hz --call-graph $callgraph -- $name ${args[*]}"
perf record -e cpu-clock -F "$hz" --call-graph "$callgraph" -o "$out/perf.data" -- "$bin" "${args[@]}" >"$out/run.txt" 2>"$out/perf-record.log" ||
  { echo "profile.sh: perf record failed:" >&2; tail -5 "$out/perf-record.log" >&2; exit 1; }
perf script -F +pid -i "$out/perf.data" >"$out/perf.script" 2>"$out/perf-script.log"
perf report -i "$out/perf.data" --no-children --stdio -g none --percent-limit 2 2>/dev/null | grep -v '^#' | grep -v '^$' | head -40 >"$out/top.txt" || true

samples=$(grep -c 'cpu-clock' "$out/perf.script" || true)
echo "profile.sh: $samples samples"
echo "  $out/perf.script   open in https://profiler.firefox.com or https://www.speedscope.app (drag the file in)"
echo "  $out/top.txt       the hottest functions (self time), from perf report"
echo "  $out/run.txt       the binary's own output"
head -15 "$out/top.txt"
