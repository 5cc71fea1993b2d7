// Suite 08 (invariants), correctness: 10k cycles of a small engine loop (deltas through a ring,
// applied to the store, logged, under a page graph) with every built-in invariant checked after
// every cycle: no violation. Then each built-in fires on a fault made for it, and only it. And the
// rings' accounting under contention: every item pushed is popped exactly once, in order for the
// SPSC ring, and the counters satisfy queue_accounting.
#include <tickflow/semiring/builtin.hpp>
#include <tickflow/page/page_store.hpp>
#include <tickflow/queue/mpmc_ring.hpp>
#include <tickflow/queue/spsc_ring.hpp>
#include <tickflow/validate/invariants.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <span>
#include <cstdint>
#include <random>
#include <string_view>
#include <thread>
#include <vector>

#include "support/catch.hpp"
#include "support/deltas.hpp"
#include "support/scale.hpp"
#include "support/engine_suites.hpp"

using namespace tickflow;
namespace tt = tickflow::test;

namespace {

struct mini_engine {
  page_store store;
  page_graph<> graph;
  std::vector<page_id> pages, sources;
  std::vector<std::uint32_t> sizes;
  spsc_ring<delta> ring{256};
  queue_counters counters;
  std::vector<delta> log;
  std::uint64_t next_id = 1;
  std::mt19937_64 rng{8};

  mini_engine() {
    for (int i = 0; i < 200; ++i) {
      sizes.push_back(8 * (1 + static_cast<std::uint32_t>(rng() % 16)));
      pages.push_back(*store.create(sizes.back()));
      REQUIRE(graph.add_page(pages.back()));
    }
    // The first 150 pages are sources; each of the others has two parents among earlier pages.
    for (std::size_t i = 0; i < 150; ++i) sources.push_back(pages[i]);
    for (std::size_t i = 150; i < pages.size(); ++i)
      for (int k = 0; k < 2; ++k) (void)graph.add_edge({pages[rng() % i], pages[i], edge_kind::data, 1.0});
  }

  // One tick: deltas to sources go through the ring, are applied, and are logged.
  void cycle(std::uint32_t e) {
    const int count = 1 + static_cast<int>(rng() % 8);
    for (int k = 0; k < count; ++k) {
      const std::size_t s = rng() % sources.size();
      delta d = tt::random_delta(rng, sources[s], sizes[s], epoch{e});
      d.id = delta_id{next_id++};
      REQUIRE(ring.try_push(d));
      ++counters.pushed;
      ++counters.size;
    }
    while (auto d = ring.try_pop()) {
      ++counters.popped;
      --counters.size;
      REQUIRE(store.apply(*d));
      log.push_back(std::move(*d));
    }
  }

  [[nodiscard]] engine_context context() const {
    engine_context c;
    c.store = &store;
    c.pages = pages;
    c.sizes = sizes;
    c.graph = &graph;
    c.queues = std::span<const queue_counters>(&counters, 1);
    c.log = log;
    return c;
  }
};

std::vector<std::string_view> fired(const invariant_report& r) {
  std::vector<std::string_view> names;
  for (const auto& v : r.violations)
    if (std::find(names.begin(), names.end(), v.invariant) == names.end()) names.push_back(v.invariant);
  return names;
}

}  // namespace

TEST_CASE("08 invariants: 10k cycles, no violation", "[suite08]") {
  mini_engine eng;
  auto registry = builtin_invariants();
  REQUIRE(registry.size() == 5);
  const std::size_t cycles = tt::stress_divisor > 1 ? 1000 : 10'000;
  std::uint64_t checks = 0;
  for (std::uint32_t c = 1; c <= cycles; ++c) {
    eng.cycle(c);
    const auto rep = registry.check_all(eng.context());
    checks += rep.checks;
    if (!rep.ok()) {
      INFO("cycle " << c << ": " << rep.violations[0].invariant << ": " << rep.violations[0].message);
      REQUIRE(rep.ok());
    }
  }
  CHECK(checks == 5 * cycles);
  CHECK(eng.log.size() == eng.counters.popped);
}

