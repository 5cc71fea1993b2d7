// The engine-level part of suites 01, 02, 03, 05, 06, 07 and 08, written once against the
// engine concepts (engine, phased_engine, inspectable_engine, replay_engine) and instantiated by
// each suite's test file for reference_engine and for the plain engine
// (tests/support/plain_engine.hpp). Nothing here names an engine type: a user's engine that
// satisfies the concepts runs the same bodies. Suites 04, 09 and 10 are templated the same way
// in their own files.
#pragma once

#include <tickflow/engine/engine.hpp>
#include <tickflow/engine/tick.hpp>
#include <tickflow/semiring/builtin.hpp>
#include <tickflow/validate/inspect.hpp>
#include <tickflow/validate/replay.hpp>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <utility>
#include <vector>

#include "support/catch.hpp"
#include "support/deltas.hpp"
#include "support/plain_engine.hpp"
#include "support/world.hpp"

namespace tickflow::test {

/// The two engines every engine-level suite runs over: the reference engine, and the plain one.
using any_reference = reference_engine<double, semiring_kernel<real_semiring<double>>, thread_pool>;
using any_plain = plain_engine<double, semiring_kernel<real_semiring<double>>>;

/// Pages (id, epoch, bytes) of two engines of any types, equal one for one.
template <class A, class B>
bool same_pages(const A& a, const B& b) {
  std::vector<std::pair<std::uint64_t, std::uint64_t>> x, y;
  auto hash = [](page_id id, std::span<const std::byte> bytes, epoch at) {
    digest64 h;
    h.u64(id.value());
    h.u64(at.value());
    h.bytes(bytes);
    return std::make_pair(id.value(), h.value());
  };
  a.for_each_page([&](page_id id, std::span<const std::byte> bytes, epoch at) { x.push_back(hash(id, bytes, at)); });
  b.for_each_page([&](page_id id, std::span<const std::byte> bytes, epoch at) { y.push_back(hash(id, bytes, at)); });
  return x == y;
}

/// The pages two worlds built, rank by rank (engines of different types name pages differently):
/// bytes and epochs equal.
template <class A, class B>
bool same_by_rank(const A& a, const world& wa, const B& b, const world& wb) {
  for (std::size_t r = 0; r < wa.ids().size(); ++r) {
    const auto x = a.page_bytes(wa.id(r)), y = b.page_bytes(wb.id(r));
    if (!x || !y || x->size() != y->size() || std::memcmp(x->data(), y->data(), x->size()) != 0) return false;
    if (*a.page_epoch(wa.id(r)) != *b.page_epoch(wb.id(r))) return false;
  }
  return true;
}

/// The committed graph of an engine, as (parent, child) -> weight, read through the concept.
template <class E>
std::map<std::pair<std::uint64_t, std::uint64_t>, double> edges_of(const E& e) {
  std::map<std::pair<std::uint64_t, std::uint64_t>, double> out;
  e.for_each_page([&](page_id id, std::span<const std::byte>, epoch) {
    e.for_each_in_edge(id, [&](const graph_edge<typename E::weight_type>& x) { out[{x.parent.value(), x.child.value()}] = static_cast<double>(x.weight); });
  });
  return out;
}

/// Whether a set of edges admits a topological order (Kahn).
inline bool acyclic(const std::map<std::pair<std::uint64_t, std::uint64_t>, double>& g) {
  std::map<std::uint64_t, int> indeg;
  std::map<std::uint64_t, std::vector<std::uint64_t>> out;
  for (const auto& [k, w] : g) {
    ++indeg[k.second];
    indeg.try_emplace(k.first, 0);
    out[k.first].push_back(k.second);
  }
  std::vector<std::uint64_t> ready;
  for (const auto& [n, d] : indeg)
    if (d == 0) ready.push_back(n);
  std::size_t seen = 0;
  while (!ready.empty()) {
    const auto u = ready.back();
    ready.pop_back();
    ++seen;
    for (auto c : out[u])
      if (--indeg[c] == 0) ready.push_back(c);
  }
  return seen == indeg.size();
}

// ------------------------------------------------------------------------------- suite 01

/// Replay: a world run recorded from the engine's own log, checkpointed every 10 steps, replayed
/// from every checkpoint into fresh engines (1 and 3 workers where the engine has workers):
/// bit for bit, L2 divergence exactly 0.
template <class E>
  requires replay_engine<E> && requires(const E& e) { e.log_records(); }
void suite01_replay_over_engine() {
  auto owned = make_engine<E>(2);
  E& e = *owned;
  replay_validator<E> v(e);
  world w;
  w.build(e);
  std::size_t logged = 0;
  auto record = [&] {
    const auto records = e.log_records();
    REQUIRE(v.record_log(records.subspan(logged)));
    logged = records.size();
  };
  record();  // checkpoint 0, taken at construction, is before the build: its pages and edges replay too
  for (int s = 0; s < 40; ++s) {
    w.drive(e);
    (void)e.step();
    record();
    if (s % 10 == 9) v.checkpoint(e);
  }
  REQUIRE(v.checkpoints() == 5);
  for (std::size_t k = 0; k < v.checkpoints(); ++k)
    for (unsigned workers : {1u, 3u}) {
      INFO("checkpoint " << k << ", " << workers << " workers");
      auto scratch = make_engine<E>(workers);
      const auto rep = v.replay(k, *scratch, e);
      CHECK(rep.ok());
      CHECK(rep.l2_divergence == 0);
      CHECK(scratch->digest() == e.digest());
    }
}

// ------------------------------------------------------------------------------- suite 02

/// Integrity at the engine: every kind of bad delta is a typed error from submit (shape) or a
/// rejection in the step report (page, window, derived target, epoch), counted, never applied;
/// the engine ends equal to a twin that was given the good deltas only.
template <class E>
  requires engine<E> && inspectable_engine<E>
void suite02_integrity_over_engine() {
  auto a_owned = make_engine<E>(2), b_owned = make_engine<E>(2);
  E &a = *a_owned, &b = *b_owned;
  world_options o;
  o.bad_deltas = false;
  o.edits = 0;
  world wa(o), wb(o);
  wa.build(a);
  wb.build(b);
  for (int t = 0; t < 3; ++t) {
    wa.drive(a);
    wb.drive(b);
    (void)a.step();
    (void)b.step();
  }
  const page_id source = wa.id(3), derived = wa.id(o.pages - 1);
  const epoch at{a.current_epoch().value() + 1};
  std::uint64_t id = 1'000'000;
  // Shape errors come back from submit.
  delta stray = element_delta(source, at, id++, 1.0, 0);
  stray.mask[0] |= std::uint64_t{1} << 20;  // a bit past the 8-byte window
  CHECK(a.submit(stray).error().code == errc::stray_mask_bits);
  delta short_payload = element_delta(source, at, id++, 1.0, 0);
  short_payload.payload.pop_back();
  CHECK(a.submit(short_payload).error().code == errc::payload_mismatch);
  delta empty = element_delta(source, at, id++, 1.0, 0);
  empty.length = 0;
  empty.mask.clear();
  empty.payload.clear();
  CHECK_FALSE(a.submit(empty));
  // The others are rejected by the step, with their kind, in cut order.
  const delta good1 = element_delta(source, at, id++, 5.0, 1), good2 = element_delta(wa.id(4), at, id++, 6.0, 2);
  REQUIRE(a.submit(good1));
  REQUIRE(a.submit(element_delta(page_id{0xFFFF'FFFF'0000'0001ULL}, at, id++, 1.0, 0)));  // unknown page
  delta past = element_delta(source, at, id++, 1.0, 0);
  past.offset = 8 * o.elements;  // the window starts past the page's end
  REQUIRE(a.submit(past));
  REQUIRE(a.submit(element_delta(derived, at, id++, 1.0, 0)));  // a derived page
  REQUIRE(a.submit(element_delta(source, epoch{at.value() - 2}, id++, 1.0, 0)));  // late
  REQUIRE(a.submit(good2));
  const auto r = a.step();
  REQUIRE(r.rejected.size() == 4);
  std::vector<errc> kinds;
  for (const auto& x : r.rejected) kinds.push_back(x.why.code);
  // The late delta's epoch sorts it first in the cut (by epoch, then submit order).
  CHECK(kinds == std::vector<errc>{errc::epoch_regression, errc::not_found, errc::out_of_range, errc::derived_target});
  CHECK(r.applied == 2);
  REQUIRE(b.submit(good1));
  REQUIRE(b.submit(good2));
  (void)b.step();
  CHECK(same_pages(a, b));
  CHECK(a.digest() == b.digest());
}

// ------------------------------------------------------------------------------- suite 03

/// Graph edits at the engine against an oracle: random edits, some closing cycles; an edit that
/// would close one is rejected whole (errc::cycle) and the graph is as it was; the others are
/// committed whole. The graph is read back through the concept after every step.
template <class E>
  requires engine<E> && inspectable_engine<E>
void suite03_graph_over_engine() {
  auto owned = make_engine<E>(2);
  E& e = *owned;
  std::vector<page_id> pages;
  for (int i = 0; i < 60; ++i) pages.push_back(*e.create_page(64));
  std::map<std::pair<std::uint64_t, std::uint64_t>, double> oracle;
  std::mt19937_64 rng(3);
  std::size_t rejected = 0, committed = 0;
  for (int s = 0; s < 150; ++s) {
    graph_edit<typename E::weight_type> edit;
    auto next = oracle;
    for (int k = 0; k < 4; ++k) {  // any direction: some edits close cycles
      const auto p = pages[rng() % pages.size()], c = pages[rng() % pages.size()];
      if (p == c || next.contains({p.value(), c.value()})) continue;
      const double wgt = 0.25 * static_cast<double>(1 + rng() % 4);
      edit.add_edge({p, c, edge_kind::data, static_cast<typename E::weight_type>(wgt)});
      next[{p.value(), c.value()}] = wgt;
    }
    if (!oracle.empty() && rng() % 3 == 0) {
      auto it = oracle.begin();
      std::advance(it, static_cast<std::ptrdiff_t>(rng() % oracle.size()));
      edit.remove_edge(page_id{it->first.first}, page_id{it->first.second});
      next.erase(it->first);
    }
    REQUIRE(e.edit_graph(edit));
    const auto r = e.step();
    if (acyclic(next)) {
      CHECK(r.graph.ok());
      oracle = std::move(next);
      ++committed;
    } else {
      CHECK(r.graph.err.code == errc::cycle);
      ++rejected;
    }
    REQUIRE(edges_of(e) == oracle);
  }
  CHECK(rejected > 10);
  CHECK(committed > 10);
}

// ------------------------------------------------------------------------------- suite 05

/// Throughput's correctness at the engine: the same world run at 1, 2, 4 and 8 workers gives
/// the same pages after every step, and the same pages as the plain engine (the sequential
/// oracle, which recomputes every derived page in topological order).
template <class E, class Kernel>
  requires engine<E> && inspectable_engine<E>
void suite05_parallel_equals_sequential(std::size_t steps) {
  using oracle_t = plain_engine<typename E::value_type, Kernel, typename E::weight_type>;
  oracle_t oracle;
  world wo;
  wo.build(oracle);
  std::vector<std::unique_ptr<E>> engines;
  std::vector<world> worlds;
  for (unsigned workers : {1u, 2u, 4u, 8u}) {
    engines.push_back(make_engine<E>(workers));
    if constexpr (requires { engines.back()->propagation(); }) engines.back()->propagation().cone_sequential_limit = 0;
    worlds.emplace_back();
    worlds.back().build(*engines.back());
  }
  for (std::size_t s = 0; s < steps; ++s) {
    wo.drive(oracle);
    (void)oracle.step();
    for (std::size_t k = 0; k < engines.size(); ++k) {
      worlds[k].drive(*engines[k]);
      (void)engines[k]->step();
      INFO("step " << s << ", engine " << k);
      REQUIRE(same_by_rank(*engines[k], worlds[k], oracle, wo));
    }
  }
}

// ------------------------------------------------------------------------------- suite 06

/// Ticks at the engine: the orchestrator runs the phases in order for any phased engine; its
/// records count the deltas applied and rejected; an impossible budget is an overrun recorded
/// against its phase; the state equals a twin that was stepped.
template <class E>
  requires phased_engine<E>
void suite06_ticks_over_engine() {
  auto a_owned = make_engine<E>(2), b_owned = make_engine<E>(2);
  E &a = *a_owned, &b = *b_owned;
  world wa, wb;
  wa.build(a);
  wb.build(b);
  tick_options opt;
  opt.budgets.apply_propagate = std::chrono::nanoseconds(1);  // every tick overruns it
  opt.budgets.graph = std::chrono::seconds(10);
  opt.budgets.gc = std::chrono::seconds(10);
  opt.budgets.total = std::chrono::seconds(40);
  auto t = tick_orchestrator<E>::make(a, opt);
  REQUIRE(t);
  std::size_t overruns = 0;
  t->on_overrun([&](const tick_overrun& o) {
    overruns += o.budget == tick_budget::apply_propagate ? 1 : 0;
  });
  for (int k = 0; k < 20; ++k) {
    wa.drive(a);
    const auto rec = t->tick();
    REQUIRE(rec);
    CHECK(rec->deltas == wa.options().deltas);
    CHECK(rec->rejected == 2);
    CHECK(rec->overran());
    wb.drive(b);
    (void)b.step();
    REQUIRE(a.digest() == b.digest());
  }
  CHECK(overruns == 20);
}

// ------------------------------------------------------------------------------- suite 07

/// Memory at the engine: pages created, written and released in churn never lose a live byte or
/// epoch (against a model), released ids answer not_found, and, for an engine that collects
/// (gc_slice), slices between steps change nothing a page holds.
template <class E>
  requires engine<E> && inspectable_engine<E>
void suite07_memory_over_engine() {
  auto owned = make_engine<E>(2);
  E& e = *owned;
  std::map<std::uint64_t, std::pair<std::vector<std::byte>, epoch>> model;
  std::vector<page_id> released;
  std::mt19937_64 rng(7);
  std::uint64_t id = 1;
  for (int s = 0; s < 120; ++s) {
    for (int k = 0; k < 6; ++k) {
      const std::size_t bytes = 8 * (1 + rng() % 32);
      const page_id p = *e.create_page(bytes);
      model[p.value()] = {std::vector<std::byte>(bytes), epoch{0}};
    }
    for (int k = 0; k < 4 && !model.empty(); ++k) {
      auto it = model.begin();
      std::advance(it, static_cast<std::ptrdiff_t>(rng() % model.size()));
      REQUIRE(e.release_page(page_id{it->first}));
      released.push_back(page_id{it->first});
      model.erase(it);
    }
    const epoch at{e.current_epoch().value() + 1};
    for (int k = 0; k < 20; ++k) {
      auto it = model.begin();
      std::advance(it, static_cast<std::ptrdiff_t>(rng() % model.size()));
      const auto el = static_cast<std::uint32_t>(rng() % (it->second.first.size() / 8));
      const double v = static_cast<double>(rng() % 1000);
      REQUIRE(e.submit(element_delta(page_id{it->first}, at, id++, v, el)));
      std::memcpy(it->second.first.data() + 8 * el, &v, 8);
      it->second.second = at;
    }
    const auto r = e.step();
    REQUIRE(r.applied == 20);
    if constexpr (requires { e.gc_slice(std::chrono::steady_clock::now()); }) {
      (void)e.gc_slice(std::chrono::steady_clock::now() + std::chrono::milliseconds(2));
    }
    std::size_t seen = 0;
    bool all_equal = true;
    e.for_each_page([&](page_id p, std::span<const std::byte> bytes, epoch at2) {
      const auto it = model.find(p.value());
      ++seen;
      if (it == model.end() || it->second.second != at2 || it->second.first.size() != bytes.size() ||
          std::memcmp(it->second.first.data(), bytes.data(), bytes.size()) != 0)
        all_equal = false;
    });
    REQUIRE(all_equal);
    REQUIRE(seen == model.size());
  }
  for (const page_id p : released) CHECK(e.page_bytes(p).error().code == errc::not_found);
}

// ------------------------------------------------------------------------------- suite 08

/// Invariants at the engine, checked through the concept after every step of a world run: page
/// epochs never go back, each page's epoch is at most the engine's, the committed graph is
/// acyclic, every page the world created is alive, and (for a logging engine) the log's epochs
/// never decrease.
template <class E>
  requires engine<E> && inspectable_engine<E>
void suite08_invariants_over_engine(std::size_t steps) {
  auto owned = make_engine<E>(2);
  E& e = *owned;
  world w;
  w.build(e);
  std::map<std::uint64_t, epoch> last;
  std::size_t checks = 0;
  for (std::size_t s = 0; s < steps; ++s) {
    w.drive(e);
    (void)e.step();
    std::size_t pages = 0;
    bool monotone = true, bounded = true;
    e.for_each_page([&](page_id p, std::span<const std::byte>, epoch at) {
      ++pages;
      auto [it, fresh] = last.try_emplace(p.value(), at);
      if (!fresh && at < it->second) monotone = false;
      it->second = at;
      if (e.current_epoch() < at) bounded = false;
    });
    REQUIRE(monotone);
    REQUIRE(bounded);
    REQUIRE(pages == w.ids().size());
    REQUIRE(acyclic(edges_of(e)));  // the committed edges admit a topological order
    checks += 4;
  }
  if constexpr (requires { e.log_records(); }) {
    const auto recovered = parse_tlog([&] {
      std::vector<std::byte> image;
      const auto h = detail::tlog_header();
      image.assign(h.begin(), h.end());
      const auto rec = e.log_records();
      image.insert(image.end(), rec.begin(), rec.end());
      return image;
    }());
    REQUIRE(recovered);
    std::uint32_t prev = 0;
    bool rising = true;
    for (const delta& d : recovered->records) {
      rising = rising && d.at.value() >= prev;
      prev = d.at.value();
    }
    CHECK(rising);
    CHECK(recovered->records.size() > steps * w.options().deltas / 2);
  }
  CHECK(checks == 4 * steps);
}

}  // namespace tickflow::test
