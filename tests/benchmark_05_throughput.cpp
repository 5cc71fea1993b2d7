// Suite 05 (throughput), correctness: the engine's data path end to end on the suite's graph
// shapes (W and W-local, DESIGN.md §3, scaled down), at 1, 2, 3, 4 and 8 workers. Four producer
// threads submit deltas while steps run; each step cuts, applies the cut in parallel and
// propagates in parallel. Every run must equal a sequential oracle of its own cuts bit for bit
// (page_store::apply_all, then a full recompute), take every delta exactly once, and end in the
// same page bytes as every other worker count (producers own disjoint pages, so the final
// values do not depend on where the cuts fell). Steps that write only a few sources go through
// the marked-cone sweeps (sequential and parallel) against the same oracle; and the ingest,
// cut in a tight loop while producers submit records of 1 to 4 chunks into small lanes, must
// hand over every record whole. The unit tests under tests/engine/ check each part alone (bad
// deltas, semirings, custom kernels, early cutoff).
#include <tickflow/engine/executor.hpp>
#include <tickflow/engine/ingest.hpp>
#include <tickflow/engine/parallel_apply.hpp>
#include <tickflow/engine/propagate.hpp>
#include <tickflow/semiring/builtin.hpp>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <thread>
#include <vector>

#include "support/catch.hpp"
#include "support/propagation.hpp"
#include "support/scale.hpp"
#include "support/engine_suites.hpp"

using namespace tickflow;
namespace tt = tickflow::test;

