// Suite 03 (graph), correctness: cycle checks against naive oracles on random graphs, the 1M-node
// chain and ring, witnesses checked edge by edge, shadow edits that are rejected leave the graph
// as it was, and incremental insertion agrees with a full re-check after every edge.
#include <tickflow/semiring/builtin.hpp>
#include <tickflow/graph/csr.hpp>
#include <tickflow/graph/page_graph.hpp>

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <random>
#include <set>
#include <utility>
#include <vector>

#include "support/catch.hpp"
#include "support/scale.hpp"
#include "support/engine_suites.hpp"

using namespace tickflow;
namespace tt = tickflow::test;

namespace {

using edge_list = std::vector<std::pair<std::uint32_t, std::uint32_t>>;

// Oracle 1: plain recursive three-colour DFS (fine for the sizes used with it).
bool dfs_has_cycle(const csr_graph& g, std::uint32_t u, std::vector<int>& colour) {
  colour[u] = 1;
  for (std::uint32_t c : g.children(u)) {
    if (colour[c] == 1) return true;
    if (colour[c] == 0 && dfs_has_cycle(g, c, colour)) return true;
  }
  colour[u] = 2;
  return false;
}
bool oracle_cyclic(const csr_graph& g) {
  std::vector<int> colour(g.nodes(), 0);
  for (std::uint32_t u = 0; u < g.nodes(); ++u)
    if (colour[u] == 0 && dfs_has_cycle(g, u, colour)) return true;
  return false;
}
bool oracle_reaches_cycle(const csr_graph& g, std::uint32_t start) {
  std::vector<int> colour(g.nodes(), 0);
  return dfs_has_cycle(g, start, colour);
}

// Oracle 2 (small graphs): transitive closure; the cyclic components are the classes of mutual
// reachability among nodes that reach themselves.
std::size_t closure_cyclic_components(const csr_graph& g) {
  const std::size_t n = g.nodes();
  std::vector<std::vector<bool>> reach(n, std::vector<bool>(n, false));
  for (std::uint32_t u = 0; u < n; ++u)
    for (std::uint32_t c : g.children(u)) reach[u][c] = true;
  for (std::size_t k = 0; k < n; ++k)
    for (std::size_t i = 0; i < n; ++i)
      if (reach[i][k])
        for (std::size_t j = 0; j < n; ++j)
          if (reach[k][j]) reach[i][j] = true;
  std::vector<bool> done(n, false);
  std::size_t components = 0;
  for (std::size_t u = 0; u < n; ++u) {
    if (done[u] || !reach[u][u]) continue;
    ++components;
    for (std::size_t v = 0; v < n; ++v)
      if (reach[u][v] && reach[v][u]) done[v] = true;
  }
  return components;
}

bool has_edge(const csr_graph& g, std::uint32_t a, std::uint32_t b) {
  const auto c = g.children(a);
  return std::binary_search(c.begin(), c.end(), b);
}
// Every step of the witness (and the closing step) is an edge, and no node repeats.
void require_real_cycle(const csr_graph& g, const std::vector<std::uint32_t>& w) {
  REQUIRE_FALSE(w.empty());
  for (std::size_t i = 0; i < w.size(); ++i) REQUIRE(has_edge(g, w[i], w[(i + 1) % w.size()]));
  REQUIRE(std::set<std::uint32_t>(w.begin(), w.end()).size() == w.size());
}

// A random DAG under a hidden order, plus `back` edges against it (cycles) and `loops` self-loops.
edge_list random_graph(std::mt19937_64& rng, std::uint32_t n, std::size_t m, std::size_t back, std::size_t loops) {
  std::vector<std::uint32_t> rank(n);
  std::iota(rank.begin(), rank.end(), 0u);
  std::shuffle(rank.begin(), rank.end(), rng);
  edge_list e;
  if (n < 2) return e;
  for (std::size_t i = 0; i < m; ++i) {
    std::uint32_t a = static_cast<std::uint32_t>(rng() % n), b = static_cast<std::uint32_t>(rng() % n);
    if (a == b) continue;
    if (rank[a] > rank[b]) std::swap(a, b);
    e.emplace_back(a, b);
  }
  for (std::size_t i = 0; i < back; ++i) {
    std::uint32_t a = static_cast<std::uint32_t>(rng() % n), b = static_cast<std::uint32_t>(rng() % n);
    if (a == b) continue;
    if (rank[a] < rank[b]) std::swap(a, b);
    e.emplace_back(a, b);
  }
  for (std::size_t i = 0; i < loops; ++i) {
    const auto a = static_cast<std::uint32_t>(rng() % n);
    e.emplace_back(a, a);
  }
  return e;
}

page_id pid(std::uint32_t i) { return page_id{(std::uint64_t{i} << 32) | 1}; }

bool edit_has(const graph_edit<double>& edit, page_id a, page_id b) {
  return std::any_of(edit.additions().begin(), edit.additions().end(), [&](const auto& x) { return x.parent == a && x.child == b; });
}

}  // namespace

