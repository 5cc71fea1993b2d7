// Suite 04 (isolation), performance: engine throughput under the purity validator against the
// bare engine, and the rates of the law and kernel checks. The issue sets no budget here
// (purity.overhead_ratio is information).
//
// Workload: reference_engine<double, real semiring> with 2 workers on W's graph (1M pages of 8
// doubles, 4M edges); per tick 100k deltas to source pages (no edits: the sources stay the
// same). Bare: submit and step(). Under the validator: purity_validator's submit and step(),
// which hash every page around each phase, check the apply against its oracle and compare the
// cut with the deltas submitted. Ticks alternate between the two, paired.
#include <benchmark/benchmark.h>

#include <tickflow/engine/engine.hpp>
#include <tickflow/semiring/builtin.hpp>
#include <tickflow/validate/purity.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <random>
#include <vector>

#include "support/harness.hpp"
#include "support/w_engine.hpp"

using namespace tickflow;
namespace tb = tickflow::bench;

namespace {

using clk = std::chrono::steady_clock;
using kernel = semiring_kernel<real_semiring<double>>;
using engine_t = reference_engine<double, kernel, thread_pool>;
constexpr std::size_t deltas_per_tick = 100'000;

double seconds_since(clk::time_point t0) { return std::chrono::duration<double>(clk::now() - t0).count(); }

struct world {
  std::unique_ptr<engine_t> engine;
  std::vector<page_id> sources;
  std::mt19937_64 rng{4};
  std::uint64_t next_id = 1;
  double build_s = 0;

  template <class Submit>
  void feed(Submit&& submit) {
    const epoch at{engine->current_epoch().value() + 1};
    delta d;
    d.length = 8;
    d.mask.assign(1, 0xFF);
    d.payload.resize(8);
    for (std::size_t k = 0; k < deltas_per_tick; ++k) {
      d.page = sources[rng() % sources.size()];
      d.at = at;
      d.id = delta_id{next_id++};
      d.offset = static_cast<std::uint32_t>(8 * (rng() % 8));
      const double v = static_cast<double>(rng() % 1000);
      std::memcpy(d.payload.data(), &v, 8);
      if (!submit(d)) std::abort();
    }
  }
};

world& data() {
  static world w = [] {
    world out;
    const auto t0 = clk::now();
    engine_options eo;
    eo.keep_log = false;
    eo.lane_bytes = std::size_t{64} << 20;
    std::uniform_real_distribution<double> weight(0.25, 0.75);
    auto built = tb::build_w_engine<engine_t>(false, out.rng, eo, weight);
    out.engine = std::move(built.engine);
    for (std::size_t r = 0; r < built.by_rank.size(); ++r)
      if (built.is_source[r] != 0) out.sources.push_back(built.by_rank[r]);
    out.build_s = seconds_since(t0);
    return out;
  }();
  return w;
}

void bm_laws(benchmark::State& s) {
  std::uint64_t checked = 0;
  for (auto _ : s) {
    const auto rep = check_semiring_laws<real_semiring<double>>();
    if (!rep.ok()) s.SkipWithError("the real semiring broke a law");
    checked += rep.checked();
  }
  s.SetItemsProcessed(static_cast<std::int64_t>(checked));
}
void bm_kernel(benchmark::State& s) {
  std::uint64_t calls = 0;
  for (auto _ : s) {
    const auto rep = check_kernel_purity<double, double>(kernel{});
    if (!rep.ok()) s.SkipWithError("the semiring kernel is impure");
    calls += rep.calls;
  }
  s.SetItemsProcessed(static_cast<std::int64_t>(calls));
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::RegisterBenchmark("purity/semiring_laws_real", bm_laws)->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("purity/kernel_check", bm_kernel)->Unit(benchmark::kMillisecond);
  tb::median_collector c;
  tb::run_and_collect(argc, argv, c);

  world& w = data();
  purity_validator<engine_t> validator(*w.engine);
  std::vector<double> bare_s, checked_s;
  bool faults = false;
  const auto paired = tb::measure_paired(
      [&]() -> std::optional<double> {
        const auto t0 = clk::now();
        w.feed([&](const delta& d) { return w.engine->submit(d); });
        const auto r = w.engine->step();
        const double s = seconds_since(t0);
        if (r.applied != deltas_per_tick) return std::nullopt;
        bare_s.push_back(s);
        return s;
      },
      [&]() -> std::optional<double> {
        // Both sides time the feed (submits) and the step: the validator's submit keeps a copy.
        const auto t0 = clk::now();
        w.feed([&](const delta& d) { return validator.submit(d); });
        const auto r = validator.step();
        const double s = seconds_since(t0);
        if (!r.ok() || r.step.applied != deltas_per_tick) {
          faults = true;
          return std::nullopt;
        }
        checked_s.push_back(s);
        return s;
      },
      9);
  std::printf("\n# workload: W's graph, 1M pages, 4M edges, 100k deltas per tick, 2 workers; built in %.1f s\n", w.build_s);
  if (faults) std::printf("# the validator reported a fault or a tick applied fewer deltas\n");
  auto med = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0.0 : v[v.size() / 2];
  };
  if (paired) {
    std::printf("# bare (submits and step): median %.1f ms (%.2f M deltas/s); under the validator (submit and step): median %.1f ms (%.2f M deltas/s)\n",
                med(bare_s) * 1e3, deltas_per_tick / med(bare_s) / 1e6, med(checked_s) * 1e3, deltas_per_tick / med(checked_s) / 1e6);
    std::printf("# purity.overhead_ratio (information): %.2f, paired over 9 alternated ticks (range %.2f-%.2f)\n", paired->median, paired->low,
                paired->high);
  }
  if (const auto m = c.get("purity/semiring_laws_real"))
    std::printf("# semiring laws (real, edge triples and 100k random): %.3g law instances/s, %.1f ms per check\n", m->items_per_second, m->real_time);
  if (const auto m = c.get("purity/kernel_check"))
    std::printf("# kernel purity (256 cases, 5 passes, one on another thread): %.3g calls/s, %.2f ms per check\n", m->items_per_second, m->real_time);
  std::printf("# purity: no budget is set for suite 04 (overhead_ratio is information)\n");
  return c.errors().empty() && paired && !faults ? 0 : 1;
}
