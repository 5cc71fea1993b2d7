// Propagation equals a naive oracle (a full sequential recompute in topological order, parents by
// page id) bit for bit, epochs included, at 1..8 workers, over random DAGs and a run of steps
// that change random sources (some to the value they had): with the real, min-plus and boolean
// semirings and a custom kernel. Early cutoff stops where a value does not change, and never
// skips a page whose parents changed. Bad plans are typed errors.
#include <tickflow/engine/propagate.hpp>
#include <tickflow/semiring/builtin.hpp>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <set>
#include <vector>

#include "support/catch.hpp"
#include "support/propagation.hpp"

using namespace tickflow;
namespace tt = tickflow::test;

namespace {

// A custom kernel: data edges add w * v, control edges take the max with v; then a clamp.
struct clamp_kernel {
  void operator()(std::span<double> out, const parent_inputs<double, double>& in) const noexcept {
    for (std::size_t i = 0; i < out.size(); ++i) {
      double acc = 0, hi = -1e300;
      for (std::size_t p = 0; p < in.values.size(); ++p) {
        if (in.kinds[p] == edge_kind::data) acc += in.weights[p] * in.values[p][i];
        else hi = std::max(hi, in.values[p][i]);
      }
      out[i] = std::clamp(std::max(acc, hi), -1e6, 1e6);
    }
  }
};
static_assert(propagation_kernel<clamp_kernel, double, double>);
static_assert(propagation_kernel<semiring_kernel<real_semiring<double>>, double, double>);

// One random world: `n` pages of `elems` elements, a random DAG of about 3n edges (parents drawn
// from a window before the child in a hidden order), random source values.
template <class T, class W, class Gen>
struct world {
  page_store store;
  page_graph<W> graph;
  std::vector<page_id> pages, sources;
  world(std::uint64_t seed, std::size_t n, std::size_t elems, Gen& gen, bool some_control) {
    std::mt19937_64 rng(seed);
    for (std::size_t i = 0; i < n; ++i) {
      pages.push_back(*store.create(elems * sizeof(T)));
      REQUIRE(graph.add_page(pages.back()));
    }
    std::vector<std::size_t> order(n);
    for (std::size_t i = 0; i < n; ++i) order[i] = i;
    std::shuffle(order.begin(), order.end(), rng);
    for (std::size_t k = 1; k < n; ++k) {
      const std::size_t child = order[k];
      const std::size_t fan = rng() % 4 == 0 ? 0 : 1 + rng() % 5;  // a quarter stay sources
      for (std::size_t f = 0; f < fan; ++f) {
        const std::size_t parent = order[k - 1 - rng() % std::min<std::size_t>(k, 64)];
        if (graph.has_edge(pages[parent], pages[child])) continue;
        const edge_kind kind = some_control && rng() % 3 == 0 ? edge_kind::control : edge_kind::data;
        REQUIRE(graph.add_edge({pages[parent], pages[child], kind, static_cast<W>(gen(rng, true))}));
      }
    }
    for (page_id p : pages)
      if (*graph.is_source(p)) sources.push_back(p);
    for (page_id p : sources) set(p, rng, gen);
  }
  void set(page_id p, std::mt19937_64& rng, Gen& gen) {
    auto bytes = *store.mutable_bytes(p);
    for (std::size_t i = 0; i < bytes.size() / sizeof(T); ++i) {
      const T v = static_cast<T>(gen(rng, false));
      std::memcpy(bytes.data() + i * sizeof(T), &v, sizeof(T));
    }
  }
};

template <class T, class W, class Kernel, class Gen>
void against_oracle(std::uint64_t seed, std::size_t n, std::size_t elems, Gen gen, bool some_control) {
  world<T, W, Gen> base(seed, n, elems, gen, some_control);
  const auto snap = base.store.snapshot();
  const std::vector<std::size_t> worker_counts = {1, 2, 3, 4, 8};
  struct run_state {
    page_store store;
    std::unique_ptr<thread_pool> pool;
    propagator<T, W, Kernel> prop;
  };
  std::vector<std::unique_ptr<run_state>> runs;
  for (std::size_t w : worker_counts) {
    auto r = std::make_unique<run_state>();
    REQUIRE(r->store.restore(snap));
    r->pool = std::make_unique<thread_pool>(w);
    // Every cone through the parallel sweep, in small blocks, so that workers wait on each
    // other's pages (the default sends cones of up to 4096 pages to the caller alone).
    r->prop.cone_sequential_limit = 0;
    r->prop.block = 8;
    // Prefetching is a hint: some runs always prefetch, some never (the graphs here are too small
    // for the automatic choice to prefetch).
    r->prop.prefetch = w % 2 == 0 ? prefetch_policy::always : prefetch_policy::never;
    if (w == 4) r->prop.adapt_min_pages = 0;  // full sweeps in two parts (see propagator::adapt_workers)
    // One run keeps the store as it is; the others move it into topological order.
    REQUIRE(r->prop.rebuild(r->store, base.graph, w == 3 ? store_layout::keep : store_layout::topological));
    runs.push_back(std::move(r));
  }
  // Step 1: everything from scratch.
  tt::oracle<T, W>(base.store, base.graph, base.pages, epoch{1}, Kernel{});
  for (auto& r : runs) {
    r->prop.run_all(epoch{1}, *r->pool);
    CHECK(r->store.digest() == base.store.digest());
  }
  // Steps 2..: change a few sources (a third of them to the value they already had).
  std::mt19937_64 rng(seed ^ 0x5eed);
  for (std::uint32_t step = 2; step < 12; ++step) {
    std::vector<page_id> changed;
    for (std::size_t k = 0; k < std::max<std::size_t>(1, base.sources.size() / 10); ++k) {
      const page_id p = base.sources[rng() % base.sources.size()];
      changed.push_back(p);
      if (rng() % 3 != 0) base.set(p, rng, gen);
    }
    tt::oracle<T, W>(base.store, base.graph, base.pages, epoch{step}, Kernel{});
    std::vector<propagate_stats> got;
    for (auto& r : runs) {
      for (page_id p : changed) {
        const auto from = *base.store.bytes(p);
        auto to = *r->store.mutable_bytes(p);
        std::copy(from.begin(), from.end(), to.begin());
      }
      got.push_back(r->prop.run(changed, epoch{step}, *r->pool));
      REQUIRE(r->store.digest() == base.store.digest());  // bytes and epochs, every page
    }
    for (const auto& s : got) CHECK(s == got.front());  // the same work at every worker count
  }
}

// Value generators: (rng, is_weight) -> value.
auto real_gen = [](std::mt19937_64& rng, bool weight) {
  return weight ? 0.25 + static_cast<double>(rng() % 8) * 0.125 : static_cast<double>(static_cast<std::int64_t>(rng() % 2001) - 1000) / 7.0;
};
auto minplus_gen = [](std::mt19937_64& rng, bool weight) { return weight ? static_cast<double>(rng() % 5) : static_cast<double>(rng() % 100); };
auto bool_gen = [](std::mt19937_64& rng, bool weight) { return weight ? rng() % 4 != 0 : rng() % 2 == 0; };

// Copies of a world's store, each with a plan (clamp kernel) run once from scratch and checked
// against the oracle, at 1, 2, 3 and 8 workers; every cone goes through the parallel sweep in
// small blocks, and the runs prefetch or not. For the tests that edit the graph under the plans.
struct planned_run {
  page_store store;
  std::unique_ptr<thread_pool> pool;
  propagator<double, double, clamp_kernel> prop;
};
template <class World>
std::vector<std::unique_ptr<planned_run>> planned_runs(World& base) {
  const auto snap = base.store.snapshot();
  std::vector<std::unique_ptr<planned_run>> runs;
  for (std::size_t w : {1u, 2u, 3u, 8u}) {
    auto r = std::make_unique<planned_run>();
    REQUIRE(r->store.restore(snap));
    r->pool = std::make_unique<thread_pool>(w);
    r->prop.cone_sequential_limit = 0;
    r->prop.block = 8;
    r->prop.prefetch = w % 2 == 0 ? prefetch_policy::always : prefetch_policy::never;
    if (w == 2 || w == 8) {  // full sweeps split in two parts, the first timed by the caller alone every third
      r->prop.adapt_min_pages = 0;
      r->prop.adapt_calibrate_every = 3;
    }
    REQUIRE(r->prop.rebuild(r->store, base.graph));
    r->prop.run_all(epoch{1}, *r->pool);
    runs.push_back(std::move(r));
  }
  base.graph.clear_moved_positions();
  tt::oracle<double, double>(base.store, base.graph, base.pages, epoch{1}, clamp_kernel{});
  for (auto& r : runs) REQUIRE(r->store.digest() == base.store.digest());
  return runs;
}

// One step of a planned-runs test after its edit: `count` random pages of the base that are
// sources take new values, the oracle recomputes the base, and each run takes the edit into its
// plan (`follow`), copies the new values, propagates with `forced`, and must equal the base, bytes
// and epochs; the runs' counts must agree.
template <class World, class Gen, class Follow>
void step_planned_runs(World& base, std::vector<std::unique_ptr<planned_run>>& runs, std::uint32_t step, std::size_t count, std::mt19937_64& rng, Gen& gen,
                       const std::vector<page_id>& forced, Follow follow) {
  std::vector<page_id> changed;
  for (std::size_t k = 0; k < count; ++k) {
    const page_id p = base.pages[rng() % base.pages.size()];
    if (!*base.graph.is_source(p)) continue;
    changed.push_back(p);
    base.set(p, rng, gen);
  }
  tt::oracle<double, double>(base.store, base.graph, base.pages, epoch{step}, clamp_kernel{});
  std::vector<propagate_stats> got;
  for (auto& r : runs) {
    follow(*r);
    for (page_id p : changed) {
      const auto from = *base.store.bytes(p);
      std::copy(from.begin(), from.end(), r->store.mutable_bytes(p)->begin());
    }
    got.push_back(r->prop.run(changed, epoch{step}, *r->pool, forced));
    REQUIRE(r->store.digest() == base.store.digest());  // bytes and epochs, every page
  }
  for (const auto& s : got) CHECK(s == got.front());
  base.graph.clear_moved_positions();
}

}  // namespace

