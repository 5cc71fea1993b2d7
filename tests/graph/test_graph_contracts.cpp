// page_graph and csr contracts that a review found broken, each as a class of test: edit
// verdicts that do not depend on the path that computes them (compared on the same edits, with
// an oracle for "first failing insertion"), which list an edit error indexes, canonical
// snapshots and equality by bits, duplicate detection at high degree, from_edges against a naive
// oracle, and check_reachable's typed error and no-copy guarantee.
#include <tickflow/graph/csr.hpp>
#include <tickflow/graph/page_graph.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <set>
#include <utility>
#include <vector>

#include "support/catch.hpp"

using namespace tickflow;
using edge_list = std::vector<std::pair<std::uint32_t, std::uint32_t>>;

namespace {

page_id pid(std::uint32_t i) { return page_id{(std::uint64_t{i} << 32) | 1}; }

bool cyclic(std::size_t n, const edge_list& e) { return !check_acyclic(*csr_graph::from_edges(n, e)).acyclic; }

// The committed edges of g as node pairs over page numbers (pid(i) -> i).
edge_list pairs_of(const page_graph<>& g) {
  edge_list out;
  for (const auto& e : g.edge_list()) out.emplace_back(static_cast<std::uint32_t>(e.parent.value() >> 32), static_cast<std::uint32_t>(e.child.value() >> 32));
  return out;
}

// Oracle: the first insertion i such that (committed - removals) + insertions[0..i] is cyclic.
std::optional<std::size_t> first_failing(std::size_t n, const page_graph<>& g, const graph_edit<double>& edit) {
  edge_list base = pairs_of(g);
  for (const auto& [p, c] : edit.removals()) {
    const std::pair<std::uint32_t, std::uint32_t> key{static_cast<std::uint32_t>(p.value() >> 32), static_cast<std::uint32_t>(c.value() >> 32)};
    base.erase(std::find(base.begin(), base.end(), key));
  }
  for (std::size_t i = 0; i < edit.additions().size(); ++i) {
    const auto& e = edit.additions()[i];
    base.emplace_back(static_cast<std::uint32_t>(e.parent.value() >> 32), static_cast<std::uint32_t>(e.child.value() >> 32));
    if (cyclic(n, base)) return i;
  }
  return std::nullopt;
}

// The witness is a real cycle: w[0] -> w[1] is insertion i, every other step an edge of the
// graph the insertion was checked against (committed - removals + insertions before i).
void check_witness(const page_graph<>& g, const graph_edit<double>& edit, std::size_t i, const std::vector<page_id>& w) {
  REQUIRE_FALSE(w.empty());
  std::set<std::pair<std::uint64_t, std::uint64_t>> edges;
  for (const auto& e : g.edge_list()) edges.insert({e.parent.value(), e.child.value()});
  for (const auto& [p, c] : edit.removals()) edges.erase({p.value(), c.value()});
  for (std::size_t k = 0; k < i; ++k) edges.insert({edit.additions()[k].parent.value(), edit.additions()[k].child.value()});
  const auto& bad = edit.additions()[i];
  CHECK(w[0] == bad.parent);
  if (w.size() == 1) {
    CHECK(bad.parent == bad.child);
    return;
  }
  CHECK(w[1] == bad.child);
  for (std::size_t k = 1; k < w.size(); ++k) CHECK(edges.count({w[k].value(), w[(k + 1) % w.size()].value()}) == 1);
  CHECK(std::set<page_id>(w.begin(), w.end()).size() == w.size());  // a simple cycle
}

}  // namespace

TEST_CASE("graph edit: the review's reproduction reports the same verdict on both paths", "[graph][contract]") {
  page_graph<> g;
  for (std::uint32_t i = 0; i < 200; ++i) REQUIRE(g.add_page(pid(i)));
  for (const int filler : {0, 63, 200}) {
    graph_edit<double> edit;
    edit.add_edge({pid(1), pid(2)});
    for (int k = 0; k < filler; ++k) edit.add_edge({pid(10 + static_cast<std::uint32_t>(k) % 150), pid(199 - static_cast<std::uint32_t>(k) / 150)});
    edit.add_edge({pid(2), pid(1)});
    const std::size_t want = edit.additions().size() - 1;
    for (const auto path : {edit_path::automatic, edit_path::incremental, edit_path::rebuild}) {
      const edit_report r = g.check(edit, path);
      CHECK(r.err.code == errc::cycle);
      CHECK(r.err.detail == want);
      CHECK(r.part == edit_part::insertions);
      CHECK(r.witness == std::vector<page_id>{pid(2), pid(1)});
    }
  }
}