TEST_CASE("03 graph: check_acyclic agrees with the oracles on 1000+ random graphs", "[suite03]") {
  std::mt19937_64 rng(3);
  graph_scratch scratch;
  std::size_t cyclic = 0, acyclic = 0;
  const std::size_t graphs = 1200;
  for (std::size_t t = 0; t < graphs; ++t) {
    // Mostly small graphs, some up to 10k nodes (fewer of those under sanitizers).
    const std::uint32_t cap = t % 20 == 0 ? (tt::stress_divisor > 1 ? 2000 : 10000) : t % 4 == 0 ? 1000 : 60;
    const auto n = static_cast<std::uint32_t>(1 + rng() % cap);
    const std::size_t m = rng() % (4 * std::size_t{n} + 1);
    const std::size_t back = rng() % 3 == 0 ? 0 : rng() % 4;
    const std::size_t loops = rng() % 10 == 0 ? 1 : 0;
    const auto g = *csr_graph::from_edges(n, random_graph(rng, n, m, back, loops));
    const bool expect_cycle = oracle_cyclic(g);
    acyclic_options all;
    all.stop_at_first = false;
    all.want_order = true;
    const auto rep = check_acyclic(g, all, scratch);
    REQUIRE(rep.acyclic == !expect_cycle);
    if (rep.acyclic) {
      ++acyclic;
      REQUIRE(rep.order.size() == n);
      std::vector<std::uint32_t> pos(n);
      for (std::uint32_t i = 0; i < n; ++i) pos[rep.order[i]] = i;
      for (std::uint32_t u = 0; u < n; ++u)
        for (std::uint32_t c : g.children(u)) REQUIRE(pos[u] < pos[c]);
    } else {
      ++cyclic;
      require_real_cycle(g, rep.witness);
      if (n <= 60) REQUIRE(rep.cyclic_components == closure_cyclic_components(g));
      const auto first = check_acyclic(g, acyclic_options{}, scratch);  // stop at the first
      REQUIRE_FALSE(first.acyclic);
      REQUIRE(first.cyclic_components == 1);
      require_real_cycle(g, first.witness);
    }
    // Per-page checks from a few starts agree with a DFS from the same start.
    for (int k = 0; k < 3; ++k) {
      const auto s = static_cast<std::uint32_t>(rng() % n);
      const auto r = *check_reachable(g, s, scratch);
      REQUIRE(r.acyclic == !oracle_reaches_cycle(g, s));
      if (!r.acyclic) require_real_cycle(g, r.witness);
    }
  }
  CHECK(cyclic > 200);
  CHECK(acyclic > 200);
}