TEST_CASE("propagation equals the oracle at 1..8 workers: real semiring", "[engine][propagate][threads]") {
  against_oracle<double, double, semiring_kernel<real_semiring<double>>>(1, 1500, 8, real_gen, false);
  against_oracle<double, double, semiring_kernel<real_semiring<double>>>(2, 300, 3, real_gen, false);
}

TEST_CASE("propagation equals the oracle at 1..8 workers: min-plus semiring", "[engine][propagate][threads]") {
  against_oracle<double, double, semiring_kernel<min_plus_semiring<double>>>(3, 1500, 8, minplus_gen, false);
}

TEST_CASE("propagation equals the oracle at 1..8 workers: boolean semiring", "[engine][propagate][threads]") {
  against_oracle<bool, bool, semiring_kernel<boolean_semiring>>(4, 1500, 16, bool_gen, false);
}

TEST_CASE("propagation equals the oracle at 1..8 workers: a custom kernel with edge kinds", "[engine][propagate][threads]") {
  against_oracle<double, double, clamp_kernel>(5, 1500, 8, real_gen, true);
}

TEST_CASE("early cutoff stops at an unchanged value and recomputes every page whose parents changed", "[engine][propagate]") {
  // s1 -> a -> b -> c and s2 -> a, min-plus: a = min(s1 + 0, s2 + 0).
  page_store store;
  page_graph<double> g;
  std::vector<page_id> p;
  for (int i = 0; i < 5; ++i) {
    p.push_back(*store.create(8));
    REQUIRE(g.add_page(p.back()));
  }
  const page_id s1 = p[0], s2 = p[1], a = p[2], b = p[3], c = p[4];
  REQUIRE(g.add_edge({s1, a, edge_kind::data, 0.0}));
  REQUIRE(g.add_edge({s2, a, edge_kind::data, 0.0}));
  REQUIRE(g.add_edge({a, b, edge_kind::data, 1.0}));
  REQUIRE(g.add_edge({b, c, edge_kind::data, 1.0}));
  const auto put = [&](page_id q, double v) { std::memcpy(store.mutable_bytes(q)->data(), &v, 8); };
  const auto get = [&](page_id q) {
    double v;
    std::memcpy(&v, store.bytes(q)->data(), 8);
    return v;
  };
  put(s1, 5);
  put(s2, 3);
  propagator<double, double, semiring_kernel<min_plus_semiring<double>>> prop;
  REQUIRE(prop.rebuild(store, g));
  CHECK(prop.pages() == 5);
  thread_pool pool(2);
  const auto first = prop.run_all(epoch{1}, pool);
  CHECK(first.recomputed == 3);
  CHECK(get(c) == 5.0);
  // s1 rises from 5 to 9: a = min(9, 3) stays 3: only a is recomputed, nothing changes.
  put(s1, 9);
  const page_id changed1[] = {s1};
  const auto cut = prop.run(changed1, epoch{2}, pool);
  CHECK(cut.recomputed == 1);
  CHECK(cut.changed == 0);
  CHECK(*store.epoch_of(a) == epoch{1});
  // s2 drops to 1: a, b and c all change and take epoch 3.
  put(s2, 1);
  const page_id changed2[] = {s2};
  const auto full = prop.run(changed2, epoch{3}, pool);
  CHECK(full.recomputed == 3);
  CHECK(full.changed == 3);
  CHECK(get(c) == 3.0);
  CHECK(*store.epoch_of(c) == epoch{3});
}

