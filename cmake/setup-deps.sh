#!/usr/bin/env bash
# Installs what building, testing and benchmarking tickflow needs, on Debian or Ubuntu.
# Idempotent: when every package is already present it only checks and returns.
#   bash cmake/setup-deps.sh          # required + optional rivals + report tools
#   bash cmake/setup-deps.sh --minimal  # required only
#   bash cmake/setup-deps.sh --report   # report tools only (the report tests run this first)
#   bash cmake/setup-deps.sh --docs     # Doxygen only (the docs workflow)
set -euo pipefail

required=(cmake ninja-build g++ catch2 libbenchmark-dev libxsimd-dev libfmt-dev python3 patch)
optional=(clang libclang-rt-dev libboost-dev libboost-graph-dev libconcurrentqueue-dev libreaderwriterqueue-dev libtbb-dev libabsl-dev)

# The report and its tests: schema validation, SVG charts, the regression compare (Mann-Whitney U
# via SciPy), a headless browser, a Prometheus server and promtool, and perf for cmake/profile.sh.
# Debian's python3 packages are for /usr/bin/python3, which the report scripts use.
report=(python3 python3-jsonschema python3-matplotlib python3-scipy libbenchmark-tools chromium prometheus curl linux-perf)
# The API reference.
docs=(doxygen)

case "${1:-}" in
  --minimal) want=("${required[@]}") ;;
  --report) want=("${report[@]}") ;;
  --docs) want=("${docs[@]}") ;;
  *) want=("${required[@]}" "${optional[@]}" "${report[@]}" "${docs[@]}") ;;
esac

if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
  echo "setup-deps: this script knows Debian/Ubuntu (apt-get) only." >&2
  echo "setup-deps: install by hand: CMake >= 3.25, Ninja, a C++20 compiler (GCC >= 12 or Clang >= 15)," >&2
  echo "            Catch2 (v2.13 or v3), Google Benchmark, xsimd, fmt; optionally Boost, moodycamel queues, oneTBB, Abseil." >&2
  exit 1
fi

missing=()
for p in "${want[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [ "$status" = "install ok installed" ] || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup-deps: all ${#want[@]} packages present."
  exit 0
fi

echo "setup-deps: installing ${missing[*]}"
sudo=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then sudo=(sudo); else
    echo "setup-deps: not root and no sudo; run as root: apt-get install ${missing[*]}" >&2; exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
req_missing=(); opt_missing=()
for p in "${missing[@]}"; do
  if [[ " ${required[*]} ${report[*]} ${docs[*]} " == *" $p "* ]]; then req_missing+=("$p"); else opt_missing+=("$p"); fi
done
[ ${#req_missing[@]} -eq 0 ] || "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${req_missing[@]}"
# Rivals are optional: a distribution without one still builds; that benchmark prints SKIP.
for p in "${opt_missing[@]}"; do
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends "$p" ||
    echo "setup-deps: optional $p unavailable; its benchmarks will be skipped." >&2
done
echo "setup-deps: done."
