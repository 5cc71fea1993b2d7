// Suite 10 (provenance), correctness, over reference_engine and over a plain engine
// (tests/support/plain_engine.hpp) through the same concept: witness chains of a min-plus engine are real (each step's
// value is its winning parent's term, and the source's element was last written by the delta
// named, as the test's own bookkeeping of applied deltas says); the depth limit is enforced and
// flagged; the cache is a true LRU; no cached answer is ever stale, over random interleavings of
// resolve, tick and edit against the uncached walk; cones match a breadth-first oracle with their
// limits flagged; bad input is a typed error.
#include <tickflow/engine/engine.hpp>
#include <tickflow/semiring/builtin.hpp>
#include <tickflow/validate/provenance.hpp>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <map>
#include <random>
#include <set>
#include <utility>
#include <vector>

#include "support/catch.hpp"
#include "support/deltas.hpp"
#include "support/plain_engine.hpp"
#include "support/world.hpp"

using namespace tickflow;
namespace tt = tickflow::test;

namespace {

using min_plus = min_plus_semiring<double>;
using mp_engine = reference_engine<double, semiring_kernel<min_plus>, thread_pool>;
using real_engine = reference_engine<double, semiring_kernel<real_semiring<double>>, thread_pool>;
static_assert(selective_semiring<min_plus> && selective_semiring<boolean_semiring> && selective_semiring<bottleneck_semiring<>>);
static_assert(!selective_semiring<real_semiring<double>> && !selective_semiring<counting_semiring>);
using mp_plain = tt::plain_engine<double, semiring_kernel<min_plus>>;
using real_plain = tt::plain_engine<double, semiring_kernel<real_semiring<double>>>;
static_assert(logging_engine<mp_engine> && logging_engine<mp_plain> && inspectable_engine<mp_plain>);

// The committed in-edges of a page, by parent id (through the inspection concept).
template <class E>
std::vector<graph_edge<double>> in_edges(const E& e, page_id c) {
  std::vector<graph_edge<double>> out;
  e.for_each_in_edge(c, [&](const graph_edge<double>& x) { out.push_back(x); });
  return out;
}

// The test's own record of which delta last wrote each element: submitted deltas, minus the
// step's rejections, in the cut's order (by epoch, then submit order).
struct bookkeeping {
  std::vector<delta> submitted;
  std::map<std::pair<std::uint64_t, std::uint32_t>, delta_ref> last;
  template <class E>
  step_report step(E& e) {
    const step_report r = e.step();
    std::stable_sort(submitted.begin(), submitted.end(), [](const delta& a, const delta& b) { return a.at < b.at; });
    for (const delta& d : submitted) {
      if (std::any_of(r.rejected.begin(), r.rejected.end(), [&](const rejected_delta& x) { return x.id == d.id; })) continue;
      last[{d.page.value(), d.offset / 8}] = delta_ref{d.id, d.at};
    }
    submitted.clear();
    return r;
  }
  template <class E>
  void tick(E& e, tt::world& w) {
    w.drive(e, [&](const delta& d) {
      submitted.push_back(d);
      return e.submit(d);
    });
    (void)step(e);
  }
};

tt::world_options mp_world() {
  tt::world_options o;
  o.non_negative = true;
  o.weight_lo = 0.0;  // ties: weight 0 and equal values happen
  o.weight_hi = 4.0;
  return o;
}

template <class E>
double element(const E& e, page_id p, std::uint32_t i) {
  return value_at<double>(*e.page_bytes(p), i);
}

}  // namespace

