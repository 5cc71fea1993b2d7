// Suite 05 (throughput), performance: the executor's fork-join round trip against oneTBB, and
// parallel batch apply with 1 and 2 workers on the workload of page.apply_deltas_per_s_1t.
//
// Budgets (issue: the engine, suite 05), all ratios measured in paired rounds (each round runs
// both contestants back to back, alternating which goes first; the median of the per-round
// ratios is the value):
//   engine.fork_join_vs_tbb          time of an empty fork-join of 4 tasks on 2 workers, thread_pool
//                                    over oneTBB parallel_for in a 2-slot arena, <= 1.0 (SKIP
//                                    without oneTBB)
//   throughput.apply_scaling_2t      deltas/s with 2 workers over deltas/s with 1 (inline), >= 1.7
//   throughput.apply_deltas_per_s_2t deltas/s with 2 workers, >= 100e6
// Workloads (one columnar batch over 1M pages of 64 bytes, as bench_page):
//   dense64   8M dense 64-byte deltas, uniformly random page (the budgets' workload)
//   word8     8M dense 8-byte deltas at a random aligned word of a random page
//   unique    1M dense 64-byte deltas, each page exactly once
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <barrier>
#include <thread>

#include <tickflow/engine/executor.hpp>
#include <tickflow/engine/ingest.hpp>
#include <tickflow/engine/parallel_apply.hpp>
#include <tickflow/engine/propagate.hpp>
#include <tickflow/semiring/builtin.hpp>
#if defined(TF_HAVE_TBB_LINKED)
#  include <tickflow/engine/tbb_executor.hpp>
#endif

#include "support/harness.hpp"

namespace {

using namespace tickflow;
namespace tb = tickflow::bench;
using clk = std::chrono::steady_clock;

double seconds_since(clk::time_point t0) { return std::chrono::duration<double>(clk::now() - t0).count(); }

// ---------------------------------------------------------------- fork-join round trip

constexpr std::size_t fork_tasks = 4;     // 2x the workers
constexpr int forks_per_sample = 20'000;

template <class E>
double fork_joins(E& ex) {
  std::atomic<std::size_t> sink{0};
  const auto t0 = clk::now();
  for (int r = 0; r < forks_per_sample; ++r) ex.parallel_for(fork_tasks, [&](std::size_t i, std::size_t) {
      if (i == fork_tasks) sink.fetch_add(1, std::memory_order_relaxed);  // never: keeps the body
    });
  return seconds_since(t0) / forks_per_sample;
}

// ---------------------------------------------------------------- apply workloads

enum class workload { dense64, word8, unique };

struct apply_case {
  page_store store;
  delta_batch batch;
  std::size_t distinct_pages = 0;  // pages the batch writes
  std::uint32_t bytes = 64;        // window per delta
};

// The least memory traffic any apply of the case must cause: every row's page id (8 bytes; a
// batch's summaries can stand for the other header columns: one epoch, one window), and for every
// page written, one payload window read and the page's line read for ownership and written back.
double min_bytes(const apply_case& c) {
  return static_cast<double>(c.batch.size()) * 8.0 + static_cast<double>(c.distinct_pages) * (c.bytes + 2.0 * 64.0);
}

// Memory bandwidth with two threads, read + write bytes per second: each thread copies its own
// 128 MiB buffer (first touched before timing).
struct bandwidth_probe {
  static constexpr std::size_t bytes = std::size_t{128} << 20;
  std::vector<char> src[2], dst[2];
  bandwidth_probe() {
    for (int t = 0; t < 2; ++t) {
      src[t].assign(bytes, static_cast<char>(t + 1));
      dst[t].assign(bytes, 0);
    }
  }
  double measure(thread_pool& two) {
    const auto t0 = clk::now();
    two.parallel_for(2, [&](std::size_t t, std::size_t) { std::memcpy(dst[t].data(), src[t].data(), bytes); });
    return 2.0 * 2.0 * static_cast<double>(bytes) / seconds_since(t0);
  }
};

apply_case make_apply_case(workload w) {
  constexpr std::size_t pages = 1'000'000;
  const std::size_t deltas = w == workload::unique ? pages : 8'000'000;
  const std::uint32_t bytes = w == workload::word8 ? 8 : 64;
  apply_case c;
  std::vector<page_id> ids;
  ids.reserve(pages);
  for (std::size_t i = 0; i < pages; ++i) ids.push_back(*c.store.create(64));
  std::mt19937_64 rng(2);
  std::vector<std::uint32_t> order(pages);
  for (std::uint32_t i = 0; i < pages; ++i) order[i] = i;
  std::shuffle(order.begin(), order.end(), rng);
  c.batch.reserve(deltas, deltas, deltas * bytes);
  delta d;
  d.at = epoch{1};
  d.length = bytes;
  d.mask.assign(1, bytes == 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << bytes) - 1);
  d.payload.resize(bytes);
  std::vector<bool> seen(pages, false);
  c.bytes = bytes;
  for (std::size_t i = 0; i < deltas; ++i) {
    const std::uint32_t k = w == workload::unique ? order[i] : static_cast<std::uint32_t>(rng() % pages);
    d.page = ids[k];
    if (!seen[k]) {
      seen[k] = true;
      ++c.distinct_pages;
    }
    d.id = delta_id{i};
    d.offset = w == workload::word8 ? static_cast<std::uint32_t>(8 * (rng() % 8)) : 0;
    for (std::size_t b = 0; b < bytes; b += 8) {
      const std::uint64_t v = rng();
      std::memcpy(d.payload.data() + b, &v, 8);
    }
    c.batch.push_back(d);
  }
  return c;
}