TEST_CASE("graph edit: incremental and rebuild paths agree on every verdict, and with an oracle", "[graph][contract]") {
  std::mt19937_64 rng(1103);
  int cycles = 0, commits = 0;
  for (int round = 0; round < 300; ++round) {
    const std::uint32_t n = 20 + static_cast<std::uint32_t>(rng() % 60);
    page_graph<> g;
    for (std::uint32_t i = 0; i < n; ++i) REQUIRE(g.add_page(pid(i)));
    for (std::uint32_t k = 0; k < 2 * n; ++k) {
      const auto a = static_cast<std::uint32_t>(rng() % n), b = static_cast<std::uint32_t>(rng() % n);
      if (a < b && !g.has_edge(pid(a), pid(b))) REQUIRE(g.add_edge({pid(a), pid(b), edge_kind::data, 1.0}));
    }
    graph_edit<double> edit;
    const auto edges = g.edge_list();
    std::set<std::pair<std::uint32_t, std::uint32_t>> used;
    for (std::size_t k = 0; k < edges.size() && k < 4; ++k) {
      const auto& e = edges[rng() % edges.size()];
      const std::pair<std::uint32_t, std::uint32_t> key{static_cast<std::uint32_t>(e.parent.value() >> 32), static_cast<std::uint32_t>(e.child.value() >> 32)};
      if (used.insert(key).second) edit.remove_edge(e.parent, e.child);
    }
    std::set<std::pair<std::uint32_t, std::uint32_t>> added;
    const int adds = 1 + static_cast<int>(rng() % 40);
    for (int k = 0; k < adds; ++k) {
      auto a = static_cast<std::uint32_t>(rng() % n), b = static_cast<std::uint32_t>(rng() % n);
      if (rng() % 6 != 0 && a > b) std::swap(a, b);  // mostly forward; some backward edges close cycles
      if (rng() % 50 == 0) b = a;                    // a self-loop now and then
      const bool exists = g.has_edge(pid(a), pid(b)) && !used.count({a, b});
      if (exists || !added.insert({a, b}).second) continue;
      edit.add_edge({pid(a), pid(b), edge_kind::data, 2.0});
    }
    const auto want = first_failing(n, g, edit);
    const edit_report inc = g.check(edit, edit_path::incremental);
    const edit_report reb = g.check(edit, edit_path::rebuild);
    CHECK(inc.err == reb.err);
    CHECK(inc.part == reb.part);
    CHECK(inc.witness == reb.witness);
    if (want) {
      ++cycles;
      REQUIRE(inc.err.code == errc::cycle);
      CHECK(inc.err.detail == *want);
      check_witness(g, edit, *want, inc.witness);
    } else {
      ++commits;
      CHECK(inc.ok());
      // Committing through either path gives the same graph.
      page_graph<> a = g, b = g;
      REQUIRE(a.commit(edit, edit_path::incremental).ok());
      REQUIRE(b.commit(edit, edit_path::rebuild).ok());
      CHECK(a == b);
      CHECK(a.snapshot().csr.targets == b.snapshot().csr.targets);
      CHECK(a.check_invariants());
      CHECK(b.check_invariants());
    }
  }
  CHECK(cycles > 30);
  CHECK(commits > 30);
}

