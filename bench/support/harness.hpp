// Shared benchmark harness: thread pinning, a start gate, median collection and budget lines.
//
// Every bench binary registers Google Benchmark cases, runs them through run_and_collect()
// (which keeps GB's console and JSON output and records each case's median), then prints one
// budget line per budget it checks, in the form DESIGN.md §3 fixes:
//   budget <suite>.<metric> value=<number> unit=<unit> goal=<op><number> PASS|FAIL|SKIP
#pragma once

#include <benchmark/benchmark.h>
#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace tickflow::bench {

/// Pins the calling thread to `cpu` modulo the number of online CPUs. Returns false if the
/// system refused (the benchmark still runs, unpinned).
inline bool pin_this_thread(unsigned cpu) {
  const unsigned n = std::thread::hardware_concurrency() == 0 ? 1 : std::thread::hardware_concurrency();
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu % n, &set);
  return pthread_setaffinity_np(pthread_self(), sizeof set, &set) == 0;
}

/// Pins the calling thread to `cpu` for the object's lifetime, then restores its previous
/// affinity. Threads created meanwhile inherit the pin: a section that pins its caller must not
/// leave it pinned, or the next section's pools start with every worker on one core.
class scoped_pin {
 public:
  explicit scoped_pin(unsigned cpu) {
    saved_ = pthread_getaffinity_np(pthread_self(), sizeof before_, &before_) == 0;
    pin_this_thread(cpu);
  }
  ~scoped_pin() {
    if (saved_) (void)pthread_setaffinity_np(pthread_self(), sizeof before_, &before_);
  }
  scoped_pin(const scoped_pin&) = delete;
  scoped_pin& operator=(const scoped_pin&) = delete;

 private:
  cpu_set_t before_{};
  bool saved_ = false;
};

using clock = std::chrono::steady_clock;

/// Runs `fns[i]` on thread i pinned to cpu `cpus[i]`, all released at once; returns the seconds
/// from the release to the moment the last one finished. Thread creation is outside the window.
template <class Fn>
double run_pinned(const std::vector<unsigned>& cpus, const std::vector<Fn>& fns) {
  std::atomic<unsigned> ready{0};
  std::atomic<bool> go{false};
  std::vector<clock::time_point> ends(fns.size());
  std::vector<std::thread> threads;
  threads.reserve(fns.size());
  for (std::size_t i = 0; i < fns.size(); ++i) {
    threads.emplace_back([&, i] {
      pin_this_thread(cpus[i]);
      ready.fetch_add(1);
      while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
      fns[i]();
      ends[i] = clock::now();
    });
  }
  while (ready.load() != fns.size()) std::this_thread::yield();
  const auto start = clock::now();
  go.store(true, std::memory_order_release);
  for (auto& t : threads) t.join();
  auto end = ends[0];
  for (auto& e : ends) end = std::max(end, e);
  return std::chrono::duration<double>(end - start).count();
}

/// Medians of every case, by name (the GB name without the aggregate suffix).
class median_collector : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const auto& r : runs) {
      if (r.error_occurred) errors_.push_back(r.benchmark_name());
      const bool is_median = r.run_type == Run::RT_Aggregate && r.aggregate_name == "median";
      if (is_median || r.run_type == Run::RT_Iteration) {
        auto items = r.counters.find("items_per_second");
        auto bytes = r.counters.find("bytes_per_second");
        const struct median m = {r.GetAdjustedRealTime(), items == r.counters.end() ? 0.0 : items->second.value,
                                 bytes == r.counters.end() ? 0.0 : bytes->second.value};
        (is_median ? medians_ : singles_)[r.run_name.function_name] = m;
      }
    }
    ConsoleReporter::ReportRuns(runs);
  }
  struct median {
    double real_time;         ///< per iteration, in the case's time unit
    double items_per_second;  ///< 0 when the case sets no item count
    double bytes_per_second;  ///< 0 when the case sets no byte count
  };
  /// The median of a case, if it ran (with repetitions) and produced one.
  /// With a single repetition (no aggregates) the one measured run stands in for the median.
  std::optional<median> get(const std::string& name) const {
    if (auto it = medians_.find(name); it != medians_.end()) return it->second;
    if (auto it = singles_.find(name); it != singles_.end()) return it->second;
    return std::nullopt;
  }
  const std::vector<std::string>& errors() const { return errors_; }

 private:
  std::map<std::string, median> medians_;
  std::map<std::string, median> singles_;
  std::vector<std::string> errors_;
};