// One apply of the case's batch (re-applying is valid: the epochs equal the pages').
template <class E>
std::optional<double> timed_apply(batch_applier& a, apply_case& c, E& ex) {
  const auto t0 = clk::now();
  if (!apply_batch(a, c.store, c.batch, ex)) return std::nullopt;
  return seconds_since(t0);
}

struct apply_result {
  std::optional<tb::paired_ratios> scaling;  // t(1 worker) / t(2 workers)
  double rate_1t = 0, rate_2t = 0;           // medians of the same rounds
  double bandwidth = 0;                      // two-thread copy bandwidth, median of the same rounds
  double floor_rate = 0;                     // deltas/s if min_bytes moved at that bandwidth
};

apply_result measure_apply(workload w, std::size_t rounds) {
  apply_case c = make_apply_case(w);
  inline_executor one;
  thread_pool two(2);
  batch_applier a1, a2;
  bandwidth_probe probe;
  // Warm-up: scratch grows once, as in an engine that applies a batch every tick.
  (void)timed_apply(a1, c, one);
  (void)timed_apply(a2, c, two);
  (void)probe.measure(two);
  std::vector<double> t1s, t2s, bws;
  apply_result r;
  r.scaling = tb::measure_paired(
      [&]() -> std::optional<double> {
        bws.push_back(probe.measure(two));  // the bandwidth of this round, beside its applies
        auto t = timed_apply(a2, c, two);
        if (t) t2s.push_back(*t);
        return t;
      },
      [&]() -> std::optional<double> {
        auto t = timed_apply(a1, c, one);
        if (t) t1s.push_back(*t);
        return t;
      },
      rounds);
  const auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0.0 : v[v.size() / 2];
  };
  const double n = static_cast<double>(c.batch.size());
  if (!t1s.empty()) r.rate_1t = n / median(t1s);
  if (!t2s.empty()) r.rate_2t = n / median(t2s);
  r.bandwidth = median(bws);
  r.floor_rate = r.bandwidth > 0 ? n / (min_bytes(c) / r.bandwidth) : 0;
  return r;
}

// ---------------------------------------------------------------- propagation, workloads W and W-local