TEST_CASE("graph edit: errors say which list their index points into", "[graph][contract]") {
  page_graph<> g;
  for (std::uint32_t i = 0; i < 5; ++i) REQUIRE(g.add_page(pid(i)));
  REQUIRE(g.add_edge({pid(0), pid(1)}));
  REQUIRE(g.add_edge({pid(1), pid(2)}));
  {
    graph_edit<double> e;
    e.remove_edge(pid(0), pid(1));
    e.remove_edge(pid(3), pid(4));  // missing
    const auto r = g.check(e);
    CHECK(r.err == error{errc::not_found, 1});
    CHECK(r.part == edit_part::removals);
  }
  {
    graph_edit<double> e;
    e.remove_edge(pid(1), pid(2));
    e.remove_edge(pid(0), pid(1));
    e.remove_edge(pid(1), pid(2));  // the same edge again
    const auto r = g.check(e);
    CHECK(r.err == error{errc::not_found, 2});
    CHECK(r.part == edit_part::removals);
  }
  {
    graph_edit<double> e;
    e.add_edge({pid(2), pid(3)});
    e.add_edge({pid(3), pid(9)});  // page 9 is not in the graph
    const auto r = g.check(e);
    CHECK(r.err == error{errc::not_found, 1});
    CHECK(r.part == edit_part::insertions);
  }
  {
    graph_edit<double> e;
    e.remove_edge(pid(0), pid(1));
    e.add_edge({pid(0), pid(1)});  // fine: removed first
    e.add_edge({pid(1), pid(2)});  // exists and is not removed
    const auto r = g.check(e);
    CHECK(r.err == error{errc::duplicate_id, 1});
    CHECK(r.part == edit_part::insertions);
  }
}

TEST_CASE("page_graph: snapshots are canonical and equality compares weights by bits", "[graph][contract]") {
  std::mt19937_64 rng(42);
  const std::uint32_t n = 120;
  edge_list edges;
  for (int k = 0; k < 400; ++k) {
    const auto a = static_cast<std::uint32_t>(rng() % n), b = static_cast<std::uint32_t>(rng() % n);
    if (a < b && std::find(edges.begin(), edges.end(), std::pair{a, b}) == edges.end()) edges.emplace_back(a, b);
  }
  const auto build = [&](std::uint64_t seed) {
    std::mt19937_64 r(seed);
    page_graph<> g;
    std::vector<std::uint32_t> order(n);
    for (std::uint32_t i = 0; i < n; ++i) order[i] = i;
    std::shuffle(order.begin(), order.end(), r);
    // Pages that come and go first leave dead slots and a free list behind.
    for (std::uint32_t i = 0; i < 30; ++i) REQUIRE(g.add_page(pid(1000 + i)));
    for (std::uint32_t i = 0; i < 30; i += 2) REQUIRE(g.remove_page(pid(1000 + i)));
    for (std::uint32_t i : order) REQUIRE(g.add_page(pid(i)));
    for (std::uint32_t i = 1; i < 30; i += 2) REQUIRE(g.remove_page(pid(1000 + i)));
    auto shuffled = edges;
    std::shuffle(shuffled.begin(), shuffled.end(), r);
    for (const auto& [a, b] : shuffled) REQUIRE(g.add_edge({pid(a), pid(b), edge_kind::data, 0.25 * a}));
    if (seed % 2 == 0) g.renumber_topologically();
    return g;
  };
  const page_graph<> a = build(1), b = build(2), c = build(3);
  CHECK(a == b);
  CHECK(a == c);
  const auto sa = a.snapshot(), sb = b.snapshot(), sc = c.snapshot();
  CHECK(sa.page_of == sb.page_of);
  CHECK(sa.csr.offsets == sb.csr.offsets);
  CHECK(sa.csr.targets == sb.csr.targets);
  CHECK(sa.csr.targets == sc.csr.targets);
  CHECK(std::is_sorted(sa.page_of.begin(), sa.page_of.end()));
  CHECK(sa.page_of.size() == a.pages());
  CHECK(a.validate().visited == a.pages());

  page_graph<> nan_graph;
  REQUIRE(nan_graph.add_page(pid(0)));
  REQUIRE(nan_graph.add_page(pid(1)));
  REQUIRE(nan_graph.add_edge({pid(0), pid(1), edge_kind::data, std::numeric_limits<double>::quiet_NaN()}));
  const page_graph<> copy = nan_graph;
  CHECK(copy == nan_graph);
  page_graph<> zero, minus_zero;
  for (auto* g : {&zero, &minus_zero}) {
    REQUIRE(g->add_page(pid(0)));
    REQUIRE(g->add_page(pid(1)));
  }
  REQUIRE(zero.add_edge({pid(0), pid(1), edge_kind::data, 0.0}));
  REQUIRE(minus_zero.add_edge({pid(0), pid(1), edge_kind::data, -0.0}));
  CHECK_FALSE(zero == minus_zero);
  page_graph<> other_kind = zero;
  REQUIRE(other_kind.remove_edge(pid(0), pid(1)));
  REQUIRE(other_kind.add_edge({pid(0), pid(1), edge_kind::control, 0.0}));
  CHECK_FALSE(zero == other_kind);
}

