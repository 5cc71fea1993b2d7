// Suite 09 (stability), performance: the NaN/Inf scan against the read bandwidth, and
// perturbation runs per second.
//
// Budget (issue: purity, stability and provenance validators, suite 09):
//   stability.nan_scan_vs_bandwidth  find_nonfinite over the pages of workload W (1M pages of 8
//                                    doubles in reference_engine, laid out by its plan), in GB/s
//                                    of page bytes, over one thread's read bandwidth measured in
//                                    the same run (an xsimd sum over a buffer of the same size):
//                                    the median of paired, alternated rounds: >= 0.8
// Printed beside it: both rates, the kernel alone over the read's buffer, the scalar kernel,
// the page-by-page scan (the generic path of engines without a store), the read's loop over the
// store's own chunks and over 64 KiB blocks allocated in a row (where the scan's floor on the
// store's layout lies), and perturbation runs per second (information).
#include <benchmark/benchmark.h>

#include <tickflow/engine/engine.hpp>
#include <tickflow/semiring/builtin.hpp>
#include <tickflow/validate/stability.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <random>
#include <vector>

#include <xsimd/xsimd.hpp>

#include "support/harness.hpp"
#include "support/w_engine.hpp"
#include "support/workload.hpp"

using namespace tickflow;
namespace tb = tickflow::bench;