// DESIGN.md §3: 1M pages of 64 bytes (8 doubles), 4M edges, double weights. W: each edge joins
// two distinct pages drawn uniformly, directed from the lower to the higher rank of a random
// permutation. W-local: each edge's parent is drawn uniformly from the 4096 ranks before its
// child. Pages join the graph in rank order, so every insertion follows the order.
struct prop_world {
  page_store store;
  page_graph<double> graph;
  std::vector<page_id> by_rank;  // page of each rank
  std::vector<page_id> sources;
  std::size_t edges = 0;
};

std::unique_ptr<prop_world> make_prop_world(bool local, std::uint64_t seed) {
  constexpr std::size_t n = 1'000'000, m = 4'000'000, window = 4096;
  auto w = std::make_unique<prop_world>();
  std::mt19937_64 rng(seed);
  std::vector<page_id> ids;
  ids.reserve(n);
  for (std::size_t i = 0; i < n; ++i) ids.push_back(*w->store.create(64));
  std::vector<std::uint32_t> perm(n);
  for (std::uint32_t i = 0; i < n; ++i) perm[i] = i;
  std::shuffle(perm.begin(), perm.end(), rng);
  w->by_rank.resize(n);
  for (std::size_t r = 0; r < n; ++r) {
    w->by_rank[r] = ids[perm[r]];
    (void)w->graph.add_page(w->by_rank[r]);
  }
  std::uniform_real_distribution<double> weight(0.25, 0.75);
  while (w->edges < m) {
    std::size_t a, b;
    if (local) {
      b = 1 + rng() % (n - 1);
      a = b - 1 - rng() % std::min(window, b);
    } else {
      a = rng() % n;
      b = rng() % n;
      if (a == b) continue;
      if (a > b) std::swap(a, b);
    }
    if (w->graph.add_edge({w->by_rank[a], w->by_rank[b], edge_kind::data, weight(rng)})) ++w->edges;
  }
  for (const page_id p : w->by_rank)
    if (*w->graph.is_source(p)) w->sources.push_back(p);
  return w;
}

// The plain baseline the budget compares against: CSR of in-edges over a std::vector<double>
// (8 per page), pages in topological order (rank order), a full recompute, 2 threads with a
// std::barrier per level. Parents are combined in increasing page id order, as the engine does,
// so that the two results can be compared bit for bit.
struct baseline {
  std::vector<double> values;  // 8 per page, in rank order
  std::vector<std::uint32_t> in_begin, parents;
  std::vector<double> weights;
  std::vector<std::uint32_t> level_begin, order;  // ranks grouped by level
  explicit baseline(const prop_world& w) {
    const std::size_t n = w.by_rank.size();
    std::vector<std::uint32_t> rank_of_node(w.graph.node_slots());
    for (std::uint32_t r = 0; r < n; ++r) rank_of_node[*w.graph.node(w.by_rank[r])] = r;
    struct e {
      std::uint32_t child, parent;
      page_id parent_id;
      double weight;
    };
    std::vector<e> es;
    es.reserve(w.edges);
    for (const auto& x : w.graph.edge_list())
      es.push_back({rank_of_node[*w.graph.node(x.child)], rank_of_node[*w.graph.node(x.parent)], x.parent, x.weight});
    std::sort(es.begin(), es.end(), [](const e& a, const e& b) { return a.child != b.child ? a.child < b.child : a.parent_id < b.parent_id; });
    in_begin.assign(n + 1, 0);
    for (const auto& x : es) ++in_begin[x.child + 1];
    for (std::size_t r = 0; r < n; ++r) in_begin[r + 1] += in_begin[r];
    parents.reserve(es.size());
    weights.reserve(es.size());
    for (const auto& x : es) {
      parents.push_back(x.parent);
      weights.push_back(x.weight);
    }
    std::vector<std::uint32_t> level(n, 0);
    std::uint32_t depth = 0;
    for (std::uint32_t r = 0; r < n; ++r) {
      for (std::uint32_t k = in_begin[r]; k < in_begin[r + 1]; ++k) level[r] = std::max(level[r], level[parents[k]] + 1);
      depth = std::max(depth, level[r]);
    }
    level_begin.assign(std::size_t{depth} + 2, 0);
    for (std::uint32_t r = 0; r < n; ++r) ++level_begin[level[r] + 1];
    for (std::size_t l = 0; l + 1 < level_begin.size(); ++l) level_begin[l + 1] += level_begin[l];
    order.resize(n);
    std::vector<std::uint32_t> fill(level_begin.begin(), level_begin.end() - 1);
    for (std::uint32_t r = 0; r < n; ++r) order[fill[level[r]]++] = r;
    values.assign(n * 8, 0.0);
    for (std::uint32_t r = 0; r < n; ++r) std::memcpy(&values[std::size_t{r} * 8], w.store.bytes(w.by_rank[r])->data(), 64);
  }
  [[nodiscard]] std::size_t levels() const { return level_begin.size() - 1; }
  void recompute_level_part(std::size_t l, unsigned part, unsigned parts) {
    const std::size_t first = level_begin[l], size = level_begin[l + 1] - first;
    for (std::size_t k = first + size * part / parts; k < first + size * (part + 1) / parts; ++k) {
      const std::uint32_t r = order[k];
      if (in_begin[r] == in_begin[r + 1]) continue;  // a source
      double out[8] = {0, 0, 0, 0, 0, 0, 0, 0};
      for (std::uint32_t e = in_begin[r]; e < in_begin[r + 1]; ++e) {
        const double* v = &values[std::size_t{parents[e]} * 8];
        for (int i = 0; i < 8; ++i) out[i] = out[i] + weights[e] * v[i];
      }
      std::memcpy(&values[std::size_t{r} * 8], out, 64);
    }
  }
  // Full recompute with two threads and a barrier per level; returns seconds.
  double recompute_2t() {
    std::barrier sync(2);
    const auto t0 = clk::now();
    std::thread other([&] {
      for (std::size_t l = 1; l < levels(); ++l) {
        recompute_level_part(l, 1, 2);
        sync.arrive_and_wait();
      }
    });
    for (std::size_t l = 1; l < levels(); ++l) {
      recompute_level_part(l, 0, 2);
      sync.arrive_and_wait();
    }
    other.join();
    return seconds_since(t0);
  }
};