TEST_CASE("page_graph: duplicate edges are found at any degree on either end, through removals and renumbering", "[graph][contract]") {
  page_graph<> g;
  const std::uint32_t children = 40'000;
  for (std::uint32_t i = 0; i <= children; ++i) REQUIRE(g.add_page(pid(i)));
  for (std::uint32_t i = 1; i <= children; ++i) REQUIRE(g.add_edge({pid(0), pid(i)}));
  for (std::uint32_t i = 1; i <= children; i += 997) CHECK(g.add_edge({pid(0), pid(i)}).error().code == errc::duplicate_id);
  for (std::uint32_t i = 1; i <= children; i += 3) REQUIRE(g.remove_edge(pid(0), pid(i)));
  for (std::uint32_t i = 1; i <= children; ++i) CHECK(g.has_edge(pid(0), pid(i)) == ((i - 1) % 3 != 0));
  REQUIRE(g.check_invariants());
  g.renumber_topologically();
  REQUIRE(g.check_invariants());
  CHECK(g.add_edge({pid(0), pid(2)}).error().code == errc::duplicate_id);
  // A page with many parents: the check scans whichever list is shorter, hub to hub too.
  const page_id sink = pid(children + 1);
  REQUIRE(g.add_page(sink));
  for (std::uint32_t i = 0; i <= children; i += 2) REQUIRE(g.add_edge({pid(i), sink}));
  for (std::uint32_t i = 0; i <= children; i += 1000) CHECK(g.add_edge({pid(i), sink}).error().code == errc::duplicate_id);
  CHECK(g.has_edge(pid(0), sink));
  CHECK_FALSE(g.has_edge(pid(1), sink));
  REQUIRE(g.remove_edge(pid(0), sink));
  CHECK_FALSE(g.has_edge(pid(0), sink));
  CHECK(g.remove_edge(pid(0), sink).error().code == errc::not_found);
  REQUIRE(g.add_edge({pid(0), sink}));
  REQUIRE(g.check_invariants());
}

TEST_CASE("csr_graph::from_edges sorts children exactly like a naive sort", "[graph][contract]") {
  std::mt19937_64 rng(7);
  for (int round = 0; round < 50; ++round) {
    const std::uint32_t n = 1 + static_cast<std::uint32_t>(rng() % 300);
    edge_list e;
    const std::size_t m = rng() % 2000;
    for (std::size_t k = 0; k < m; ++k) e.emplace_back(static_cast<std::uint32_t>(rng() % n), static_cast<std::uint32_t>(rng() % (rng() % 4 == 0 ? 3 : n)));
    const auto g = *csr_graph::from_edges(n, e);
    auto sorted = e;
    std::sort(sorted.begin(), sorted.end());
    edge_list got;
    for (std::uint32_t u = 0; u < n; ++u)
      for (std::uint32_t c : g.children(u)) got.emplace_back(u, c);
    CHECK(got == sorted);
  }
}

namespace {
std::size_t copies = 0;
struct counted_children {  // a range whose copies are counted
  std::vector<std::uint32_t> v;
  counted_children() = default;
  counted_children(const counted_children& o) : v(o.v) { ++copies; }
  counted_children& operator=(const counted_children&) = default;
  [[nodiscard]] std::size_t size() const noexcept { return v.size(); }
  [[nodiscard]] std::uint32_t operator[](std::size_t i) const noexcept { return v[i]; }
};
}  // namespace