/// Runs the registered cases; GB flags (filter, repetitions, JSON out) apply as usual.
/// Repetitions default to 9 and random interleaving to on, so that drift of a shared machine
/// hits every contestant alike; a command-line flag overrides either.
inline void run_and_collect(int& argc, char** argv, median_collector& collector) {
  std::vector<char*> args(argv, argv + argc);
  std::string reps = "--benchmark_repetitions=9";
  std::string interleave = "--benchmark_enable_random_interleaving=true";
  std::string only_aggregates = "--benchmark_report_aggregates_only=false";
  bool has_reps = false, has_interleave = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    has_reps |= a.rfind("--benchmark_repetitions", 0) == 0;
    has_interleave |= a.rfind("--benchmark_enable_random_interleaving", 0) == 0;
  }
  if (!has_reps) args.push_back(reps.data());
  if (!has_interleave) args.push_back(interleave.data());
  int n = static_cast<int>(args.size());
  args.push_back(nullptr);
  benchmark::Initialize(&n, args.data());
  benchmark::RunSpecifiedBenchmarks(&collector);
  benchmark::Shutdown();
  (void)only_aggregates;
}

/// Ratios measured in pairs, for a machine whose pace changes from one sample to the next (the
/// CI machine type switches between speeds every few seconds): medians of each contestant
/// taken separately can then come from different speeds. Each of `rounds` rounds times `a` and
/// `b` back to back (alternating which goes first) on the same work; the result describes the
/// per-round ratios time(b) / time(a), so a faster `a` gives a larger ratio.
struct paired_ratios {
  double median;
  double low;   ///< smallest per-round ratio
  double high;  ///< largest
  std::size_t rounds;
};
/// `a` and `b` return the seconds one run took, or nullopt if the run failed its own check
/// (then the whole measurement is nullopt).
template <class A, class B>
std::optional<paired_ratios> measure_paired(A&& a, B&& b, std::size_t rounds) {
  std::vector<double> ratios;
  ratios.reserve(rounds);
  for (std::size_t r = 0; r < rounds; ++r) {
    std::optional<double> ta, tb;
    if (r % 2 == 0) {
      ta = a();
      tb = b();
    } else {
      tb = b();
      ta = a();
    }
    if (!ta || !tb || *ta <= 0) return std::nullopt;
    ratios.push_back(*tb / *ta);
  }
  if (ratios.empty()) return std::nullopt;
  std::sort(ratios.begin(), ratios.end());
  return paired_ratios{ratios[ratios.size() / 2], ratios.front(), ratios.back(), ratios.size()};
}

enum class goal_op { at_least, at_most, below };

/// Prints one budget line. `value` empty means SKIP, with `why` printed as a comment above.
inline bool print_budget(const std::string& metric, std::optional<double> value, const char* unit,
                         goal_op op, double goal, const std::string& why = {}) {
  const char* op_text = op == goal_op::at_least ? ">=" : op == goal_op::at_most ? "<=" : "<";
  if (!value) {
    std::printf("# %s: %s\n", metric.c_str(), why.empty() ? "not measured" : why.c_str());
    std::printf("budget %s value=nan unit=%s goal=%s%g SKIP\n", metric.c_str(), unit, op_text, goal);
    return true;
  }
  const bool pass = op == goal_op::at_least ? *value >= goal : op == goal_op::at_most ? *value <= goal : *value < goal;
  std::printf("budget %s value=%.4g unit=%s goal=%s%g %s\n", metric.c_str(), *value, unit, op_text, goal,
              pass ? "PASS" : "FAIL");
  return pass;
}

/// Prints one information line (a measured value with no goal), which the results file keeps:
///   info <suite>.<metric> value=<number> unit=<unit>
inline void print_info(const std::string& metric, double value, const char* unit) {
  std::printf("info %s value=%.4g unit=%s\n", metric.c_str(), value, unit);
}

}  // namespace tickflow::bench