struct prop_result {
  std::optional<tb::paired_ratios> vs_baseline;  // t(baseline) / t(engine)
  double engine_ms = 0, baseline_ms = 0, edges_per_s = 0;
  std::size_t levels = 0, sources = 0, cone = 0, recomputed = 0;
  bool equal = true;
};

prop_result measure_propagation(bool local, std::size_t steps) {
  auto w = make_prop_world(local, local ? 77 : 55);
  propagator<double, double, semiring_kernel<real_semiring<double>>> prop;
  prop_result r;
  if (!prop.rebuild(w->store, w->graph)) return r;
  thread_pool two(2);
  (void)prop.run_all(epoch{1}, two);
  baseline base(*w);
  r.levels = base.levels();
  r.sources = w->sources.size();
  std::vector<std::uint32_t> rank_of(w->graph.node_slots());
  for (std::uint32_t k = 0; k < w->by_rank.size(); ++k) rank_of[*w->graph.node(w->by_rank[k])] = k;
  std::mt19937_64 rng(local ? 7 : 5);
  std::vector<double> t_engine, t_base;
  std::vector<page_id> changed;
  std::uint32_t step = 2;
  r.vs_baseline = tb::measure_paired(
      [&]() -> std::optional<double> {
        // A step: 100k deltas to source pages (written straight into the pages and the
        // baseline's copy), then the engine's propagation (timed).
        changed.clear();
        for (int k = 0; k < 100'000; ++k) {
          const page_id p = w->sources[rng() % w->sources.size()];
          double v[8];
          for (double& x : v) x = static_cast<double>(rng() % 1000) / 8.0;
          std::memcpy(w->store.mutable_bytes(p)->data(), v, 64);
          std::memcpy(&base.values[std::size_t{rank_of[*w->graph.node(p)]} * 8], v, 64);
          changed.push_back(p);
        }
        const auto t0 = clk::now();
        const auto s = prop.run(changed, epoch{step++}, two);
        const double t = seconds_since(t0);
        t_engine.push_back(t);
        r.cone = s.cone;
        r.recomputed = s.recomputed;
        return t;
      },
      [&]() -> std::optional<double> {
        const double t = base.recompute_2t();
        t_base.push_back(t);
        // The baseline's result equals the engine's, bit for bit.
        for (std::uint32_t k = 0; k < w->by_rank.size(); ++k)
          if (std::memcmp(&base.values[std::size_t{k} * 8], w->store.bytes(w->by_rank[k])->data(), 64) != 0) {
            r.equal = false;
            return std::nullopt;
          }
        return t;
      },
      steps);
  const auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0.0 : v[v.size() / 2];
  };
  r.engine_ms = median(t_engine) * 1e3;
  r.baseline_ms = median(t_base) * 1e3;
  r.edges_per_s = r.engine_ms > 0 ? static_cast<double>(w->edges) / (r.engine_ms / 1e3) : 0;
  return r;
}