TEMPLATE_TEST_CASE("10 provenance: witness chains lead to the delta that really wrote the source", "[suite10]", mp_engine, mp_plain) {
  using E = TestType;
  auto owned = tt::make_engine<E>(2);
  E& e = *owned;
  tt::world w(mp_world());
  w.build(e);
  bookkeeping book;
  for (int t = 0; t < 20; ++t) book.tick(e, w);
  (void)e.step();  // the last tick's edits reach the values (until then a chain may be unexplained)
  provenance_tracker<E, min_plus> prov(e);
  std::size_t sources_with_writer = 0, long_chains = 0;
  for (std::size_t r = 0; r < w.ids().size(); ++r)
    for (std::uint32_t el = 0; el < 8; el += 3) {
      const auto got = prov.resolve(w.id(r), el);
      REQUIRE(got);
      const provenance_chain& c = **got;
      REQUIRE(!c.steps.empty());
      CHECK(c.steps.front().page == w.id(r));
      CHECK_FALSE(c.unexplained);
      CHECK_FALSE(c.depth_limited);
      for (std::size_t k = 0; k + 1 < c.steps.size(); ++k) {  // each step is its parent's term
        const auto ins = in_edges(e, c.steps[k].page);
        const auto edge = std::find_if(ins.begin(), ins.end(), [&](const graph_edge<double>& x) { return x.parent == c.steps[k + 1].page; });
        REQUIRE(edge != ins.end());
        CHECK(element(e, c.steps[k].page, el) == edge->weight + element(e, c.steps[k + 1].page, el));
        CHECK(c.steps[k].at == *e.page_epoch(c.steps[k].page));
      }
      if (c.reached_source) {
        const auto it = book.last.find({c.steps.back().page.value(), el});
        if (it == book.last.end()) {
          CHECK_FALSE(c.writer.has_value());
        } else {
          REQUIRE(c.writer.has_value());
          CHECK(*c.writer == it->second);
          ++sources_with_writer;
        }
      } else {
        CHECK(c.zero_value);
      }
      long_chains += c.depth() >= 3 ? 1 : 0;
    }
  CHECK(sources_with_writer > 100);
  CHECK(long_chains > 10);
}

TEMPLATE_TEST_CASE("10 provenance: the depth limit is enforced and flagged", "[suite10]", mp_engine, mp_plain) {
  using E = TestType;
  auto owned = tt::make_engine<E>(1);
  E& e = *owned;
  std::vector<page_id> chain;
  for (int i = 0; i < 100; ++i) chain.push_back(*e.create_page(64));
  graph_edit<double> edit;
  for (int i = 1; i < 100; ++i) edit.add_edge({chain[i - 1], chain[i], edge_kind::data, 1.0});
  REQUIRE(e.edit_graph(edit));
  (void)e.step();
  REQUIRE(e.submit(tt::element_delta(chain[0], epoch{2}, 7, 5.0, 0)));
  (void)e.step();
  REQUIRE(element(e, chain[99], 0) == 104.0);
  {
    provenance_tracker<E, min_plus> prov(e);
    const auto c = prov.resolve(chain[99], 0);
    REQUIRE(c);
    CHECK((*c)->depth_limited);
    CHECK((*c)->depth() == 32);
    CHECK_FALSE((*c)->reached_source);
    CHECK((*c)->steps.back().page == chain[99 - 32]);
  }
  provenance_options o;
  o.max_depth = 200;
  provenance_tracker<E, min_plus> deep(e, o);
  const auto c = deep.resolve(chain[99], 0);
  REQUIRE(c);
  CHECK_FALSE((*c)->depth_limited);
  CHECK((*c)->reached_source);
  CHECK((*c)->depth() == 99);
  REQUIRE((*c)->writer);
  CHECK(((*c)->writer->id == delta_id{7} && (*c)->writer->at == epoch{2}));
  // Element 1 was never written: every page holds 0 + 1 per edge, and the source names no delta.
  const auto c1 = deep.resolve(chain[99], 1);
  REQUIRE(c1);
  CHECK((*c1)->reached_source);
  CHECK_FALSE((*c1)->writer.has_value());
}

TEMPLATE_TEST_CASE("10 provenance: the cache is a true LRU", "[suite10]", mp_engine, mp_plain) {
  using E = TestType;
  auto owned = tt::make_engine<E>(1);
  E& e = *owned;
  tt::world w(mp_world());
  w.build(e);
  bookkeeping book;
  book.tick(e, w);
  provenance_options o;
  o.cache_entries = 3;
  provenance_tracker<E, min_plus> prov(e, o);
  const page_id a = w.id(390), b = w.id(391), c = w.id(392), d = w.id(393);
  REQUIRE(prov.resolve(a));
  REQUIRE(prov.resolve(b));
  REQUIRE(prov.resolve(c));
  CHECK(prov.misses() == 3);
  REQUIRE(prov.resolve(a));  // a hit: a becomes the most recent
  CHECK(prov.hits() == 1);
  REQUIRE(prov.resolve(d));  // evicts b, the least recent (a FIFO would evict a)
  CHECK(prov.cached() == 3);
  REQUIRE(prov.resolve(a));
  CHECK(prov.hits() == 2);
  REQUIRE(prov.resolve(b));
  CHECK(prov.misses() == 5);
  // Another element of a page is another entry.
  REQUIRE(prov.resolve(a, 1));
  CHECK(prov.misses() == 6);
}

