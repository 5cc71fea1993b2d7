// Suite 07 (memory), performance: what 1M pages cost in memory, and GC's pauses under churn.
//
// Budgets (issue: ticks and memory, suite 07):
//   memory.bytes_per_page_1m   resident-set growth of a reference_engine (2 workers) holding 1M
//                              pages of 64 bytes and 4M edges (W-local, DESIGN.md §3), planned for
//                              propagation (one step after the last edit), per page: <= 1024
//   memory.overhead_vs_floor   the same growth over the floor: the payload plus, per edge, a
//                              4-byte parent index and the 8-byte weight: <= 1.3
//   gc.pause_p99_ms            churn (below): the 99th percentile of GC slice durations, <= 1.0
//   gc.pause_max_ms            churn: the longest slice, <= 3 (the seed's budget)
//   memory.fragmentation       churn: slab bytes not in live pages, share of slab bytes, after
//                              1000 ticks, <= 0.10
//
// The engine keeps no in-memory log for the first measurement (engine_options::keep_log false):
// an engine that ticks logs through a tlog_writer to a file (tick.hpp), and the in-memory log of
// 4M edge insertions alone would be ~170 MB of records, not pages. Its footprint is printed.
//
// Churn: a page_store of 1M pages of 64 bytes; each tick releases 1% of the live pages (drawn
// uniformly) and creates as many, of 64, 128, 256 or 512 bytes (uniform), so that size classes
// shrink and grow and holes open everywhere (with one size, every freed slot is taken again by
// the next create and there is nothing to collect). GC as the engine runs it (gc_wanted,
// gc_slice: slab compaction, page_store::compact): a slice runs when fragmentation passes 0.10
// of the slab bytes or a previous slice left work, with the tick's GC budget (2 ms) as deadline,
// cut to the engine's default longest slice (engine_options::gc_max_pause, 0.5 ms).
// A slice's pause is its wall time, stop checks included.
//
// Printed as information after the footprint: page churn on the planned engine (1% of the pages
// created and linked, 1% unlinked and released, per step), the steps' times and the plan
// rebuilds they caused, beside the time of the step that plans the whole graph.
//
// Output: the budget lines, a "# series" comment per 50 ticks, and the per-tick series (pages,
// slab bytes, fragmentation, pause) in the Google Benchmark JSON's context
// ("tickflow.memory_footprint", "tickflow.churn_series").
#include <benchmark/benchmark.h>

#include <tickflow/engine/engine.hpp>
#include <tickflow/engine/memory.hpp>
#include <tickflow/page/page_store.hpp>
#include <tickflow/semiring/builtin.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "support/harness.hpp"
#include "support/workload.hpp"

using namespace tickflow;
namespace tb = tickflow::bench;