TEST_CASE("08 invariants: each built-in fires on its own fault", "[suite08]") {
  mini_engine eng;
  for (std::uint32_t c = 1; c <= 50; ++c) eng.cycle(c);

  SECTION("epoch_monotonicity: the store goes back to an older state") {
    auto registry = builtin_invariants();
    const auto old = eng.store.snapshot();
    REQUIRE(registry.check_all(eng.context()).ok());
    for (std::uint32_t c = 51; c <= 60; ++c) eng.cycle(c);
    REQUIRE(registry.check_all(eng.context()).ok());
    REQUIRE(eng.store.restore(old));
    eng.log.clear();  // the log restarts with the old state: only the epochs speak
    const auto rep = registry.check_all(eng.context());
    CHECK(fired(rep) == std::vector<std::string_view>{"epoch_monotonicity"});
  }
  SECTION("page_consistency: a page vanishes, another appears") {
    auto registry = builtin_invariants();
    REQUIRE(registry.check_all(eng.context()).ok());
    // A derived page with no edges left would be fine for the graph; use a source page.
    REQUIRE(eng.store.release(eng.pages[7]));
    const page_id stray = *eng.store.create(64);
    const auto rep = registry.check_all(eng.context());
    CHECK(fired(rep) == std::vector<std::string_view>{"page_consistency"});
    bool named_missing = false, named_stray = false;
    for (const auto& v : rep.violations) {
      named_missing = named_missing || v.detail == eng.pages[7].value();
      named_stray = named_stray || v.detail == stray.value();
    }
    CHECK(named_missing);
    CHECK(named_stray);
  }
  SECTION("graph_acyclicity: a snapshot with a cycle") {
    auto registry = builtin_invariants();
    auto snap = eng.graph.snapshot();
    engine_context ctx = eng.context();
    ctx.graph_snapshot = &snap.csr;
    REQUIRE(registry.check_all(ctx).ok());
    // Close a cycle: an edge from a child back to one of its parents.
    std::vector<std::pair<std::uint32_t, std::uint32_t>> edges;
    for (std::uint32_t u = 0; u < snap.csr.nodes(); ++u)
      for (std::uint32_t c : snap.csr.children(u)) edges.emplace_back(u, c);
    edges.emplace_back(edges.back().second, edges.back().first);
    const auto cyclic = *csr_graph::from_edges(snap.csr.nodes(), edges);
    ctx.graph_snapshot = &cyclic;
    const auto rep = registry.check_all(ctx);
    CHECK(fired(rep) == std::vector<std::string_view>{"graph_acyclicity"});
  }
  SECTION("queue_accounting: an item lost between push and pop") {
    auto registry = builtin_invariants();
    REQUIRE(registry.check_all(eng.context()).ok());
    ++eng.counters.pushed;  // counted as pushed, never in the ring
    const auto rep = registry.check_all(eng.context());
    CHECK(fired(rep) == std::vector<std::string_view>{"queue_accounting"});
  }
  SECTION("log_continuity: a gap, a repeat and an epoch jump") {
    for (int fault = 0; fault < 3; ++fault) {
      auto registry = builtin_invariants();
      REQUIRE(registry.check_all(eng.context()).ok());
      delta d = eng.log.back();
      d.id = delta_id{d.id.value() + (fault == 0 ? 2 : fault == 1 ? 0 : 1)};
      d.at = epoch{d.at.value() + (fault == 2 ? 5 : 0)};
      eng.log.push_back(d);
      const auto rep = registry.check_all(eng.context());
      CHECK(fired(rep) == std::vector<std::string_view>{"log_continuity"});
      CHECK(rep.violations.size() == 1);
      eng.log.pop_back();
    }
  }
}

// The engine-level suite (tests/support/engine_suites.hpp), over both engines.
TEMPLATE_TEST_CASE("08 invariants: over any engine, epochs, pages, acyclicity and the log hold after every step", "[suite08][any_engine]", tt::any_reference, tt::any_plain) {
  tt::suite08_invariants_over_engine<TestType>(60);
}