TEST_CASE("03 graph: a 1M-node chain and a 1M-node ring on the default stack", "[suite03]") {
  const std::uint32_t n = 1'000'000;
  edge_list chain;
  for (std::uint32_t i = 0; i + 1 < n; ++i) chain.emplace_back(i, i + 1);
  const auto g = *csr_graph::from_edges(n, chain);
  graph_scratch scratch;
  REQUIRE(check_acyclic(g, {}, scratch).acyclic);
  const auto reach = *check_reachable(g, 0, scratch);
  REQUIRE(reach.acyclic);
  REQUIRE(reach.visited == n);

  edge_list ring = chain;
  ring.emplace_back(n - 1, 0);
  const auto r = *csr_graph::from_edges(n, ring);
  const auto rep = check_acyclic(r, {}, scratch);
  REQUIRE_FALSE(rep.acyclic);
  REQUIRE(rep.witness.size() == n);
  require_real_cycle(r, rep.witness);
  const auto from = *check_reachable(r, 123, scratch);
  REQUIRE_FALSE(from.acyclic);
  REQUIRE(from.witness.size() == n);
  require_real_cycle(r, from.witness);

  // The same chain built edge by edge in the page graph, in an order that forces reordering.
  page_graph<> pg;
  const std::uint32_t pn = static_cast<std::uint32_t>(tt::scaled(n));
  for (std::uint32_t i = 0; i < pn; ++i) REQUIRE(pg.add_page(pid(i)));
  for (std::uint32_t i = pn - 1; i-- > 0;) REQUIRE(pg.add_edge({pid(i), pid(i + 1)}));
  std::vector<page_id> w;
  REQUIRE(pg.add_edge({pid(pn - 1), pid(0)}, &w).error().code == errc::cycle);
  REQUIRE(w.size() == pn);
  REQUIRE(pg.check_invariants());
  REQUIRE(pg.validate_from(pid(0))->visited == pn);
}

TEST_CASE("03 graph: incremental insertion agrees with a full re-check after every edge", "[suite03]") {
  std::mt19937_64 rng(33);
  // Rounds 20 on have hubs: six pages that most edges enter and many leave, so that an insertion
  // often joins a page with a huge ancestry to one with few descendants, where the order check
  // finishes one search long before the other.
  for (int round = 0; round < 60; ++round) {
    const bool hubs = round >= 20;
    const auto n = static_cast<std::uint32_t>(2 + rng() % (round < 10 ? 30 : 300));
    page_graph<> g;
    for (std::uint32_t i = 0; i < n; ++i) REQUIRE(g.add_page(pid(i)));
    edge_list committed;
    const std::size_t tries = 6 * std::size_t{n};
    for (std::size_t t = 0; t < tries; ++t) {
      auto a = static_cast<std::uint32_t>(rng() % n), b = static_cast<std::uint32_t>(rng() % n);
      if (hubs && rng() % 2 == 0) b = static_cast<std::uint32_t>(rng() % std::min<std::uint32_t>(n, 6));
      if (hubs && rng() % 4 == 0) a = static_cast<std::uint32_t>(rng() % std::min<std::uint32_t>(n, 6));
      edge_list with = committed;
      with.emplace_back(a, b);
      const bool duplicate = std::find(committed.begin(), committed.end(), std::pair{a, b}) != committed.end();
      const bool would_cycle = oracle_cyclic(*csr_graph::from_edges(n, with));
      std::vector<page_id> w;
      const auto r = g.add_edge({pid(a), pid(b), edge_kind::data, double(t)}, &w);
      if (duplicate) {
        REQUIRE(r.error().code == errc::duplicate_id);
      } else if (would_cycle) {
        REQUIRE(r.error().code == errc::cycle);
        // The witness starts with the rejected edge; every other step is committed.
        REQUIRE(w.size() >= 1);
        REQUIRE(w[0] == pid(a));
        if (w.size() > 1) REQUIRE(w[1] == pid(b));
        for (std::size_t i = 1; i < w.size(); ++i) REQUIRE(g.has_edge(w[i], w[(i + 1) % w.size()]));
      } else {
        REQUIRE(r);
        committed.emplace_back(a, b);
      }
      REQUIRE(g.edges() == committed.size());
      REQUIRE(g.check_invariants());
      // Occasionally remove an edge, which never creates a cycle.
      if (!committed.empty() && rng() % 8 == 0) {
        const std::size_t k = rng() % committed.size();
        REQUIRE(g.remove_edge(pid(committed[k].first), pid(committed[k].second)));
        committed.erase(committed.begin() + static_cast<std::ptrdiff_t>(k));
        REQUIRE(g.check_invariants());
      }
    }
    REQUIRE(g.validate().acyclic);
    g.renumber_topologically();
    REQUIRE(g.check_invariants());
    const auto snap = g.node_csr();
    for (std::uint32_t u = 0; u < snap.csr.nodes(); ++u)
      for (std::uint32_t c : snap.csr.children(u)) REQUIRE(u < c);  // numbering follows the order
  }
}