TEST_CASE("check_reachable: a bad start is a typed error and children returned by reference are not copied", "[graph][contract]") {
  const auto g = *csr_graph::from_edges(3, edge_list{{0, 1}, {1, 2}});
  graph_scratch s;
  const auto bad = check_reachable(g, 3, s);
  REQUIRE_FALSE(bad);
  CHECK(bad.error() == error{errc::out_of_range, 3});
  std::vector<counted_children> star(20'001);
  for (std::uint32_t i = 1; i <= 20'000; ++i) star[0].v.push_back(i);
  copies = 0;
  const auto r = check_reachable(star.size(), 0, [&](std::uint32_t u) -> const counted_children& { return star[u]; }, s);
  REQUIRE(r);
  CHECK(r->visited == star.size());
  CHECK(copies == 0);
  CHECK(check_reachable(star.size(), 20'001, [&](std::uint32_t u) -> const counted_children& { return star[u]; }, s).error().code == errc::out_of_range);
}

TEST_CASE("page_graph: an insertion whose search is small on one side only repairs the order in one pass", "[graph][contract]") {
  // A chain c0 -> c1 -> ... -> c(k-1), an isolated page x placed before it and one y placed after.
  // c(k-1) -> x: x's descendants (none) are found at once, c(k-1)'s ancestry is the whole chain;
  // y -> c0 the other way round. Both take the one-pass repair; the order must stay topological
  // and the cycle checks must still see through it.
  constexpr std::uint32_t k = 5000;
  page_graph<> g;
  REQUIRE(g.add_page(pid(k)));  // x
  for (std::uint32_t i = 0; i < k; ++i) REQUIRE(g.add_page(pid(i)));
  REQUIRE(g.add_page(pid(k + 1)));  // y
  for (std::uint32_t i = 0; i + 1 < k; ++i) REQUIRE(g.add_edge({pid(i), pid(i + 1)}));
  const auto pos = [&](std::uint32_t i) { return g.position(*g.node(pid(i))); };
  REQUIRE(pos(k) < pos(0));

  // check() of both repairs, and an edit they precede that then closes a cycle, leave every
  // position as it was (the undo log holds |S| + 2 entries per repair, not the region).
  const page_graph<> before = g;
  std::vector<std::uint32_t> positions;
  for (std::uint32_t i = 0; i < k + 2; ++i) positions.push_back(pos(i));
  const auto same_positions = [&] {
    for (std::uint32_t i = 0; i < k + 2; ++i)
      if (pos(i) != positions[i]) return false;
    return true;
  };
  graph_edit<double> probe;
  probe.add_edge({pid(k - 1), pid(k)});
  probe.add_edge({pid(k + 1), pid(0)});
  CHECK(g.check(probe).ok());
  CHECK(g == before);
  CHECK(same_positions());
  probe.add_edge({pid(k), pid(k + 1)});
  const auto rejected = g.commit(probe, edit_path::incremental);
  CHECK(rejected.err.code == errc::cycle);
  CHECK(rejected.err.detail == 2);
  CHECK(g == before);
  CHECK(same_positions());
  REQUIRE(g.check_invariants());

  REQUIRE(g.add_edge({pid(k - 1), pid(k)}));
  CHECK(pos(k - 1) < pos(k));
  REQUIRE(g.check_invariants());
  REQUIRE(g.add_edge({pid(k + 1), pid(0)}));
  CHECK(pos(k + 1) < pos(0));
  REQUIRE(g.check_invariants());
  for (std::uint32_t i = 0; i + 1 < k; ++i) REQUIRE(pos(i) < pos(i + 1));

  // x -> y and x -> c0 close cycles through the whole chain; the witness is a real cycle.
  std::vector<page_id> w;
  const auto r = g.add_edge({pid(k), pid(k + 1)}, &w);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == errc::cycle);
  REQUIRE(w.size() == k + 2);
  CHECK(w[0] == pid(k));
  CHECK(w[1] == pid(k + 1));
  for (std::size_t i = 1; i < w.size(); ++i) CHECK(g.has_edge(w[i], w[(i + 1) % w.size()]));
  CHECK_FALSE(g.add_edge({pid(k), pid(0)}));
  REQUIRE(g.check_invariants());
  CHECK(g.edges() == k + 1);
}
