// Suite 02 (integrity), performance: deltas checked per second on one thread.
//
// Budget: integrity.deltas_per_s_1t >= 50e6 for 8M dense 64-byte deltas over 1M pages of 64
// bytes (uniformly random page, ids increasing, epochs rising every 4096 deltas), checked as a
// columnar batch against the store and a page graph (all pages sources).
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include <tickflow/columnar/delta_batch.hpp>
#include <tickflow/graph/page_graph.hpp>
#include <tickflow/page/page_store.hpp>
#include <tickflow/validate/integrity.hpp>

#include "support/harness.hpp"
#include "support/workload.hpp"

namespace {

using namespace tickflow;
namespace tb = tickflow::bench;

constexpr std::size_t pages = 1'000'000, deltas = 8'000'000;

struct workload {
  page_store store;
  page_graph<> graph;
  delta_batch batch;
  std::vector<delta> aos;  // the first 1M rows, for the per-delta path
};

workload& data() {
  static workload w = [] {
    workload out;
    std::vector<page_id> ids;
    ids.reserve(pages);
    for (std::size_t i = 0; i < pages; ++i) {
      ids.push_back(*out.store.create(64));
      (void)out.graph.add_page(ids.back());
    }
    out.batch.reserve(deltas, deltas, deltas * 64);
    std::size_t i = 0;
    tb::for_each_dense64(ids, deltas, 9, [&](const delta& d) {
      out.batch.push_back(d);
      if (i++ < 1'000'000) out.aos.push_back(d);
    });
    return out;
  }();
  return w;
}

void bm_check_batch(benchmark::State& state) {
  auto& w = data();
  integrity_checker checker(w.store, w.graph);
  for (auto _ : state) {
    checker.reset();
    checker.check(w.batch);
    if (checker.report().total() != 0) {
      state.SkipWithError("unexpected violations");
      return;
    }
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * deltas));
}

void bm_check_stream(benchmark::State& state) {
  auto& w = data();
  integrity_checker checker(w.store, w.graph);
  for (auto _ : state) {
    checker.reset();
    for (const auto& d : w.aos) checker.check(d);
    if (checker.report().total() != 0) {
      state.SkipWithError("unexpected violations");
      return;
    }
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * w.aos.size()));
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::RegisterBenchmark("integrity/batch_8M_deltas_1M_pages", bm_check_batch)->Iterations(1)->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("integrity/per_delta_1M_deltas_1M_pages", bm_check_stream)->Iterations(1)->Unit(benchmark::kMillisecond);
  tb::median_collector c;
  tb::run_and_collect(argc, argv, c);
  std::printf("\n");
  const auto rate = [&](const char* name) -> std::optional<double> {
    const auto m = c.get(name);
    if (!m || m->items_per_second <= 0) return std::nullopt;
    return m->items_per_second;
  };
  if (auto s = rate("integrity/per_delta_1M_deltas_1M_pages")) std::printf("# integrity per-delta path (check(delta)): %.3g deltas/s\n", *s);
  tb::print_budget("integrity.deltas_per_s_1t", rate("integrity/batch_8M_deltas_1M_pages"), "deltas/s", tb::goal_op::at_least, 50e6);
  return c.errors().empty() ? 0 : 1;
}
