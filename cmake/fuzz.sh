#!/usr/bin/env bash
# Builds the parser fuzz target with clang's libFuzzer (+ASan +UBSan) and runs it for a bounded
# time from the committed corpus. Installs clang and its runtime with apt-get when missing.
#   bash cmake/fuzz.sh [seconds]     (default 60)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"

cxx=""
for c in clang++ clang++-14 clang++-15 clang++-16; do
  if command -v "$c" >/dev/null 2>&1; then cxx="$c"; break; fi
done
fuzz_probe() { echo 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long){return 0;}' |
  "$cxx" -x c++ -fsanitize=fuzzer - -o /tmp/tickflow_fuzz_probe >/dev/null 2>&1; }
if [ -z "$cxx" ] || ! fuzz_probe; then
  if command -v apt-get >/dev/null 2>&1; then
    sudo=(); [ "$(id -u)" -eq 0 ] || sudo=(sudo)
    echo "fuzz: installing clang and its libFuzzer runtime"
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends clang libclang-rt-14-dev >/dev/null ||
      { "${sudo[@]}" apt-get update -qq && DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends clang libclang-rt-14-dev >/dev/null; }
    cxx=clang++
  fi
  if ! command -v "$cxx" >/dev/null 2>&1 || ! fuzz_probe; then
    echo "fuzz: SKIP (no clang with libFuzzer here)"; exit 0
  fi
fi

out=build/fuzz
mkdir -p "$out/corpus"
cp tests/fuzz/corpus/* "$out/corpus/"
"$cxx" -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
  -Iinclude tests/fuzz/fuzz_parsers.cpp -o "$out/fuzz_parsers"
rm -f "$out"/crash-* "$out"/leak-* "$out"/timeout-*
"$out/fuzz_parsers" -max_total_time="$seconds" -print_final_stats=1 -artifact_prefix="$out/" "$out/corpus" 2>&1 |
  grep -E "^#[0-9]+ +DONE|stat::number_of_executed_units|stat::peak_rss_mb|ERROR|SUMMARY|Done [0-9]+ runs" || true
# libFuzzer exits non-zero on a finding; the pipeline above hides it, so check again for a crash file.
if ls "$out"/crash-* "$out"/leak-* "$out"/timeout-* >/dev/null 2>&1; then echo "fuzz: FINDINGS in $out"; exit 1; fi
echo "fuzz: no finding in ${seconds}s"