TEMPLATE_TEST_CASE("10 provenance: no stale answer over random interleavings of resolve, tick and edit", "[suite10]", mp_engine, mp_plain) {
  using E = TestType;
  for (std::uint64_t seed : {1ULL, 2ULL, 3ULL}) {
    auto owned = tt::make_engine<E>(2);
    E& e = *owned;
    tt::world_options wo = mp_world();
    wo.seed = seed;
    wo.deltas = 10;
    tt::world w(wo);
    w.build(e);
    bookkeeping book;
    provenance_options o;
    o.cache_entries = 64;
    provenance_tracker<E, min_plus> prov(e, o);
    std::mt19937_64 rng(seed);
    std::size_t resolves = 0;
    for (int op = 0; op < 3000; ++op) {
      const auto pick = rng() % 20;
      if (pick == 0) {
        book.tick(e, w);  // deltas and edits, then a step
      } else if (pick == 1) {
        // A step with one edit to a page the resolves ask about, and no deltas: a parent removed
        // (often the winner) or one inserted (a tie, when it comes first, takes the win).
        graph_edit<double> edit;
        const std::size_t c = w.ids().size() - 1 - rng() % 40;
        std::vector<page_id> parents;
        for (const auto& x : in_edges(e, w.id(c))) parents.push_back(x.parent);
        if (parents.size() >= 2 && rng() % 2 == 0) {
          edit.remove_edge(parents[rng() % 2], w.id(c));
        } else {
          const std::size_t p = c - 1 - rng() % 8;
          if (std::find(parents.begin(), parents.end(), w.id(p)) == parents.end()) edit.add_edge({w.id(p), w.id(c), edge_kind::data, static_cast<double>(rng() % 4)});
        }
        REQUIRE(e.edit_graph(edit));
        (void)book.step(e);
      } else {
        // Resolve from a small set of pages, so that the cache hits and its entries age.
        const page_id p = w.id(w.ids().size() - 1 - rng() % 40);
        const std::uint32_t el = static_cast<std::uint32_t>(rng() % 2);
        const auto cached = prov.resolve(p, el);
        const auto fresh = prov.resolve_uncached(p, el);
        REQUIRE(cached);
        REQUIRE(fresh);
        INFO("seed " << seed << " op " << op);
        REQUIRE(**cached == *fresh);
        ++resolves;
      }
    }
    CHECK(prov.hits() > resolves / 10);  // most entries die at the next tick: its deltas reach most pages
    CHECK(prov.misses() > 50);
  }
}

TEMPLATE_TEST_CASE("10 provenance: cones match a breadth-first oracle, with their limits flagged", "[suite10]", real_engine, real_plain) {
  using E = TestType;
  auto owned = tt::make_engine<E>(2);
  E& e = *owned;
  tt::world w;
  w.build(e);
  bookkeeping book;
  for (int t = 0; t < 5; ++t) book.tick(e, w);
  provenance_tracker<E> prov(e);
  for (std::size_t r : {399UL, 300UL, 200UL, 61UL, 3UL}) {
    const page_id top = w.id(r);
    // The oracle: breadth first over the committed graph's parents, by page id.
    std::map<std::uint64_t, std::uint32_t> depth{{top.value(), 0}};
    std::vector<page_id> queue{top};
    for (std::size_t h = 0; h < queue.size(); ++h) {
      std::vector<page_id> ps;
      for (const auto& x : in_edges(e, queue[h])) ps.push_back(x.parent);
      std::sort(ps.begin(), ps.end());
      for (page_id p : ps)
        if (depth.emplace(p.value(), depth[queue[h].value()] + 1).second) queue.push_back(p);
    }
    const auto c = prov.cone(top, 2);
    REQUIRE(c);
    REQUIRE((*c)->pages.size() == queue.size());
    for (std::size_t k = 0; k < queue.size(); ++k) {
      CHECK((*c)->pages[k].page == queue[k]);
      CHECK((*c)->pages[k].depth == depth[queue[k].value()]);
    }
    CHECK_FALSE((*c)->depth_truncated);
    CHECK_FALSE((*c)->budget_truncated);
    for (const auto& s : (*c)->sources) {
      CHECK(e.parent_count(s.page) == 0);
      const auto it = book.last.find({s.page.value(), 2});
      CHECK(s.writer.has_value() == (it != book.last.end()));
      if (s.writer && it != book.last.end()) CHECK(*s.writer == it->second);
    }
  }
  provenance_options o;
  o.max_depth = 2;
  o.node_budget = 1'000'000;
  provenance_tracker<E> shallow(e, o);
  const auto c2 = shallow.cone(w.id(399));
  REQUIRE(c2);
  CHECK((*c2)->depth_truncated);
  for (const auto& p : (*c2)->pages) CHECK(p.depth <= 2);
  o.max_depth = 32;
  o.node_budget = 5;
  provenance_tracker<E> small(e, o);
  const auto c3 = small.cone(w.id(399));
  REQUIRE(c3);
  CHECK((*c3)->budget_truncated);
  CHECK((*c3)->pages.size() == 5);
}