// ---------------------------------------------------------------- ingest, end to end

// `producers` threads submit dense deltas with 64-byte windows to random pages of a 1M-page
// store while the engine thread cuts and applies (batch_applier, one thread). Deltas/s from
// the first submit to the moment the last one is applied; beside it, the engine thread's time
// per delta in the cut and in the apply.
struct ingest_run {
  double rate = 0;      // deltas/s (0: an apply failed)
  double cut_ns = 0;    // engine thread, per delta
  double apply_ns = 0;  // engine thread, per delta
};
ingest_run ingest_rate(std::size_t producers, std::size_t total) {
  constexpr std::size_t pages = 1'000'000;
  page_store store;
  std::vector<page_id> ids;
  ids.reserve(pages);
  for (std::size_t i = 0; i < pages; ++i) ids.push_back(*store.create(64));
  ingest in;  // the default 4 MiB lanes: 32k deltas of this workload each (a cut takes what a lane holds when it starts)
  std::vector<ingest::producer> handles;
  for (std::size_t p = 0; p < producers; ++p) handles.push_back(*in.make_producer(static_cast<std::uint32_t>(p)));
  std::atomic<bool> go{false};
  std::atomic<std::size_t> ready{0}, finished{0};
  std::vector<std::thread> threads;
  for (std::size_t p = 0; p < producers; ++p)
    threads.emplace_back([&, p] {
      tb::pin_this_thread(static_cast<unsigned>(p + 1));
      std::mt19937_64 rng(p + 1);
      delta d;
      d.at = epoch{1};
      d.length = 64;
      d.mask.assign(1, ~std::uint64_t{0});
      d.payload.resize(64);
      // The pages are drawn before the clock starts and read in order, as a producer reads the
      // updates it forwards: a random read of the 8 MB id table per delta would cost more than
      // the submit itself (a cache and TLB miss, ~200 ns here) and time the generator.
      std::vector<page_id> targets(total / producers);
      for (auto& t : targets) t = ids[rng() % pages];
      ready.fetch_add(1, std::memory_order_release);
      while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
      for (std::size_t k = 0; k < total / producers; ++k) {
        d.page = targets[k];
        d.id = delta_id{(std::uint64_t{p} << 40) | k};
        const std::uint64_t v = rng();
        std::memcpy(d.payload.data(), &v, 8);
        (void)handles[p].submit(d, yield_wait{});
      }
      finished.fetch_add(1, std::memory_order_release);
    });
  const tb::scoped_pin pin(0);  // until the section ends (the propagation's pool comes later)
  batch_applier applier;
  delta_batch batch;
  const std::size_t want = total / producers * producers;
  std::size_t applied = 0;
  while (ready.load(std::memory_order_acquire) < producers) std::this_thread::yield();
  const auto t0 = clk::now();
  go.store(true, std::memory_order_release);
  bool failed = false;
  double t_cut = 0, t_apply = 0;
  while (applied < want) {
    batch.clear();
    const auto c0 = clk::now();
    const std::size_t n = in.cut(batch);
    const auto c1 = clk::now();
    if (n != 0 && !applier.apply(store, batch)) {
      failed = true;
      break;
    }
    t_cut += std::chrono::duration<double>(c1 - c0).count();
    t_apply += std::chrono::duration<double>(clk::now() - c1).count();
    applied += n;
    // A small cut (under a quarter of the lanes' room) means the producers are behind: let them
    // fill the lanes, as a tick would.
    if (n < 8192 * producers && applied < want) std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
  const double t = seconds_since(t0);
  // After a failure the lanes are drained until every producer has returned from its last
  // submit (a producer waits while its lane is full), so that the threads can be joined.
  while (failed && finished.load(std::memory_order_acquire) < producers) {
    batch.clear();
    (void)in.cut(batch);
    std::this_thread::yield();
  }
  for (auto& th : threads) th.join();
  if (failed) return {};
  const auto per = static_cast<double>(applied);
  return {per / t, t_cut / per * 1e9, t_apply / per * 1e9};
}

// One thread's cost of a random 64-byte line of a `bytes` buffer, fetched 32 ahead (as the
// applier prefetches): seconds per line, median of 3 passes over 4M lines.
double random_line_seconds(std::size_t bytes) {
  const std::size_t lines = bytes / 64;
  std::vector<std::uint64_t> buf(bytes / 8, 1);
  std::vector<std::uint32_t> at(std::size_t{1} << 22);
  std::mt19937_64 rng(3);
  for (auto& a : at) a = static_cast<std::uint32_t>(rng() % lines);
  std::vector<double> t;
  std::uint64_t sum = 0;
  for (int k = 0; k < 3; ++k) {
    const auto t0 = clk::now();
    for (std::size_t i = 0; i < at.size(); ++i) {
      if (i + 32 < at.size()) TICKFLOW_PREFETCH(&buf[std::size_t{at[i + 32]} * 8], 0, 3);
      sum += buf[std::size_t{at[i]} * 8];
    }
    t.push_back(seconds_since(t0) / static_cast<double>(at.size()));
  }
  benchmark::DoNotOptimize(sum);
  std::sort(t.begin(), t.end());
  return t[1];
}

// Google Benchmark cases, for the JSON record beside the paired budget rounds.
void bm_fork_join_pool(benchmark::State& state) {
  thread_pool pool(2);
  for (auto _ : state) state.SetIterationTime(fork_joins(pool) * forks_per_sample);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * forks_per_sample);
}
#if defined(TF_HAVE_TBB_LINKED) && defined(TICKFLOW_HAVE_TBB)
void bm_fork_join_tbb(benchmark::State& state) {
  tbb_executor ex(2);
  for (auto _ : state) state.SetIterationTime(fork_joins(ex) * forks_per_sample);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * forks_per_sample);
}
#endif

}  // namespace