namespace {

using clk = std::chrono::steady_clock;
double mb(std::size_t bytes) { return static_cast<double>(bytes) / 1e6; }
double seconds_since(clk::time_point t0) { return std::chrono::duration<double>(clk::now() - t0).count(); }

constexpr std::size_t pages_1m = 1'000'000, edges_4m = 4'000'000;

struct footprint {
  std::size_t rss_growth = 0;
  memory_report report;
  double build_s = 0;
  double plan_s = 0;                      // the step that plans the whole graph
  std::vector<double> churn_step_ms;      // steps that take 1% page churn in (see measure_footprint)
  std::uint64_t churn_rebuilds = 0;       // plan rebuilds during them
};

footprint measure_footprint() {
  std::mt19937_64 rng(7001);
  // Everything the driver holds is allocated and touched before the baseline.
  const std::vector<std::uint64_t> keys = tb::engine_workload_edges(true, pages_1m, edges_4m, rng);
  std::vector<std::uint32_t> perm(pages_1m);
  for (std::uint32_t i = 0; i < pages_1m; ++i) perm[i] = i;
  std::shuffle(perm.begin(), perm.end(), rng);  // rank -> creation index
  std::vector<page_id> ids(pages_1m);
  // The whole graph as one edit (the rebuild path: one CSR check). The edit lives until after
  // the measurement, so that its 96 MB stay in the baseline; the engine's copy of it (its queued
  // edit, whose capacity it keeps) is the engine's.
  graph_edit<double> edit;
  std::uniform_real_distribution<double> weight(0.25, 0.75);
  for (std::size_t k = 0; k < keys.size(); ++k)
    edit.add_edge({page_id{std::uint64_t{perm[keys[k] >> 32]} << 32 | 1}, page_id{std::uint64_t{perm[keys[k] & 0xFFFFFFFFU]} << 32 | 1},
                   edge_kind::data, weight(rng)});

  footprint f;
  const std::size_t rss0 = read_rss_bytes();
  const auto t0 = clk::now();
  {
    using engine_t = reference_engine<double, semiring_kernel<real_semiring<double>>, thread_pool>;
    engine_options eo;
    eo.keep_log = false;
    engine_t e(eo, 2);
    for (std::size_t i = 0; i < pages_1m; ++i) ids[i] = *e.create_page(64);
    // The store's ids are (table index << 32) | generation, indexes from 0 in creation order:
    // the edit above was written with them; checked here.
    for (std::size_t i = 0; i < pages_1m; ++i)
      if (ids[i] != page_id{std::uint64_t{i} << 32 | 1}) std::abort();
    if (!e.edit_graph(edit)) std::abort();
    if (!e.step().graph.ok()) std::abort();
    const auto p0 = clk::now();
    (void)e.step();  // plans the propagation over the whole graph
    f.plan_s = seconds_since(p0);
    f.build_s = seconds_since(t0);
    f.report = e.memory();
    f.rss_growth = f.report.rss_bytes > rss0 ? f.report.rss_bytes - rss0 : 0;
    if (e.graph().edges() != edges_4m || e.store().size() != pages_1m) std::abort();
    // After the measurement: page churn on the planned engine. Each step, 1% of the pages are
    // created and linked under a random page, the previous step's new pages are unlinked, and
    // released after the step; the next step's propagation takes both into the plan.
    const std::uint64_t rebuilds = e.counters().plan_rebuilds;
    std::vector<page_id> young;
    for (int round = 0; round < 21; ++round) {
      graph_edit<double> churn;
      std::vector<page_id> fresh;
      for (std::size_t k = 0; k < pages_1m / 100; ++k) {
        fresh.push_back(*e.create_page(64));
        churn.add_edge({ids[rng() % pages_1m], fresh.back(), edge_kind::data, 0.5});
      }
      for (const page_id y : young) e.graph().for_each_parent(y, [&](page_id p) { churn.remove_edge(p, y); });
      if (!e.edit_graph(churn)) std::abort();
      const auto s0 = clk::now();
      if (!e.step().graph.ok()) std::abort();
      if (round > 0) f.churn_step_ms.push_back(seconds_since(s0) * 1e3);  // the first takes no churn in
      for (const page_id y : young)
        if (!e.release_page(y)) std::abort();
      young = std::move(fresh);
    }
    f.churn_rebuilds = e.counters().plan_rebuilds - rebuilds;
  }
  return f;
}

struct churn_tick {
  std::size_t pages, slab_bytes;
  double fragmentation;
  double pause_ms;  // 0: no slice this tick
  std::size_t moved;
};

std::vector<churn_tick> run_churn(std::size_t ticks, double gc_budget_ms) {
  std::mt19937_64 rng(7002);
  page_store store;
  std::vector<page_id> live;
  live.reserve(pages_1m);
  for (std::size_t i = 0; i < pages_1m; ++i) live.push_back(*store.create(64));
  const std::size_t sizes[] = {64, 128, 256, 512};
  std::vector<churn_tick> series;
  series.reserve(ticks);
  bool unfinished = false;
  for (std::size_t t = 0; t < ticks; ++t) {
    const std::size_t turn = live.size() / 100;
    for (std::size_t k = 0; k < turn; ++k) {
      const std::size_t i = rng() % live.size();
      if (!store.release(live[i])) std::abort();
      live[i] = live.back();
      live.pop_back();
    }
    for (std::size_t k = 0; k < turn; ++k) live.push_back(*store.create(sizes[rng() % 4]));
    // GC phase, as reference_engine::gc_wanted / gc_slice do it.
    const auto m = store.memory();
    churn_tick rec{m.pages, m.slab_bytes, 0.0, 0.0, 0};
    const bool wanted = unfinished || static_cast<double>(m.fragmentation_bytes()) > 0.10 * static_cast<double>(m.slab_bytes);
    if (wanted) {
      const auto start = clk::now();
      const auto deadline = std::min(start + std::chrono::nanoseconds(static_cast<std::int64_t>(gc_budget_ms * 1e6)), start + engine_options{}.gc_max_pause);
      const auto r = store.compact([&] { return clk::now() >= deadline; });
      rec.pause_ms = seconds_since(start) * 1e3;
      rec.moved = r.moved;
      unfinished = r.had_time && !r.done;
    }
    const auto after = store.memory();
    rec.slab_bytes = after.slab_bytes;
    rec.fragmentation = after.slab_bytes == 0 ? 0.0 : static_cast<double>(after.fragmentation_bytes()) / static_cast<double>(after.slab_bytes);
    series.push_back(rec);
  }
  // Every live page still there, with its size.
  for (const page_id p : live)
    if (!store.page_size(p)) std::abort();
  return series;
}

double percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  const std::size_t i = std::min(v.size() - 1, static_cast<std::size_t>(q * static_cast<double>(v.size())));
  return v[i];
}