namespace {

using kernel = semiring_kernel<real_semiring<double>>;

// A W-shaped (uniform lower -> higher rank) or W-local-shaped (parent among the `window` ranks
// before the child) graph over n pages of 8 doubles, about 4 edges per page; ranks below 64 are
// sources.
struct world {
  page_store store;
  page_graph<double> graph;
  std::vector<page_id> pages, sources;
  world(bool local, std::size_t n, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    for (std::size_t i = 0; i < n; ++i) {
      pages.push_back(*store.create(64));
      REQUIRE(graph.add_page(pages.back()));
    }
    std::vector<page_id> by_rank = pages;
    std::shuffle(by_rank.begin(), by_rank.end(), rng);
    const std::size_t window = std::max<std::size_t>(16, n / 64);
    std::uniform_real_distribution<double> weight(0.25, 0.75);
    for (std::size_t edges = 0; edges < 4 * n;) {
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
      if (b < 64) continue;  // the first 64 ranks stay sources: every producer owns some at every scale
      if (graph.add_edge({by_rank[a], by_rank[b], edge_kind::data, weight(rng)})) ++edges;
    }
    for (page_id p : pages)
      if (*graph.is_source(p)) sources.push_back(p);
  }
};

// A producer's deltas: dense 64-byte windows (or 8-byte words) to the sources it owns (index %
// 4 == producer), epoch 1, ids (producer << 40) | sequence.
delta make_delta(std::mt19937_64& rng, const std::vector<page_id>& sources, std::uint32_t producer, std::uint64_t seq) {
  const std::size_t owned = (sources.size() - producer + 3) / 4;  // >= 16: see world
  delta d;
  d.page = sources[producer + 4 * (rng() % owned)];
  d.at = epoch{1};
  d.id = delta_id{(std::uint64_t{producer} << 40) | seq};
  const bool word = rng() % 4 == 0;
  d.offset = word ? static_cast<std::uint32_t>(8 * (rng() % 8)) : 0;
  d.length = word ? 8 : 64;
  d.mask.assign(1, d.length == 64 ? ~std::uint64_t{0} : 0xFF);
  d.payload.resize(d.length);
  for (std::size_t i = 0; i < d.length; i += 8) {
    const double v = static_cast<double>(static_cast<std::int64_t>(rng() % 2001) - 1000) / 8.0;
    std::memcpy(d.payload.data() + i, &v, 8);
  }
  return d;
}

struct run_result {
  std::vector<std::vector<std::byte>> bytes;  // every page's bytes at the end, in `pages` order
  std::size_t deltas = 0, steps = 0;
};

// One engine run at `workers` workers, checked step by step against the sequential oracle.
run_result run_engine(const world& base, std::size_t workers, std::size_t per_producer) {
  page_store store, oracle;
  REQUIRE(store.restore(base.store.snapshot()));
  REQUIRE(oracle.restore(base.store.snapshot()));
  thread_pool pool(workers);
  propagator<double, double, kernel> prop;
  prop.cone_sequential_limit = 64;  // most cones through the parallel sweep
  REQUIRE(prop.rebuild(store, base.graph));
  prop.run_all(epoch{1}, pool);
  tt::oracle<double, double>(oracle, base.graph, base.pages, epoch{1}, kernel{});
  REQUIRE(store.digest() == oracle.digest());

  ingest in(std::size_t{1} << 16);  // small lanes: producers block and wait for cuts
  std::atomic<int> finished{0}, refused{0};  // Catch2 assertions stay on this thread
  std::vector<std::thread> producers;
  for (std::uint32_t pid = 0; pid < 4; ++pid)
    producers.emplace_back([&, pid] {
      std::mt19937_64 rng(1000 + pid);
      auto p = *in.make_producer(pid);
      for (std::uint64_t seq = 0; seq < per_producer; ++seq)
        if (!p.submit(make_delta(rng, base.sources, pid, seq), yield_wait{})) refused.fetch_add(1);
      finished.fetch_add(1, std::memory_order_release);
    });
  batch_applier applier;
  applier.in_order_bytes = 0;  // the partitioned path at every size
  delta_batch batch;
  std::vector<std::uint64_t> next(4, 0);
  std::vector<page_id> changed;
  run_result out;
  std::uint32_t step = 2;
  for (;;) {
    const bool last = finished.load(std::memory_order_acquire) == 4;  // read before the cut
    batch.clear();
    const std::size_t n = in.cut(batch);
    if (n != 0) {
      // Exactly once, in submit order per producer.
      for (std::size_t i = 0; i < n; ++i) {
        const std::uint64_t id = batch.ids()[i];
        const auto pid = static_cast<std::uint32_t>(id >> 40);
        REQUIRE(pid < 4);
        REQUIRE((id & ((std::uint64_t{1} << 40) - 1)) == next[pid]);
        ++next[pid];
      }
      const auto deltas = batch.to_deltas();
      REQUIRE(oracle.apply_all(deltas));
      REQUIRE(apply_batch(applier, store, batch, pool));
      changed.clear();
      for (const delta& d : deltas) changed.push_back(d.page);
      prop.run(changed, epoch{step}, pool);
      tt::oracle<double, double>(oracle, base.graph, base.pages, epoch{step}, kernel{});
      REQUIRE(store.digest() == oracle.digest());  // bytes and epochs of every page
      ++step;
      out.deltas += n;
    }
    if (last && n == 0) break;
    if (n == 0) std::this_thread::yield();
  }
  for (auto& t : producers) t.join();
  CHECK(refused.load() == 0);
  for (std::uint32_t pid = 0; pid < 4; ++pid) CHECK(next[pid] == per_producer);
  for (page_id p : base.pages) {
    const auto b = *store.bytes(p);
    out.bytes.emplace_back(b.begin(), b.end());
  }
  out.steps = step - 2;
  return out;
}

void suite_case(bool local, std::uint64_t seed) {
  const world base(local, tt::scaled(40'000) / 4, seed);
  const std::size_t per_producer = tt::scaled(60'000) / 4;
  std::vector<run_result> runs;
  for (std::size_t workers : {1u, 2u, 3u, 4u, 8u}) {
    INFO("workers " << workers);
    runs.push_back(run_engine(base, workers, per_producer));
    CHECK(runs.back().deltas == 4 * per_producer);
  }
  for (const auto& r : runs) CHECK(r.bytes == runs.front().bytes);  // independent of workers and cuts
}

// Steps of 1 to 4 written sources: small cones, swept by marking (in parallel when the cone is
// larger than `sequential_limit` pages, workers claiming `block` pages at a time: with 1, a page
// and its parents are in flight on different workers all the time), each step against the full
// sequential recompute.
void small_cone_case(bool local, std::uint64_t seed, std::size_t workers, std::size_t sequential_limit, std::size_t block) {
  const world base(local, tt::scaled(3'000), seed);
  page_store store, oracle;
  REQUIRE(store.restore(base.store.snapshot()));
  REQUIRE(oracle.restore(base.store.snapshot()));
  thread_pool pool(workers);
  propagator<double, double, kernel> prop;
  prop.cone_sequential_limit = sequential_limit;
  prop.block = block;
  REQUIRE(prop.rebuild(store, base.graph));
  prop.run_all(epoch{1}, pool);
  tt::oracle<double, double>(oracle, base.graph, base.pages, epoch{1}, kernel{});
  REQUIRE(store.digest() == oracle.digest());
  std::mt19937_64 rng(seed * 31 + workers);
  std::vector<page_id> changed;
  std::size_t recomputed = 0;
  for (std::uint32_t step = 2; step < 2 + 60; ++step) {
    changed.clear();
    for (std::size_t k = 0, n = 1 + rng() % 4; k < n; ++k) {
      delta d = make_delta(rng, base.sources, static_cast<std::uint32_t>(rng() % 4), step);
      d.at = epoch{step};
      REQUIRE(store.apply(d));
      REQUIRE(oracle.apply(d));
      changed.push_back(d.page);
    }
    const auto stats = prop.run(changed, epoch{step}, pool);
    recomputed += stats.recomputed;
    tt::oracle<double, double>(oracle, base.graph, base.pages, epoch{step}, kernel{});
    INFO("step " << step);
    REQUIRE(store.digest() == oracle.digest());  // bytes and epochs of every page
  }
  CHECK(recomputed > 0);
}

}  // namespace

TEST_CASE("05 throughput: small cones through the marked sweeps equal the sequential oracle at 1 and 3 workers", "[suite05]") {
  for (const bool local : {false, true})
    for (const std::size_t workers : {1u, 3u})
      for (const auto& [limit, block] : {std::pair<std::size_t, std::size_t>{4096, 32}, {0, 32}, {0, 1}}) {  // sequential; parallel
        INFO((local ? "W-local" : "W") << ", " << workers << " workers, sequential limit " << limit << ", block " << block);
        small_cone_case(local, 50 + (local ? 1 : 0), workers, limit, block);
      }
}

TEST_CASE("05 throughput: the ingest hands over every record whole, cut in a tight loop while producers submit", "[suite05][threads]") {
  // Records of 1 to 4 chunks into 4 KiB lanes: records straddle the ring's end all the time, and
  // the cut often reads a lane right as a record is published.
  const std::uint64_t per_producer = tt::scaled(200'000) / 2;
  ingest in(std::size_t{1} << 12);
  const auto byte_of = [](std::uint64_t pid, std::uint64_t seq, std::size_t i) {
    return static_cast<std::byte>((pid * 131 + seq * 7 + i * 13) & 0xFF);
  };
  const auto length_of = [](std::uint64_t seq) { return static_cast<std::uint32_t>(8 + (seq * 37) % 193); };
  std::atomic<int> finished{0}, refused{0};
  std::vector<std::thread> producers;
  for (std::uint32_t pid = 0; pid < 2; ++pid)
    producers.emplace_back([&, pid] {
      auto p = *in.make_producer(pid);
      delta d;
      for (std::uint64_t seq = 0; seq < per_producer; ++seq) {
        d.page = page_id{(std::uint64_t{pid} << 32) | 1};
        d.at = epoch{1};
        d.id = delta_id{(std::uint64_t{pid} << 40) | seq};
        d.offset = 0;
        d.length = length_of(seq);
        d.mask.assign(mask_words(d.length), ~std::uint64_t{0});
        if (d.length % 64 != 0) d.mask.back() = (std::uint64_t{1} << (d.length % 64)) - 1;
        d.payload.resize(d.length);
        for (std::size_t i = 0; i < d.length; ++i) d.payload[i] = byte_of(pid, seq, i);
        if (!p.submit(d, yield_wait{})) refused.fetch_add(1);
      }
      finished.fetch_add(1, std::memory_order_release);
    });
  delta_batch batch;
  std::uint64_t next[2] = {0, 0}, torn = 0, total = 0;
  for (;;) {
    const bool last = finished.load(std::memory_order_acquire) == 2;
    batch.clear();
    const std::size_t n = in.cut(batch);
    for (std::size_t r = 0; r < n; ++r) {
      const delta_row d = batch.row(r);
      const std::uint64_t pid = d.id.value() >> 40, seq = d.id.value() & ((std::uint64_t{1} << 40) - 1);
      REQUIRE(pid < 2);
      REQUIRE(seq == next[pid]);  // exactly once, in submit order
      ++next[pid];
      bool whole = d.page == page_id{(pid << 32) | 1} && d.length == length_of(seq) && d.payload.size() == d.length;
      for (std::size_t i = 0; whole && i < d.length; ++i) whole = d.payload[i] == byte_of(pid, seq, i);
      torn += whole ? 0 : 1;
    }
    total += n;
    if (last && n == 0) break;
  }
  for (auto& t : producers) t.join();
  CHECK(refused.load() == 0);
  CHECK(torn == 0);
  CHECK(total == 2 * per_producer);
}

TEST_CASE("05 throughput: ingest, parallel apply and propagation on W equal the sequential oracle at 1..8 workers",
          "[suite05][threads]") {
  suite_case(false, 5);
}

TEST_CASE("05 throughput: ingest, parallel apply and propagation on W-local equal the sequential oracle at 1..8 workers",
          "[suite05][threads]") {
  suite_case(true, 6);
}

// The engine-level suite (tests/support/engine_suites.hpp), over both engines.
TEMPLATE_TEST_CASE("05 throughput: over any engine, 1, 2, 4 and 8 workers equal the sequential plain engine after every step", "[suite05][any_engine]", tt::any_reference, tt::any_plain) {
  tt::suite05_parallel_equals_sequential<TestType, semiring_kernel<real_semiring<double>>>(25);
}
