// Suite 08 (invariants), correctness: 10k cycles of a small engine loop (deltas through a ring,
// applied to the store, logged, under a page graph) with every built-in invariant checked after
// every cycle: no violation. Then each built-in fires on a fault made for it, and only it.
#include <tickflow/semiring/builtin.hpp>
#include <tickflow/page/page_store.hpp>
#include <tickflow/queue/spsc_ring.hpp>
#include <tickflow/validate/invariants.hpp>

#include <algorithm>
#include <cstdint>
#include <random>
#include <string_view>
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