// A copy of a world's store, a pool of `workers` and a real-semiring propagator that sends every
// cone through the parallel sweep in small blocks; its first full run is checked against
// `want`, the oracle's state at epoch 1.
struct real_run {
  page_store store;
  thread_pool pool;
  propagator<double, double, semiring_kernel<real_semiring<double>>> prop;
  template <class Snapshot>
  real_run(const Snapshot& snap, const page_graph<double>& graph, std::size_t workers, const page_store& want) : pool(workers) {
    REQUIRE(store.restore(snap));
    prop.cone_sequential_limit = 0;
    prop.block = 8;
    REQUIRE(prop.rebuild(store, graph));
    prop.run_all(epoch{1}, pool);
    REQUIRE(store.digest() == want.digest());
  }
};

TEST_CASE("forced pages are recomputed after a graph edit, with their cones, at 1..8 workers", "[engine][propagate][threads]") {
  std::mt19937_64 rng(77);
  auto gen = real_gen;
  using W = world<double, double, decltype(gen)>;
  W base(21, 2000, 8, gen, false);
  const auto snap = base.store.snapshot();
  tt::oracle<double, double>(base.store, base.graph, base.pages, epoch{1}, semiring_kernel<real_semiring<double>>{});
  // Edit: remove some edges and add others; the children whose parent set changed are forced.
  auto edited = base.graph;
  std::vector<page_id> forced;
  const auto edges = edited.edge_list();
  for (int k = 0; k < 40; ++k) {
    const auto& e = edges[rng() % edges.size()];
    if (!edited.has_edge(e.parent, e.child)) continue;
    REQUIRE(edited.remove_edge(e.parent, e.child));
    forced.push_back(e.child);
    if (k % 2 == 0) {  // back with another weight
      REQUIRE(edited.add_edge({e.parent, e.child, edge_kind::data, 0.375}));
    }
  }
  page_store want;
  REQUIRE(want.restore(base.store.snapshot()));
  tt::oracle<double, double>(want, edited, base.pages, epoch{2}, semiring_kernel<real_semiring<double>>{});
  for (std::size_t workers : {1u, 2u, 3u, 8u}) {
    INFO("workers " << workers);
    real_run run(snap, base.graph, workers, base.store);
    auto& [s, pool, prop] = run;
    REQUIRE(prop.rebuild(s, edited));
    const auto without = prop.run({}, epoch{2}, pool);  // nothing changed, nothing forced: no work
    CHECK(without.cone == 0);
    prop.run({}, epoch{2}, pool, forced);
    CHECK(s.digest() == want.digest());
  }
}