TEST_CASE("03 graph: a rejected shadow edit leaves the committed graph exactly as it was", "[suite03]") {
  std::mt19937_64 rng(303);
  for (int round = 0; round < 40; ++round) {
    const std::uint32_t n = 200;
    page_graph<> g;
    for (std::uint32_t i = 0; i < n; ++i) REQUIRE(g.add_page(pid(i)));
    for (const auto& [a, b] : random_graph(rng, n, 600, 0, 0)) (void)g.add_edge({pid(a), pid(b), edge_kind::control, 0.5});
    const auto before_edges = g.edge_list();  // in adjacency order
    const auto before_snapshot = g.snapshot();
    // An edit with some removals and enough additions to take either path (round parity).
    graph_edit<double> edit;
    for (int k = 0; k < 5 && k < static_cast<int>(before_edges.size()); ++k) {
      const auto& e = before_edges[rng() % before_edges.size()];
      if (std::none_of(edit.removals().begin(), edit.removals().end(), [&](const auto& r) { return r.first == e.parent && r.second == e.child; }))
        edit.remove_edge(e.parent, e.child);
    }
    const std::size_t adds = round % 2 == 0 ? 10 : 120;  // 120 > max(64, edges / 8): batch path
    for (std::size_t k = 0; k < adds; ++k) {
      // Forward in the current topological order, so these alone keep the graph acyclic.
      auto a = static_cast<std::uint32_t>(rng() % n), b = static_cast<std::uint32_t>(rng() % n);
      if (g.position(*g.node(pid(a))) > g.position(*g.node(pid(b)))) std::swap(a, b);
      if (a == b || g.has_edge(pid(a), pid(b)) || edit_has(edit, pid(a), pid(b))) continue;
      edit.add_edge({pid(a), pid(b), edge_kind::data, 1.0});
    }
    // Half the rounds close a cycle for sure: the reverse of a committed edge the edit keeps.
    if (round % 4 < 2) {
      for (int tries = 0; tries < 100; ++tries) {
        const auto& e = before_edges[rng() % before_edges.size()];
        const bool kept = std::none_of(edit.removals().begin(), edit.removals().end(),
                                       [&](const auto& r) { return r.first == e.parent && r.second == e.child; });
        if (kept && !edit_has(edit, e.child, e.parent)) {
          edit.add_edge({e.child, e.parent, edge_kind::data, 2.0});
          break;
        }
      }
    }
    const edit_report checked = g.check(edit);
    REQUIRE(g.edge_list() == before_edges);  // check never changes anything
    const edit_report rep = g.commit(edit);
    REQUIRE(rep.err.code == checked.err.code);
    if (!rep.ok()) {
      REQUIRE(g.edge_list() == before_edges);
      const auto after = g.snapshot();
      REQUIRE(after.csr.offsets == before_snapshot.csr.offsets);
      REQUIRE(after.csr.targets == before_snapshot.csr.targets);
      REQUIRE(g.check_invariants());
      REQUIRE(rep.err.code == errc::cycle);
      REQUIRE(round % 4 < 2);
      REQUIRE_FALSE(rep.witness.empty());
    } else {
      REQUIRE(g.check_invariants());
      REQUIRE(g.validate().acyclic);
      std::set<std::pair<std::uint64_t, std::uint64_t>> want, got;
      for (const auto& x : before_edges) want.insert({x.parent.value(), x.child.value()});
      for (const auto& r : edit.removals()) want.erase({r.first.value(), r.second.value()});
      for (const auto& x : edit.additions()) want.insert({x.parent.value(), x.child.value()});
      for (const auto& x : g.edge_list()) got.insert({x.parent.value(), x.child.value()});
      REQUIRE(got == want);
    }
    // A witness from a rejected edit is a cycle of the edited graph.
    if (rep.err.code == errc::cycle) {
      std::set<std::pair<std::uint64_t, std::uint64_t>> edited;
      for (const auto& x : before_edges) edited.insert({x.parent.value(), x.child.value()});
      for (const auto& r : edit.removals()) edited.erase({r.first.value(), r.second.value()});
      for (const auto& x : edit.additions()) edited.insert({x.parent.value(), x.child.value()});
      const auto& w = rep.witness;
      for (std::size_t i = 0; i < w.size(); ++i) REQUIRE(edited.count({w[i].value(), w[(i + 1) % w.size()].value()}) == 1);
    }
  }
}

