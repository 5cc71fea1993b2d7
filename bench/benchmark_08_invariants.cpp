// Suite 08 (invariants), performance: invariant checks per second. The issue sets no budget for
// this suite; the binary reports the rates.
//
// Workload: the five built-ins over an engine context of 10,000 pages (random sizes, 64 bytes
// on average), a page graph of those pages with 40,000 edges, one queue, and a log that grows by
// 100 records between checks (log continuity checks only the new records).
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdio>
#include <random>
#include <vector>

#include <tickflow/page/page_store.hpp>
#include <tickflow/validate/invariants.hpp>

#include "support/harness.hpp"

namespace {

using namespace tickflow;
namespace tb = tickflow::bench;

constexpr std::size_t pages = 10'000;

struct fixture {
  page_store store;
  page_graph<> graph;
  std::vector<page_id> ids;
  std::vector<std::uint32_t> sizes;
  std::vector<delta> log;
  queue_counters queue{1000, 990, 10};
};

fixture& data() {
  static fixture f = [] {
    fixture out;
    std::mt19937_64 rng(4);
    for (std::size_t i = 0; i < pages; ++i) {
      out.sizes.push_back(8 * (1 + static_cast<std::uint32_t>(rng() % 15)));
      out.ids.push_back(*out.store.create(out.sizes.back()));
      (void)out.graph.add_page(out.ids.back());
    }
    for (std::size_t e = 0; e < 4 * pages; ++e) {
      std::size_t a = rng() % pages, b = rng() % pages;
      if (a == b) continue;
      if (a > b) std::swap(a, b);
      (void)out.graph.add_edge({out.ids[a], out.ids[b]});
    }
    return out;
  }();
  return f;
}

void bm_check_all(benchmark::State& state) {
  auto& f = data();
  auto registry = builtin_invariants();
  f.log.clear();  // a run starts a fresh log (each repetition runs this function again)
  std::uint64_t id = 1;
  std::uint32_t e = 1;
  std::uint64_t checks = 0;
  for (auto _ : state) {
    state.PauseTiming();
    for (int k = 0; k < 100; ++k) {
      delta d;
      d.id = delta_id{id++};
      d.at = epoch{e};
      f.log.push_back(d);
    }
    ++e;
    state.ResumeTiming();
    engine_context ctx;
    ctx.store = &f.store;
    ctx.pages = f.ids;
    ctx.sizes = f.sizes;
    ctx.graph = &f.graph;
    ctx.queues = std::span<const queue_counters>(&f.queue, 1);
    ctx.log = f.log;
    const auto rep = registry.check_all(ctx);
    if (!rep.ok()) {
      state.SkipWithError("unexpected violation");
      return;
    }
    checks += rep.checks;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(checks));
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::RegisterBenchmark("invariants/check_all_10k_pages", bm_check_all)->Unit(benchmark::kMicrosecond)->MinTime(0.2);
  tb::median_collector c;
  tb::run_and_collect(argc, argv, c);
  std::printf("\n");
  if (const auto m = c.get("invariants/check_all_10k_pages"))
    std::printf("# invariants: %.3g invariant checks/s (5 built-ins per check_all; %.1f us per check_all over 10k pages)\n",
                m->items_per_second, m->real_time);
  std::printf("# invariants: no budget is set for suite 08\n");
  return c.errors().empty() ? 0 : 1;
}