TEST_CASE("a plan over pages of mismatched sizes or missing pages is a typed error", "[engine][propagate]") {
  page_store store;
  page_graph<double> g;
  const page_id a = *store.create(16), b = *store.create(24), odd = *store.create(12);
  for (page_id x : {a, b, odd}) REQUIRE(g.add_page(x));
  propagator<double, double, semiring_kernel<real_semiring<double>>> prop;
  const auto not_doubles = prop.rebuild(store, g);  // 12 bytes are not a whole number of doubles
  REQUIRE_FALSE(not_doubles);
  CHECK(not_doubles.error() == error{errc::invalid_argument, odd.value()});
  REQUIRE(g.remove_page(odd));
  REQUIRE(prop.rebuild(store, g));
  REQUIRE(g.add_edge({a, b, edge_kind::data, 1.0}));
  const auto mismatch = prop.rebuild(store, g);
  REQUIRE_FALSE(mismatch);
  CHECK(mismatch.error() == error{errc::invalid_argument, b.value()});
  REQUIRE(g.remove_edge(a, b));
  REQUIRE(store.release(a));
  const auto missing = prop.rebuild(store, g);
  REQUIRE_FALSE(missing);
  CHECK(missing.error() == error{errc::not_found, a.value()});
}

TEST_CASE("a derived page named as changed is recomputed, as in a full recompute, at 1..8 workers", "[engine][propagate][threads]") {
  // Few names (a marked cone), many (every derived page swept), and many on a larger world (the
  // changed pages stamped in chunks over the workers).
  for (const auto& [pages, names] : {std::pair<std::size_t, std::vector<std::size_t>>{2000, {5, 400}}, {30000, {6000}}}) {
  auto gen = real_gen;
  using W = world<double, double, decltype(gen)>;
  W base(31, pages, 8, gen, false);
  const auto snap = base.store.snapshot();
  tt::oracle<double, double>(base.store, base.graph, base.pages, epoch{1}, semiring_kernel<real_semiring<double>>{});
  std::vector<page_id> derived;
  for (page_id p : base.pages)
    if (!*base.graph.is_source(p)) derived.push_back(p);
  REQUIRE(derived.size() > 200);
  // Garbage written into derived pages, which are named as changed beside some sources.
  for (const std::size_t named : names) {
    for (std::size_t workers : {1u, 2u, 3u, 8u}) {
      INFO("named " << named << ", workers " << workers);
      real_run run(snap, base.graph, workers, base.store);
      auto& [s, pool, prop] = run;
      std::mt19937_64 rng(named * 31 + workers);
      std::vector<page_id> changed;
      for (std::size_t k = 0; k < named; ++k) {
        const page_id p = derived[rng() % derived.size()];
        const double junk[8] = {1e300, -1e300, 7, 7, 7, 7, 7, 7};
        std::memcpy(s.mutable_bytes(p)->data(), junk, 64);
        changed.push_back(p);
        changed.push_back(base.sources[rng() % base.sources.size()]);
      }
      prop.run(changed, epoch{2}, pool);
      // Named sources kept their values, so the oracle's state at epoch 1 is the answer, except
      // for the epochs of the derived pages that the junk made different: they take epoch 2.
      for (page_id p : base.pages) {
        REQUIRE(std::memcmp(s.bytes(p)->data(), base.store.bytes(p)->data(), 64) == 0);
      }
    }
  }
  }
}