// The rings under contention, counted as an engine counts its queues: each item carries its
// producer and sequence number, so a lost, duplicated, reordered or torn item is caught, and the
// counters go through queue_accounting.
TEST_CASE("08 invariants: ring accounting under contention, every item once", "[suite08][rings]") {
  const std::uint64_t per_producer = 400'000 / tt::stress_divisor;
  auto registry = builtin_invariants();
  SECTION("spsc: single items and runs, one producer, one consumer, in order") {
    spsc_ring<std::uint64_t> ring(512);
    std::thread producer([&] {
      std::vector<std::uint64_t> run;
      for (std::uint64_t i = 1; i <= per_producer;) {
        if (i % 3 == 0) {
          ring.push(i++);
          continue;
        }
        run.clear();
        for (std::uint64_t k = 0; k < 1 + i % 37 && i + k <= per_producer; ++k) run.push_back(i + k);
        std::size_t sent = 0;
        while (sent < run.size()) sent += ring.try_push_n(std::span<const std::uint64_t>(run).subspan(sent));
        i += run.size();
      }
    });
    queue_counters counters;
    counters.pushed = per_producer;
    std::uint64_t expect = 1, out_of_order = 0;
    std::vector<std::uint64_t> got(64);
    while (expect <= per_producer) {
      const std::size_t n = ring.try_pop_n(std::span<std::uint64_t>(got));
      for (std::size_t k = 0; k < n; ++k) out_of_order += got[k] != expect++ ? 1 : 0;
      counters.popped += n;
    }
    producer.join();
    counters.size = ring.was_size();
    CHECK(out_of_order == 0);
    CHECK(counters.popped == per_producer);
    engine_context ctx;
    ctx.queues = std::span<const queue_counters>(&counters, 1);
    CHECK(registry.check_all(ctx).ok());
  }
  SECTION("mpmc: two producer handles, two consumer handles, every item exactly once") {
    mpmc_ring<std::uint64_t> ring(256);
    constexpr std::uint64_t producers = 2;
    std::vector<std::vector<std::uint64_t>> taken(2);
    std::atomic<int> producing{static_cast<int>(producers)}, stuck{0};
    std::atomic<std::uint64_t> pushed{0}, popped{0};  // by anyone
    std::vector<std::thread> threads;
    for (std::uint64_t p = 0; p < producers; ++p)
      threads.emplace_back([&, p] {
        {
          auto out = ring.make_producer();
          // A ring whose positions went wrong may refuse every push from then on. A watchdog,
          // not a time budget: when no producer has pushed an item for 10 s, the ring is stuck
          // and the test fails instead of hanging.
          std::uint64_t refusals = 0, seen_progress = 0;
          auto since = std::chrono::steady_clock::now();
          for (std::uint64_t i = 0; i < per_producer;) {
            if (out.try_push((p << 40) | i)) {
              ++i;
              pushed.fetch_add(1, std::memory_order_relaxed);
              continue;
            }
            std::this_thread::yield();
            if (++refusals % 4096 != 0) continue;
            if (const std::uint64_t now = pushed.load(std::memory_order_relaxed); now != seen_progress) {
              seen_progress = now;
              since = std::chrono::steady_clock::now();
            } else if (std::chrono::steady_clock::now() - since > std::chrono::seconds(10)) {
              stuck.fetch_add(1);
              break;
            }
          }
        }  // the handle flushes: everything it pushed is published
        producing.fetch_sub(1, std::memory_order_release);
      });
    // A consumer stops at the first empty pop after every producer finished, so a lost item
    // shows as a short count, never as a hang; and once more items came out than went in (a
    // ring handing out a slot twice), at once.
    for (std::size_t c = 0; c < 2; ++c)
      threads.emplace_back([&, c] {
        auto in = ring.make_consumer();
        std::uint64_t v = 0;
        for (;;) {
          const bool done = producing.load(std::memory_order_acquire) == 0;
          if (in.try_pop(v)) {
            taken[c].push_back(v);
            if (popped.fetch_add(1, std::memory_order_relaxed) >= producers * per_producer) break;
          } else if (done) {
            break;
          }
          else std::this_thread::yield();
        }
      });
    for (auto& t : threads) t.join();
    std::vector<std::uint64_t> seen(producers * per_producer, 0);
    std::uint64_t foreign = 0, per_consumer_disorder = 0;
    for (const auto& list : taken) {
      std::uint64_t last[producers] = {0, 0};
      bool first[producers] = {true, true};
      for (const std::uint64_t v : list) {
        const std::uint64_t p = v >> 40, i = v & ((std::uint64_t{1} << 40) - 1);
        if (p >= producers || i >= per_producer) {
          ++foreign;
          continue;
        }
        ++seen[p * per_producer + i];
        // One consumer takes one producer's items in the order they were pushed.
        if (!first[p] && i <= last[p]) ++per_consumer_disorder;
        first[p] = false;
        last[p] = i;
      }
    }
    const auto once = static_cast<std::uint64_t>(std::count(seen.begin(), seen.end(), std::uint64_t{1}));
    CHECK(stuck.load() == 0);
    CHECK(foreign == 0);
    CHECK(once == producers * per_producer);  // none lost, none twice
    CHECK(per_consumer_disorder == 0);
    queue_counters counters{producers * per_producer, taken[0].size() + taken[1].size(), ring.was_size()};
    engine_context ctx;
    ctx.queues = std::span<const queue_counters>(&counters, 1);
    CHECK(registry.check_all(ctx).ok());
  }
}