// The monitor's snapshot: counters only, so its cost does not grow with the pages.
void bm_memory_snapshot(benchmark::State& state) {
  page_store store;
  for (std::int64_t i = 0; i < state.range(0); ++i) (void)store.create(64);
  for (auto _ : state) benchmark::DoNotOptimize(store.memory());
}

// The cold tier: every page of a store frozen, then thawed, per iteration (items: pages).
// Kinds: 0 random 64-byte pages, 1 zero 64-byte pages, 2 random 100-byte pages.
page_store cold_store(int kind, std::size_t pages) {
  page_store store;
  std::mt19937_64 rng(5);
  const std::size_t bytes = kind == 2 ? 100 : 64;
  for (std::size_t i = 0; i < pages; ++i) {
    const page_id id = *store.create(bytes);
    if (kind != 1)
      for (auto& b : *store.mutable_bytes(id)) b = static_cast<std::byte>(rng());
  }
  return store;
}
const char* cold_kind_name(int kind) { return kind == 0 ? "random 64 B" : kind == 1 ? "zero 64 B" : "random 100 B"; }

void bm_cold_round_trip(benchmark::State& state) {
  const auto pages = static_cast<std::size_t>(state.range(1));
  page_store store = cold_store(static_cast<int>(state.range(0)), pages);
  for (auto _ : state) {
    (void)store.freeze_cold(epoch{1}, [] { return false; });
    store.thaw_all();
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(pages));
  state.SetLabel(cold_kind_name(static_cast<int>(state.range(0))));
}

}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IONBF, 0);
  const char* ticks_env = std::getenv("TF_CHURN_TICKS");
  const std::size_t ticks = ticks_env != nullptr ? std::strtoul(ticks_env, nullptr, 10) : 1000;

  const footprint f = measure_footprint();
  const double payload = static_cast<double>(pages_1m) * 64.0;
  const double floor_bytes = payload + static_cast<double>(edges_4m) * (4.0 + 8.0);
  const auto& r = f.report;
  std::printf("# footprint: 1M pages of 64 B, 4M W-local edges, planned; built in %.1f s\n", f.build_s);
  std::printf("#   RSS growth %.1f MB; floor %.1f MB (payload %.1f MB + 12 B per edge)\n", mb(f.rss_growth), floor_bytes / 1e6, payload / 1e6);
  std::printf("#   the engine's own count: slabs %.1f MB (payload %.1f MB), table %.1f MB, free lists %.1f MB, graph %.1f MB, ingest %.1f MB, scratch+plan %.1f MB, log %.1f MB: %.1f MB\n",
              mb(r.slab_bytes), mb(r.payload_bytes), mb(r.table_bytes), mb(r.free_list_bytes), mb(r.graph_bytes), mb(r.ingest_bytes),
              mb(r.scratch_bytes), mb(r.log_buffer_bytes), mb((r.slab_bytes + r.bookkeeping_bytes())));
  {
    auto ms = f.churn_step_ms;
    std::sort(ms.begin(), ms.end());
    if (!ms.empty())
      std::printf("# engine page churn (after the footprint): 1%% of the pages created and linked, 1%% unlinked and released per step, %zu steps: step p50 %.1f ms, max %.1f ms; plan rebuilds %llu (the step that plans the whole graph: %.2f s)\n",
                  ms.size(), ms[ms.size() / 2], ms.back(), static_cast<unsigned long long>(f.churn_rebuilds), f.plan_s);
  }
  std::string mem_json = "{\"rss_growth\":" + std::to_string(f.rss_growth) + ",\"slab\":" + std::to_string(r.slab_bytes) +
                         ",\"payload\":" + std::to_string(r.payload_bytes) + ",\"table\":" + std::to_string(r.table_bytes) +
                         ",\"free_lists\":" + std::to_string(r.free_list_bytes) + ",\"graph\":" + std::to_string(r.graph_bytes) +
                         ",\"ingest\":" + std::to_string(r.ingest_bytes) + ",\"scratch\":" + std::to_string(r.scratch_bytes) +
                         ",\"log_buffer\":" + std::to_string(r.log_buffer_bytes) + "}";

  const double gc_budget_ms = 2.0;
  const auto churn = run_churn(ticks, gc_budget_ms);
  std::vector<double> pauses;
  std::size_t moved = 0;
  std::string churn_json = "[";
  for (std::size_t t = 0; t < churn.size(); ++t) {
    const auto& c = churn[t];
    if (c.pause_ms > 0) pauses.push_back(c.pause_ms);
    moved += c.moved;
    if (t % 50 == 49 || t + 1 == churn.size())
      std::printf("# series tick %zu: pages %zu, slabs %.1f MB, fragmentation %.3f, pause %.3f ms\n", t + 1, c.pages, mb(c.slab_bytes), c.fragmentation, c.pause_ms);
    char buf[160];
    std::snprintf(buf, sizeof buf, "%s{\"tick\":%zu,\"pages\":%zu,\"slab\":%zu,\"fragmentation\":%.5f,\"pause_ms\":%.4f,\"moved\":%zu}", t ? "," : "", t,
                  c.pages, c.slab_bytes, c.fragmentation, c.pause_ms, c.moved);
    churn_json += buf;
  }
  churn_json += "]";
  std::printf("# churn: %zu ticks, 1%% of the pages released and as many created per tick; %zu GC slices (budget %.1f ms, longest slice %.2f ms), %zu pages moved\n",
              churn.size(), pauses.size(), gc_budget_ms, static_cast<double>(engine_options{}.gc_max_pause.count()) / 1e6, moved);
  std::printf("#   pause p50 %.3f ms, p99 %.3f ms, max %.3f ms\n", percentile(pauses, 0.5), percentile(pauses, 0.99),
              pauses.empty() ? 0.0 : *std::max_element(pauses.begin(), pauses.end()));
  for (int kind = 0; kind < 3; ++kind) {
    // Bytes per page, hot (its slab slot) and cold (its packed bytes and its 16-byte record);
    // the table entry (20 bytes) is the same in both.
    page_store store = cold_store(kind, 100'000);
    const auto hot = store.memory();
    (void)store.freeze_cold(epoch{1}, [] { return false; });
    const auto cold = store.memory();
    std::printf("# cold tier, %s pages: hot %.1f B/page (slots), cold %.1f B/page (packed bytes %.1f + record 16); round trip: memory/cold_round_trip below\n",
                cold_kind_name(kind), static_cast<double>(hot.slot_bytes) / 1e5, static_cast<double>(cold.cold_bytes) / 1e5 + 16.0,
                static_cast<double>(cold.cold_bytes) / 1e5);
  }

  benchmark::AddCustomContext("tickflow.memory_footprint", mem_json);
  benchmark::AddCustomContext("tickflow.churn_series", churn_json);
  benchmark::RegisterBenchmark("memory/snapshot_1k_pages", bm_memory_snapshot)->Arg(1000);
  benchmark::RegisterBenchmark("memory/snapshot_1m_pages", bm_memory_snapshot)->Arg(1'000'000);
  benchmark::RegisterBenchmark("memory/cold_round_trip", bm_cold_round_trip)->Args({0, 100'000})->Args({1, 100'000})->Args({2, 100'000});
  tb::median_collector col;
  tb::run_and_collect(argc, argv, col);
  std::printf("\n");

  tb::print_budget("memory.bytes_per_page_1m", static_cast<double>(f.rss_growth) / static_cast<double>(pages_1m), "bytes", tb::goal_op::at_most, 1024);
  tb::print_budget("memory.overhead_vs_floor", static_cast<double>(f.rss_growth) / floor_bytes, "ratio", tb::goal_op::at_most, 1.3);
  const std::string churn_why = ticks == 1000 ? std::string{} : "TF_CHURN_TICKS set: not the budget's 1000 ticks";
  const bool full = ticks == 1000;
  tb::print_budget("gc.pause_p99_ms", full ? std::optional<double>(percentile(pauses, 0.99)) : std::nullopt, "ms", tb::goal_op::at_most, 1.0, churn_why);
  tb::print_budget("gc.pause_max_ms", full && !pauses.empty() ? std::optional<double>(*std::max_element(pauses.begin(), pauses.end())) : (full ? std::optional<double>(0.0) : std::nullopt), "ms",
                   tb::goal_op::at_most, 3.0, churn_why);
  tb::print_budget("memory.fragmentation", full ? std::optional<double>(churn.back().fragmentation) : std::nullopt, "ratio", tb::goal_op::at_most, 0.10, churn_why);
  return 0;
}