int main(int argc, char** argv) {
  benchmark::RegisterBenchmark("fork_join/tickflow_pool_2w_4tasks", bm_fork_join_pool)->UseManualTime()->Unit(benchmark::kMillisecond);
#if defined(TF_HAVE_TBB_LINKED) && defined(TICKFLOW_HAVE_TBB)
  benchmark::RegisterBenchmark("fork_join/onetbb_2w_4tasks", bm_fork_join_tbb)->UseManualTime()->Unit(benchmark::kMillisecond);
#endif
  tb::median_collector c;
  tb::run_and_collect(argc, argv, c);
  std::printf("\n");

  // TF_BENCH_ONLY=<section>[,<section>] runs only the named sections (fork_join, apply, ingest,
  // propagate), for work on one of them; the full run prints every budget.
  const char* only = std::getenv("TF_BENCH_ONLY");
  const auto wanted = [&](const char* section) { return only == nullptr || std::strstr(only, section) != nullptr; };

  // Fork-join round trip, paired: ratio = time(tickflow) / time(oneTBB).
  if (wanted("fork_join")) {
  std::optional<double> fj;
  std::string fj_why = "oneTBB not installed (libtbb-dev)";
#if defined(TF_HAVE_TBB_LINKED) && defined(TICKFLOW_HAVE_TBB)
  {
    thread_pool pool(2);
    tbb_executor ex(2);
    (void)fork_joins(pool);
    (void)fork_joins(ex);
    std::vector<double> ours, theirs;
    const auto r = tb::measure_paired(
        [&]() -> std::optional<double> {
          const double t = fork_joins(ex);
          theirs.push_back(t);
          return t;
        },
        [&]() -> std::optional<double> {
          const double t = fork_joins(pool);
          ours.push_back(t);
          return t;
        },
        21);
    if (r) {
      fj = r->median;
      std::sort(ours.begin(), ours.end());
      std::sort(theirs.begin(), theirs.end());
      std::printf("# fork-join of %zu empty tasks on 2 workers: tickflow %.3f us, oneTBB %.3f us (medians); paired ratio %.3f [%.3f, %.3f] over %zu rounds\n",
                  fork_tasks, ours[ours.size() / 2] * 1e6, theirs[theirs.size() / 2] * 1e6, r->median, r->low, r->high, r->rounds);
    }
  }
#endif
  tb::print_budget("engine.fork_join_vs_tbb", fj, "ratio", tb::goal_op::at_most, 1.0, fj_why);
  }

  // Parallel apply: 1 worker (inline) against 2 (thread_pool), paired.
  if (wanted("apply")) {
  const std::size_t rounds = 9;
  const auto dense = measure_apply(workload::dense64, rounds);
  const auto word = measure_apply(workload::word8, rounds);
  const auto unique = measure_apply(workload::unique, 2 * rounds + 1);
  const auto show = [](const char* name, const apply_result& r) {
    std::printf("# apply %-8s 1 worker %.3g deltas/s, 2 workers %.3g deltas/s", name, r.rate_1t, r.rate_2t);
    if (r.scaling) std::printf(", paired scaling %.3f [%.3f, %.3f] over %zu rounds", r.scaling->median, r.scaling->low, r.scaling->high, r.scaling->rounds);
    std::printf("\n#   floor: the least bytes any apply moves, at the 2-thread copy bandwidth of the same rounds (%.1f GB/s): %.3g deltas/s; 2 workers reach %.0f%% of it\n",
                r.bandwidth / 1e9, r.floor_rate, r.floor_rate > 0 ? 100.0 * r.rate_2t / r.floor_rate : 0.0);
    // The report's throughput-against-workers chart reads these.
    tb::print_info(std::string("throughput.apply_") + name + "_1w", r.rate_1t, "deltas/s");
    tb::print_info(std::string("throughput.apply_") + name + "_2w", r.rate_2t, "deltas/s");
  };
  show("dense64", dense);
  show("word8", word);
  show("unique", unique);
  tb::print_budget("throughput.apply_scaling_2t", dense.scaling ? std::optional<double>(dense.scaling->median) : std::nullopt, "ratio",
                   tb::goal_op::at_least, 1.7, "apply failed");
  tb::print_budget("throughput.apply_deltas_per_s_2t", dense.rate_2t > 0 ? std::optional<double>(dense.rate_2t) : std::nullopt,
                   "deltas/s", tb::goal_op::at_least, 100e6, "apply failed");
  }

  // Ingest end to end: 1 producer and the engine thread (2 threads on 2 cores), then 2 producers.
  if (wanted("ingest")) {
    std::vector<double> one, two_p, cut_ns, apply_ns;
    for (int k = 0; k < 5; ++k) {
      const ingest_run r1 = ingest_rate(1, 10'000'000);
      one.push_back(r1.rate);
      cut_ns.push_back(r1.cut_ns);
      apply_ns.push_back(r1.apply_ns);
      two_p.push_back(ingest_rate(2, 10'000'000).rate);
    }
    std::sort(one.begin(), one.end());
    std::sort(two_p.begin(), two_p.end());
    std::sort(cut_ns.begin(), cut_ns.end());
    std::sort(apply_ns.begin(), apply_ns.end());
    std::printf("# ingest end to end (submit, cut, apply), medians of 5: 1 producer %.3g deltas/s [%.3g, %.3g], 2 producers %.3g deltas/s\n",
                one[2], one.front(), one.back(), two_p[2]);
    std::printf("#   1 producer, the engine thread per delta (medians): cut %.1f ns, apply %.1f ns\n", cut_ns[2], apply_ns[2]);
    tb::print_info("throughput.ingest_1w", one[2], "deltas/s");  // producers (the engine thread besides)
    tb::print_info("throughput.ingest_2w", two_p[2], "deltas/s");
    // The floor, from this run's machine: each delta's 128-byte record is written by the
    // producer and read by the engine, and its page line is written (320 bytes at the 2-thread
    // copy bandwidth; the line is not read first: whole-line rows take non-temporal stores);
    // and the engine fetches one random line per delta (its page's table entry; at one
    // thread's prefetched rate, on a buffer of the table's 16 MB). The slower of the two bounds it.
    bandwidth_probe probe;
    thread_pool two(2);
    std::vector<double> bws;
    for (int k = 0; k < 3; ++k) bws.push_back(probe.measure(two));
    std::sort(bws.begin(), bws.end());
    const double by_bytes = bws[1] / 320.0;
    const double by_misses = 1.0 / random_line_seconds(std::size_t{16} << 20);
    std::printf("#   floor: %.3g deltas/s by bytes (320 per delta at %.1f GB/s), %.3g by misses (one random line each); "
                "1 producer reaches %.0f%% of the lower\n",
                by_bytes, bws[1] / 1e9, by_misses, 100.0 * one[2] / std::min(by_bytes, by_misses));
    tb::print_budget("throughput.ingest_deltas_per_s", one[2] > 0 ? std::optional<double>(one[2]) : std::nullopt, "deltas/s",
                     tb::goal_op::at_least, 20e6, "apply failed");
  }

  // Propagation on W and W-local: the engine (2 workers) against the plain baseline, paired.
  if (wanted("propagate")) {
  bandwidth_probe probe;
  thread_pool two(2);
  std::vector<double> bws;
  for (int k = 0; k < 5; ++k) bws.push_back(probe.measure(two));
  std::sort(bws.begin(), bws.end());
  const double bw = bws[bws.size() / 2];
  for (const bool local : {false, true}) {
    const auto r = measure_propagation(local, 7);
    const char* name = local ? "W-local" : "W";
    std::printf("# propagate %s: %zu sources, %zu levels, cone %zu, recomputed %zu; engine %.1f ms, baseline %.1f ms (medians)%s\n",
                name, r.sources, r.levels, r.cone, r.recomputed, r.engine_ms, r.baseline_ms, r.equal ? "" : "; RESULTS DIFFER");
    if (r.vs_baseline)
      std::printf("#   paired ratio baseline/engine %.3f [%.3f, %.3f] over %zu rounds\n", r.vs_baseline->median, r.vs_baseline->low,
                  r.vs_baseline->high, r.vs_baseline->rounds);
    std::optional<double> ratio;
    if (r.vs_baseline && r.equal) ratio = r.vs_baseline->median;
    tb::print_budget(local ? "propagate.vs_baseline_2t_wlocal" : "propagate.vs_baseline_2t_w", ratio, "ratio", tb::goal_op::at_least, 1.5,
                     r.equal ? "not measured" : "engine and baseline results differ");
    if (!local) {
      std::printf("# propagate.edges_per_s_2t %.4g edges/s\n", r.edges_per_s);
      // The least bytes a propagation over W moves: every page's 64 bytes read once, every
      // derived page written once (read for ownership and written), and the in-edges (parent
      // index 4 bytes, weight 8 bytes) read once.
      const double least = 1e6 * 64.0 + 1e6 * 128.0 + 4e6 * 12.0;
      std::printf("# propagate.floor_ms_w %.4g ms: %.0f MB at %.1f GB/s (2-thread copy bandwidth, this run)\n",
                  least / bw * 1e3, least / 1e6, bw / 1e9);
    }
  }
  }
  return c.errors().empty() ? 0 : 1;
}