TEST_CASE("03 graph: per-page validation touches only what the page reaches", "[suite03]") {
  // Two components: a DAG hanging off page 0, and a separate cycle among other nodes.
  const std::uint32_t n = 1000;
  edge_list e;
  for (std::uint32_t i = 1; i < 100; ++i) e.emplace_back(i / 2, i);
  for (std::uint32_t i = 500; i < 510; ++i) e.emplace_back(i, i + 1 == 510 ? 500 : i + 1);
  const auto g = *csr_graph::from_edges(n, e);
  graph_scratch s;
  const auto a = *check_reachable(g, 0, s);
  CHECK(a.acyclic);
  CHECK(a.visited == 100);
  const auto b = *check_reachable(g, 505, s);
  CHECK_FALSE(b.acyclic);
  CHECK(b.visited == 10);
  require_real_cycle(g, b.witness);
  CHECK_FALSE(check_acyclic(g).acyclic);
}

TEST_CASE("03 graph: API errors are typed and change nothing", "[suite03]") {
  page_graph<> g;
  REQUIRE(g.add_page(pid(1)));
  REQUIRE(g.add_page(pid(2)));
  CHECK(g.add_page(pid(1)).error().code == errc::duplicate_id);
  CHECK(g.add_edge({pid(1), pid(9)}).error().code == errc::not_found);
  std::vector<page_id> w;
  CHECK(g.add_edge({pid(1), pid(1)}, &w).error().code == errc::cycle);
  CHECK(w == std::vector<page_id>{pid(1)});
  REQUIRE(g.add_edge({pid(1), pid(2), edge_kind::control, 3.5}));
  CHECK(g.add_edge({pid(1), pid(2)}).error().code == errc::duplicate_id);
  CHECK(g.edge(pid(1), pid(2))->weight == 3.5);
  CHECK(g.edge(pid(1), pid(2))->kind == edge_kind::control);
  CHECK(*g.is_source(pid(1)));
  CHECK_FALSE(*g.is_source(pid(2)));
  CHECK(g.remove_edge(pid(2), pid(1)).error().code == errc::not_found);
  graph_edit<double> bad;
  bad.remove_edge(pid(2), pid(1));
  CHECK(g.commit(bad).err.code == errc::not_found);
  CHECK(g.edges() == 1);
  REQUIRE(g.remove_page(pid(2)));
  CHECK(g.edges() == 0);
  CHECK(g.pages() == 1);
  REQUIRE(g.check_invariants());
  REQUIRE(g.add_page(pid(3)));  // reuses the freed node
  REQUIRE(g.add_edge({pid(3), pid(1)}));
  REQUIRE(g.check_invariants());
  CHECK(csr_graph::from_edges(2, edge_list{{0, 2}}).error().code == errc::out_of_range);
}

// The engine-level suite (tests/support/engine_suites.hpp), over both engines.
TEMPLATE_TEST_CASE("03 graph: over any engine, edits follow an oracle and a cycle is rejected whole", "[suite03][any_engine]", tt::any_reference, tt::any_plain) {
  tt::suite03_graph_over_engine<TestType>();
}