TEST_CASE("full sweeps stay equal to the oracle past the wrap of their 7-bit tag, mixed with marked cones", "[engine][propagate][threads]") {
  auto gen = real_gen;
  using W = world<double, double, decltype(gen)>;
  W base(41, 600, 8, gen, false);
  const auto snap = base.store.snapshot();
  tt::oracle<double, double>(base.store, base.graph, base.pages, epoch{1}, semiring_kernel<real_semiring<double>>{});
  real_run run(snap, base.graph, 3, base.store);
  auto& [s, pool, prop] = run;
  std::mt19937_64 rng(4141);
  std::size_t full = 0;
  for (std::uint32_t step = 2; step < 2 + 300; ++step) {
    // Mostly many sources (a full sweep), sometimes one (a marked cone), sometimes none.
    const std::size_t count = step % 7 == 0 ? 1 : step % 11 == 0 ? 0 : prop.pages() / 8;
    full += count > prop.pages() / 16 ? 1 : 0;
    std::vector<page_id> changed;
    for (std::size_t k = 0; k < count; ++k) {
      const page_id p = base.sources[rng() % base.sources.size()];
      changed.push_back(p);
      base.set(p, rng, gen);
      std::memcpy(s.mutable_bytes(p)->data(), base.store.bytes(p)->data(), 64);
    }
    prop.run(changed, epoch{step}, pool);
    tt::oracle<double, double>(base.store, base.graph, base.pages, epoch{step}, semiring_kernel<real_semiring<double>>{});
    REQUIRE(s.digest() == base.store.digest());
  }
  CHECK(full > 200);  // the tag (modulo 128) wrapped at least once
}