namespace {

using clk = std::chrono::steady_clock;
using engine_t = reference_engine<double, semiring_kernel<real_semiring<double>>, thread_pool>;
constexpr std::size_t pages_n = 1'000'000;

double seconds_since(clk::time_point t0) { return std::chrono::duration<double>(clk::now() - t0).count(); }

struct world {
  std::unique_ptr<engine_t> engine;
  std::vector<double> reference;  // as many bytes as the pages, for the read bandwidth
  double build_s = 0;
};

world& data() {
  static world w = [] {
    world out;
    const auto t0 = clk::now();
    std::mt19937_64 rng(9);
    out.engine = tb::build_w_engine<engine_t>(false, rng, engine_options{}, [](std::mt19937_64&) { return 0.5; }).engine;
    out.reference.assign(pages_n * 8, 1.0);
    out.build_s = seconds_since(t0);
    return out;
  }();
  return w;
}

// The read's loop: an xsimd sum in four accumulators.
double sum_doubles(const double* p, std::size_t n) {
  using B = xsimd::batch<double>;
  B a(0.0), b(0.0), c(0.0), d(0.0);
  std::size_t i = 0;
  for (; i + 4 * B::size <= n; i += 4 * B::size) {
    a += B::load_unaligned(p + i);
    b += B::load_unaligned(p + i + B::size);
    c += B::load_unaligned(p + i + 2 * B::size);
    d += B::load_unaligned(p + i + 3 * B::size);
  }
  double s = xsimd::hadd((a + b) + (c + d));
  for (; i < n; ++i) s += p[i];
  return s;
}
double read_sum(const std::vector<double>& v) { return sum_doubles(v.data(), v.size()); }

void bm_scan(benchmark::State& s) {
  world& w = data();
  for (auto _ : s) {
    const auto loc = find_nonfinite(*w.engine);
    if (loc.found()) s.SkipWithError("a non-finite value in W");
    benchmark::DoNotOptimize(loc);
  }
  s.SetBytesProcessed(static_cast<std::int64_t>(s.iterations() * pages_n * 64));
}
void bm_read(benchmark::State& s) {
  world& w = data();
  for (auto _ : s) benchmark::DoNotOptimize(read_sum(w.reference));
  s.SetBytesProcessed(static_cast<std::int64_t>(s.iterations() * pages_n * 64));
}
// The scalar kernel over the same buffer (how much the SIMD kernel buys).
void bm_scalar(benchmark::State& s) {
  world& w = data();
  for (auto _ : s) benchmark::DoNotOptimize(scalar::first_nonfinite<double>(w.reference));
  s.SetBytesProcessed(static_cast<std::int64_t>(s.iterations() * pages_n * 64));
}
// A plain sum over the store's runs (the read's loop over the scan's memory).
void bm_runs_sum(benchmark::State& s) {
  world& w = data();
  for (auto _ : s) {
    double acc = 0;
    w.engine->store().for_each_hot_run([&](std::span<const std::byte> run, std::size_t, std::uint32_t, std::uint32_t) {
      acc += sum_doubles(reinterpret_cast<const double*>(run.data()), run.size() / 8);
    });
    benchmark::DoNotOptimize(acc);
  }
  s.SetBytesProcessed(static_cast<std::int64_t>(s.iterations() * pages_n * 64));
}
// The same sum over 64 KiB blocks allocated one by one, as the store's chunks are.
std::vector<std::unique_ptr<double[]>>& blocks() {
  static std::vector<std::unique_ptr<double[]>> b = [] {
    std::vector<std::unique_ptr<double[]>> out;
    for (std::size_t k = 0; k < pages_n * 64 / 65536; ++k) {
      out.push_back(std::make_unique<double[]>(8192));
      for (std::size_t i = 0; i < 8192; ++i) out.back()[i] = 1.0;
    }
    return out;
  }();
  return b;
}
void bm_blocks_sum(benchmark::State& s) {
  auto& bl = blocks();
  for (auto _ : s) {
    double acc = 0;
    for (auto& blk : bl) acc += sum_doubles(blk.get(), 8192);
    benchmark::DoNotOptimize(acc);
  }
  s.SetBytesProcessed(static_cast<std::int64_t>(s.iterations() * pages_n * 64));
}
// The SIMD kernel over the reference buffer (the kernel alone, over contiguous memory).
void bm_simd_flat(benchmark::State& s) {
  world& w = data();
  for (auto _ : s) benchmark::DoNotOptimize(first_nonfinite<double>(w.reference));
  s.SetBytesProcessed(static_cast<std::int64_t>(s.iterations() * pages_n * 64));
}
// Page by page in id order: the path an engine without a store takes.
void bm_pages(benchmark::State& s) {
  world& w = data();
  for (auto _ : s) {
    std::size_t bad = 0;
    w.engine->for_each_page([&](page_id, std::span<const std::byte> bytes, epoch) {
      bad += first_nonfinite<double>(std::span<const double>(reinterpret_cast<const double*>(bytes.data()), bytes.size() / 8)) < bytes.size() / 8;
    });
    benchmark::DoNotOptimize(bad);
  }
  s.SetBytesProcessed(static_cast<std::int64_t>(s.iterations() * pages_n * 64));
}

// Perturbation runs: 20k pages, 80k W-local edges (window 64), 10 ticks of 5k deltas, noise in the deltas.
double perturbation_run_seconds() {
  constexpr std::size_t n = 20'000;
  std::vector<std::uint64_t> keys;
  {
    std::mt19937_64 rng(3);
    keys = tb::engine_workload_edges(true, n, 4 * n, rng, 64);
  }
  std::vector<std::uint8_t> derived(n, 0);
  for (const auto k : keys) derived[k & 0xFFFFFFFFU] = 1;
  std::vector<std::uint32_t> sources;
  for (std::uint32_t r = 0; r < n; ++r)
    if (derived[r] == 0) sources.push_back(r);
  std::vector<std::vector<page_id>> ids;
  auto make = [&] {
    auto e = std::make_unique<engine_t>(engine_options{}, 2);
    ids.emplace_back();
    for (std::size_t i = 0; i < n; ++i) ids.back().push_back(*e->create_page(64));
    graph_edit<double> edit;
    for (const auto k : keys) edit.add_edge({ids.back()[k >> 32], ids.back()[k & 0xFFFFFFFFU], edge_kind::data, 0.3});
    if (!e->edit_graph(edit)) std::abort();
    (void)e->step();
    return e;
  };
  engine_t* first = nullptr;
  auto drive = [&](engine_t& e, std::size_t t, auto&& submit) {
    if (first == nullptr) first = &e;
    const auto& my = ids[&e == first ? 0 : 1];
    std::mt19937_64 rng(t);
    const epoch at{e.current_epoch().value() + 1};
    delta d;
    d.length = 64;
    d.mask.assign(1, ~std::uint64_t{0});
    d.payload.resize(64);
    for (std::size_t k = 0; k < 5000; ++k) {
      d.page = my[sources[rng() % sources.size()]];
      d.at = at;
      d.id = delta_id{(std::uint64_t{t} << 20) | k};
      for (std::size_t j = 0; j < 8; ++j) {
        const double v = static_cast<double>(rng() % 1000);
        std::memcpy(d.payload.data() + 8 * j, &v, 8);
      }
      (void)submit(d);
    }
  };
  stability_options o;
  o.ticks = 10;
  const auto t0 = clk::now();
  const auto rep = run_perturbation<engine_t>(make, drive, o);
  const double s = seconds_since(t0);
  if (rep.ticks.size() != 10 || rep.nonfinite) std::abort();
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  (void)data();
  benchmark::RegisterBenchmark("stability/nan_scan", bm_scan)->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("stability/read_bandwidth", bm_read)->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("stability/nan_scan_scalar", bm_scalar)->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("stability/nan_scan_page_by_page", bm_pages)->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("stability/nan_scan_flat_buffer", bm_simd_flat)->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("stability/read_store_runs", bm_runs_sum)->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("stability/read_64k_blocks", bm_blocks_sum)->Unit(benchmark::kMillisecond);
  tb::median_collector c;
  tb::run_and_collect(argc, argv, c);

  // Paired and alternated: read time over scan time is the scan's share of the bandwidth.
  world& w = data();
  const auto paired = tb::measure_paired(
      [&]() -> std::optional<double> {
        const auto t0 = clk::now();
        const auto loc = find_nonfinite(*w.engine);
        benchmark::DoNotOptimize(loc);
        return seconds_since(t0);
      },
      [&]() -> std::optional<double> {
        const auto t0 = clk::now();
        benchmark::DoNotOptimize(read_sum(w.reference));
        return seconds_since(t0);
      },
      21);
  std::vector<double> runs;
  for (int k = 0; k < 3; ++k) runs.push_back(perturbation_run_seconds());
  std::sort(runs.begin(), runs.end());

  std::printf("\n# workload: W's 1M pages of 64 B in reference_engine (laid out by the plan), built in %.1f s; scan arch %s\n", w.build_s,
              xsimd::default_arch::name());
  auto rate = [&](const char* n) {
    const auto m = c.get(n);
    return m ? m->bytes_per_second / 1e9 : 0.0;
  };
  std::printf("# medians: scan %.2f GB/s, read %.2f GB/s; the scan's kernel over the read's buffer %.2f GB/s, the scalar kernel %.2f GB/s; "
              "page by page in id order %.2f GB/s\n",
              rate("stability/nan_scan"), rate("stability/read_bandwidth"), rate("stability/nan_scan_flat_buffer"),
              rate("stability/nan_scan_scalar"), rate("stability/nan_scan_page_by_page"));
  std::printf("# the read's loop over the store's own chunks (977 runs of 64 KiB, scattered in the heap): %.2f GB/s; over 64 KiB blocks "
              "allocated one after another: %.2f GB/s\n",
              rate("stability/read_store_runs"), rate("stability/read_64k_blocks"));
  if (paired)
    std::printf("# paired (21 alternated rounds): scan / read bandwidth median %.3f (range %.3f-%.3f)\n", paired->median, paired->low,
                paired->high);
  std::printf("# perturbation runs (20k pages, 80k edges, 10 ticks of 5k deltas, two engines): %.2f runs/s (median of 3, %.2f s each)\n",
              1.0 / runs[1], runs[1]);
  tb::print_budget("stability.nan_scan_vs_bandwidth", paired ? std::optional<double>(paired->median) : std::nullopt, "ratio",
                   tb::goal_op::at_least, 0.8);
  return c.errors().empty() ? 0 : 1;
}