TEMPLATE_TEST_CASE("10 provenance: an unknown or released page, or an element past the end, is a typed error", "[suite10]", mp_engine, mp_plain) {
  using E = TestType;
  auto owned = tt::make_engine<E>(1);
  E& e = *owned;
  const page_id a = *e.create_page(64), b = *e.create_page(64);
  provenance_tracker<E, min_plus> prov(e);
  CHECK(prov.resolve(a, 0));
  CHECK(prov.resolve(page_id{0xDEADBEEF00000001ULL}).error().code == errc::not_found);
  CHECK(prov.resolve(a, 8).error().code == errc::out_of_range);
  CHECK(prov.cone(a, 9).error().code == errc::out_of_range);
  REQUIRE(e.release_page(b));
  CHECK(prov.resolve(b).error().code == errc::not_found);
  CHECK(prov.cone(b).error().code == errc::not_found);
  CHECK(prov.resolve_uncached(b).error().code == errc::not_found);
}

TEMPLATE_TEST_CASE("10 provenance: on a tie the first parent in the fixed order is the witness, and a loser that comes to tie takes the win", "[suite10]", mp_engine, mp_plain) {
  using E = TestType;
  auto owned = tt::make_engine<E>(1);
  E& e = *owned;
  const page_id a = *e.create_page(64), b = *e.create_page(64), x = *e.create_page(64);
  REQUIRE(a < b);  // the fixed order: a, then b
  graph_edit<double> edit;
  edit.add_edge({a, x, edge_kind::data, 0.0});
  edit.add_edge({b, x, edge_kind::data, 0.0});
  REQUIRE(e.edit_graph(edit));
  (void)e.step();
  REQUIRE(e.submit(tt::element_delta(a, epoch{2}, 1, 5.0, 0)));
  REQUIRE(e.submit(tt::element_delta(b, epoch{2}, 2, 3.0, 0)));
  (void)e.step();
  REQUIRE(element(e, x, 0) == 3.0);
  provenance_tracker<E, min_plus> prov(e);
  const auto first = prov.resolve(x, 0);
  REQUIRE(first);
  REQUIRE((*first)->steps.size() == 2);
  CHECK((*first)->steps[1].page == b);
  CHECK((*first)->writer->id == delta_id{2});
  const epoch x_at = *e.page_epoch(x);
  // a comes down to 3: x keeps its value and its epoch, but a (first in the order) now wins.
  REQUIRE(e.submit(tt::element_delta(a, epoch{3}, 3, 3.0, 0)));
  (void)e.step();
  REQUIRE(*e.page_epoch(x) == x_at);
  const auto again = prov.resolve(x, 0);
  REQUIRE(again);
  CHECK((*again)->steps[1].page == a);
  CHECK((*again)->writer->id == delta_id{3});
  CHECK(**again == *prov.resolve_uncached(x, 0));
  // Both terms equal from the start: the first parent wins.
  const auto tie = prov.resolve_uncached(x, 0);
  REQUIRE(tie);
  CHECK(tie->steps[1].page == a);
}