// update(): a plan that takes committed edge edits in (lists moved and packed again, derived pages
// becoming sources and back, insertions that reorder the graph) propagates exactly as the oracle
// does on the edited graph, at 1..8 workers, through marked cones and full sweeps alike.
TEST_CASE("a plan updated by edge edits equals the oracle on the edited graph at 1..8 workers", "[engine][propagate][threads]") {
  auto gen = real_gen;
  world<double, double, decltype(gen)> base(41, 3000, 8, gen, true);
  auto runs = planned_runs(base);
  std::mt19937_64 rng(4242);
  std::size_t reordering = 0, became_source = 0, became_derived = 0, committed = 0;
  for (std::uint32_t step = 2; step < 82; ++step) {
    INFO("step " << step);
    // An edit: removals of random edges (every parent of a few pages, so that they become
    // sources), insertions of random pairs (in both directions of the order; a cycle rejects
    // the whole edit, which must then not reach the plans).
    graph_edit<double> edit;
    std::vector<plan_edit<double>> edits;
    std::vector<page_id> forced;
    const auto edges = base.graph.edge_list();
    detail::edge_set removed;
    for (int k = 0; k < 30; ++k) {
      const auto& e = edges[rng() % edges.size()];
      const std::uint64_t u = *base.graph.node(e.parent), v = *base.graph.node(e.child);
      if (removed.contains(static_cast<std::uint32_t>(u), static_cast<std::uint32_t>(v))) continue;
      removed.insert(static_cast<std::uint32_t>(u), static_cast<std::uint32_t>(v));
      edit.remove_edge(e.parent, e.child);
      edits.push_back({e.parent, e.child, 0.0, edge_kind::data, false});
      forced.push_back(e.child);
    }
    if (step % 3 == 0) {  // every parent of one page: it becomes a source
      const page_id c = base.pages[rng() % base.pages.size()];
      base.graph.for_each_parent(c, [&](page_id p) {
        const std::uint32_t u = *base.graph.node(p), v = *base.graph.node(c);
        if (removed.contains(u, v)) return;
        removed.insert(u, v);
        edit.remove_edge(p, c);
        edits.push_back({p, c, 0.0, edge_kind::data, false});
      });
      forced.push_back(c);
    }
    detail::edge_set added;
    int against = 0;
    for (int k = 0; k < 80; ++k) {
      const page_id p = base.pages[rng() % base.pages.size()], c = base.pages[rng() % base.pages.size()];
      const std::uint32_t u = *base.graph.node(p), v = *base.graph.node(c);
      if (p == c || added.contains(u, v) || added.contains(v, u) || (base.graph.has_edge(p, c) && !removed.contains(u, v))) continue;
      // Mostly edges that follow the order or close to it; some against it (reordering).
      if (base.graph.position(u) > base.graph.position(v) && (against == 1 || rng() % 4 != 0)) continue;
      against += base.graph.position(u) > base.graph.position(v) ? 1 : 0;
      added.insert(u, v);
      const edge_kind kind = rng() % 3 == 0 ? edge_kind::control : edge_kind::data;
      const double w = gen(rng, true);
      edit.add_edge({p, c, kind, w});
      edits.push_back({p, c, w, kind, true});
      forced.push_back(c);
    }
    std::vector<bool> was_source(base.pages.size());
    for (std::size_t i = 0; i < base.pages.size(); ++i) was_source[i] = *base.graph.is_source(base.pages[i]);
    const auto before = base.graph.moved_positions().size();
    const auto rep = base.graph.commit(edit, edit_path::incremental);
    if (!rep.ok()) {
      REQUIRE(rep.err.code == errc::cycle);
      edits.clear();
      forced.clear();
    } else {
      reordering += base.graph.moved_positions().size() > before ? 1 : 0;
      committed += edits.size();
      for (std::size_t i = 0; i < base.pages.size(); ++i) {
        const bool src = *base.graph.is_source(base.pages[i]);
        became_source += src && !was_source[i] ? 1 : 0;
        became_derived += !src && was_source[i] ? 1 : 0;
      }
    }
    // Some sources change: few (a marked cone) or many (a full sweep).
    step_planned_runs(base, runs, step, step % 2 == 0 ? 3 : 400, rng, gen, forced, [&](planned_run& r) {
      REQUIRE(r.prop.update(r.store, base.graph, edits, *r.pool));  // packs over the pool's workers
      REQUIRE(r.prop.edges() == base.graph.edges());
    });
  }
  // The run went through what it is meant to test.
  CHECK(reordering > 5);
  CHECK(became_source > 5);
  CHECK(became_derived > 5);
  INFO("committed " << committed << " edges " << base.graph.edges());
  for (auto& r : runs) CHECK(r->prop.compactions() > 1);
}

TEST_CASE("pages added and removed join and leave a plan without a rebuild, equal to the oracle at 1..8 workers", "[engine][propagate][threads]") {
  // Every step: new pages (add_pages), an edit that links some of them and unlinks a few victims
  // (update), the previous step's victims taken out (remove_pages), then a propagation compared
  // with the oracle. As in an engine, a victim leaves the graph and the store in its step but the
  // plan only in the next, after new pages took its table index and its node slot. Freed layout
  // indexes are reused by later pages.
  auto gen = real_gen;
  world<double, double, decltype(gen)> base(43, 2000, 8, gen, true);
  auto runs = planned_runs(base);
  std::mt19937_64 rng(4343);
  std::size_t joined = 0, left = 0, linked_new = 0, reused_index = 0;
  std::vector<page_id> leaving;  // the previous step's victims: out of the graph, still in the plans
  for (std::uint32_t step = 2; step < 62; ++step) {
    INFO("step " << step);
    // New pages, in every store (the same ids) and the graph.
    std::vector<page_id> added;
    for (int k = 0; k < 25; ++k) {
      const page_id id = *base.store.create(8 * sizeof(double));
      for (auto& r : runs) REQUIRE(*r->store.create(8 * sizeof(double)) == id);
      REQUIRE(base.graph.add_page(id));
      std::mt19937_64 values(id.value());
      base.set(id, values, gen);
      for (auto& r : runs) {
        const auto from = *base.store.bytes(id);
        std::copy(from.begin(), from.end(), r->store.mutable_bytes(id)->begin());
      }
      added.push_back(id);
      base.pages.push_back(id);
    }
    // The edit: each new page linked to a few pages (as child or parent), and every edge of a
    // few victims removed.
    graph_edit<double> edit;
    std::vector<plan_edit<double>> edits;
    std::vector<page_id> forced, victims;
    std::set<std::pair<page_id, page_id>> removed, inserted;
    for (int k = 0; k < 8; ++k) {
      const page_id v = base.pages[rng() % base.pages.size()];
      if (std::find(victims.begin(), victims.end(), v) != victims.end()) continue;
      victims.push_back(v);
      base.graph.for_each_parent(v, [&](page_id p) {
        if (removed.insert({p, v}).second) {
          edit.remove_edge(p, v);
          edits.push_back({p, v, 0.0, edge_kind::data, false});
        }
      });
      base.graph.for_each_child(v, [&](const auto& e) {
        if (removed.insert({v, e.child}).second) {
          edit.remove_edge(v, e.child);
          edits.push_back({v, e.child, 0.0, edge_kind::data, false});
          forced.push_back(e.child);
        }
      });
    }
    const auto is_victim = [&](page_id p) { return std::find(victims.begin(), victims.end(), p) != victims.end(); };
    for (const page_id n : added) {
      if (is_victim(n)) continue;
      // New pages sit last in the order. Most become children (their edges follow the order),
      // some parents (the graph moves them up); never both, so no edit makes a cycle.
      const bool as_child = rng() % 4 != 0;
      for (int k = 0; k < 3; ++k) {
        const page_id other = base.pages[rng() % base.pages.size()];
        if (other == n || is_victim(other)) continue;
        const page_id pa = as_child ? other : n, ch = as_child ? n : other;
        if (inserted.count({pa, ch}) || inserted.count({ch, pa})) continue;
        inserted.insert({pa, ch});
        const double w = gen(rng, true);
        edit.add_edge({pa, ch, edge_kind::data, w});
        edits.push_back({pa, ch, w, edge_kind::data, true});
        forced.push_back(ch);
      }
    }
    REQUIRE(base.graph.commit(edit, edit_path::incremental).ok());
    for (const auto& e : edits) linked_new += e.insert && std::find(added.begin(), added.end(), e.parent) != added.end() ? 1 : 0;
    for (const page_id v : victims) {
      REQUIRE(base.graph.remove_page(v));
      REQUIRE(base.store.release(v));
      base.pages.erase(std::find(base.pages.begin(), base.pages.end(), v));
    }
    joined += added.size();
    left += victims.size();
    for (const page_id n : added)  // a new page on the table index of a page still in the plans
      for (const page_id v : leaving) reused_index += (n.value() >> 32) == (v.value() >> 32) ? 1 : 0;
    // Some sources change: few (a marked cone) or many (a full sweep).
    step_planned_runs(base, runs, step, step % 2 == 0 ? 3 : 300, rng, gen, forced, [&](planned_run& r) {
      REQUIRE(r.prop.add_pages(r.store, base.graph, added));
      REQUIRE(r.prop.update(r.store, base.graph, edits, *r.pool));
      REQUIRE(r.prop.remove_pages(base.graph, leaving));
      for (const page_id v : victims) REQUIRE(r.store.release(v));
      // This step's victims are still in the plan, but for new pages that left at once (the
      // graph no longer held them: add_pages skipped them).
      const auto held = static_cast<std::size_t>(std::count_if(victims.begin(), victims.end(), [&](page_id v) { return std::find(added.begin(), added.end(), v) == added.end(); }));
      REQUIRE(r.prop.pages() == base.graph.pages() + held);
      REQUIRE(r.prop.edges() == base.graph.edges());
    });
    leaving = victims;
  }
  for (auto& r : runs) {
    REQUIRE(r->prop.remove_pages(base.graph, leaving));
    CHECK(r->prop.pages() == base.graph.pages());
  }
  // The run went through what it is meant to test.
  CHECK(joined == 60 * 25);
  CHECK(left > 200);
  CHECK(linked_new > 100);  // new pages as parents: the graph moved them in its order
  CHECK(reused_index > 100);
}

TEST_CASE("add_pages and remove_pages refuse what a plan cannot follow, with typed errors and nothing changed", "[engine][propagate]") {
  page_store store;
  page_graph<double> g;
  std::vector<page_id> p;
  for (int i = 0; i < 3; ++i) {
    p.push_back(*store.create(16));
    REQUIRE(g.add_page(p.back()));
  }
  REQUIRE(g.add_edge({p[0], p[1], edge_kind::data, 1.0}));
  propagator<double, double, semiring_kernel<real_semiring<double>>> prop;
  REQUIRE(prop.rebuild(store, g));
  // A page whose size is not a whole number of doubles, one not alive in the store.
  const page_id odd = *store.create(12);
  REQUIRE(g.add_page(odd));
  const page_id fine = *store.create(16);
  REQUIRE(g.add_page(fine));
  const std::vector<page_id> with_odd = {fine, odd};
  const auto o = prop.add_pages(store, g, with_odd);
  REQUIRE_FALSE(o);
  CHECK(o.error() == error{errc::invalid_argument, odd.value()});
  CHECK(prop.pages() == 3);  // nothing taken in, not even the first
  REQUIRE(g.remove_page(odd));
  const page_id gone = *store.create(16);
  REQUIRE(g.add_page(gone));
  REQUIRE(store.release(gone));
  const std::vector<page_id> with_gone = {fine, gone};
  const auto n = prop.add_pages(store, g, with_gone);
  REQUIRE_FALSE(n);
  CHECK(n.error() == error{errc::not_found, gone.value()});
  REQUIRE(g.remove_page(gone));
  const std::vector<page_id> ok = {fine, fine, odd};  // a page named twice joins once; one no longer in the graph is skipped
  REQUIRE(prop.add_pages(store, g, ok));
  CHECK(prop.pages() == 4);
  REQUIRE(prop.update(store, g, {}));  // the plan follows the graph's node slots again
  // Out: a page still in the graph, a page with edges in the plan.
  const std::vector<page_id> still = {p[2]};
  CHECK(prop.remove_pages(g, still).error() == error{errc::invalid_argument, p[2].value()});
  REQUIRE(g.remove_edge(p[0], p[1]));
  REQUIRE(g.remove_page(p[1]));
  const std::vector<page_id> linked = {p[1]};
  CHECK(prop.remove_pages(g, linked).error() == error{errc::invalid_argument, p[1].value()});
  CHECK(prop.pages() == 4);
  const std::vector<plan_edit<double>> unlink = {{p[0], p[1], 0.0, edge_kind::data, false}};
  REQUIRE(prop.update(store, g, unlink));
  REQUIRE(prop.remove_pages(g, linked));
  CHECK(prop.pages() == 3);
  CHECK(prop.pages() == g.pages());
  // After a renumbering, add_pages refuses: rebuild.
  g.renumber_topologically();
  CHECK(prop.add_pages(store, g, ok).error().code == errc::invalid_argument);
}

TEST_CASE("update refuses what a plan cannot follow, with typed errors", "[engine][propagate]") {
  page_store store;
  page_graph<double> g;
  std::vector<page_id> p;
  for (int i = 0; i < 4; ++i) {
    p.push_back(*store.create(16));
    REQUIRE(g.add_page(p.back()));
  }
  const page_id wide = *store.create(32);
  REQUIRE(g.add_page(wide));
  REQUIRE(g.add_edge({p[0], p[1], edge_kind::data, 1.0}));
  propagator<double, double, semiring_kernel<real_semiring<double>>> prop;
  REQUIRE(prop.rebuild(store, g));
  const std::vector<plan_edit<double>> mismatch = {{p[2], p[3], 1.0, edge_kind::data, true}, {p[0], wide, 1.0, edge_kind::data, true}};
  const auto m = prop.update(store, g, mismatch);
  REQUIRE_FALSE(m);
  CHECK(m.error() == error{errc::invalid_argument, 1});
  CHECK(prop.edges() == 1);  // nothing applied, not even the first edit
  const page_id stranger{(std::uint64_t{999} << 32) | 1};
  const std::vector<plan_edit<double>> unknown = {{p[0], stranger, 1.0, edge_kind::data, true}};
  const auto u = prop.update(store, g, unknown);
  REQUIRE_FALSE(u);
  CHECK(u.error() == error{errc::not_found, 0});
  const std::vector<plan_edit<double>> absent = {{p[2], p[3], 0.0, edge_kind::data, false}};
  const auto a = prop.update(store, g, absent);
  REQUIRE_FALSE(a);
  CHECK(a.error().code == errc::corrupt_data);
  CHECK(prop.edges() == 1);  // caught before anything changed
  // A page added since the build: the plan must be rebuilt.
  const page_id extra = *store.create(16);
  REQUIRE(g.add_page(extra));
  const auto stale = prop.update(store, g, {});
  REQUIRE_FALSE(stale);
  CHECK(stale.error().code == errc::invalid_argument);
  REQUIRE(prop.rebuild(store, g));
  // A renumbering too.
  g.renumber_topologically();
  CHECK(prop.update(store, g, {}).error().code == errc::invalid_argument);
}
