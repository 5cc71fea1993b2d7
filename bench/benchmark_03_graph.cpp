// Suite 03 (graph), performance: full cycle check ns/edge against boost::strong_components,
// incremental edge insertion µs/edge against abseil's GraphCycles, per-page validation latency.
//
// Budgets (DESIGN.md §3, suite 03):
//   graph.validate_vs_boost      time of check_acyclic / time of boost::strong_components on the
//                                1M-node, 4M-edge DAG (both on prebuilt structures), <= 0.5
//   graph.incremental_insert_us  page_graph::add_edge while building a 100k-node, 400k-edge DAG, <= 1
//   graph.per_page_validate_ms   page_graph::validate_from on a 1M-node graph, for a page whose
//                                reachable set is <= 10k pages, < 1
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <tickflow/graph/csr.hpp>
#include <tickflow/graph/page_graph.hpp>

#if __has_include(<boost/graph/adjacency_list.hpp>) && __has_include(<boost/graph/strong_components.hpp>)
#  include <boost/graph/adjacency_list.hpp>
#  include <boost/graph/strong_components.hpp>
#  define TF_HAVE_BOOST_GRAPH 1
#endif
#if defined(TF_HAVE_ABSL_GRAPHCYCLES)
#  include <absl/synchronization/internal/graphcycles.h>
#endif

#include "support/harness.hpp"

namespace {

using namespace tickflow;
namespace tb = tickflow::bench;
using edge_list = std::vector<std::pair<std::uint32_t, std::uint32_t>>;

enum class shape { dag, dag_back, cyclic, chain };
const char* name_of(shape s) {
  switch (s) {
    case shape::dag: return "dag";
    case shape::dag_back: return "dag_10_back_edges";
    case shape::cyclic: return "random_cyclic";
    case shape::chain: return "chain";
  }
  return "?";
}

// n nodes, average out-degree 4 (the chain: 1). DAG edges follow a hidden random order; the
// cyclic graph's edges have random direction; dag_back adds 10 edges that each close a cycle.
// Distinct edges, no self-loops.
edge_list make_edges(shape s, std::uint32_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  edge_list e;
  if (s == shape::chain) {
    for (std::uint32_t i = 0; i + 1 < n; ++i) e.emplace_back(i, i + 1);
    return e;
  }
  std::vector<std::uint32_t> rank(n);
  std::iota(rank.begin(), rank.end(), 0u);
  std::shuffle(rank.begin(), rank.end(), rng);
  const std::size_t m = 4 * std::size_t{n};
  e.reserve(m + 16);
  while (e.size() < m) {
    auto a = static_cast<std::uint32_t>(rng() % n), b = static_cast<std::uint32_t>(rng() % n);
    if (a == b) continue;
    if (s != shape::cyclic && rank[a] > rank[b]) std::swap(a, b);
    e.emplace_back(a, b);
  }
  std::sort(e.begin(), e.end());
  e.erase(std::unique(e.begin(), e.end()), e.end());
  if (s == shape::dag_back) {
    // Each back edge closes a cycle: walk forward from a random node, then link the end back.
    const auto dag = *csr_graph::from_edges(n, e);
    for (int added = 0; added < 10;) {
      const auto start = static_cast<std::uint32_t>(rng() % n);
      std::uint32_t at = start;
      for (int step = 0; step < 20 && !dag.children(at).empty(); ++step)
        at = dag.children(at)[rng() % dag.children(at).size()];
      if (at == start) continue;
      e.emplace_back(at, start);
      ++added;
    }
  }
  std::shuffle(e.begin(), e.end(), rng);
  return e;
}

struct prepared {
  edge_list edges;
  csr_graph csr;
#if defined(TF_HAVE_BOOST_GRAPH)
  using boost_graph_type = boost::adjacency_list<boost::vecS, boost::vecS, boost::directedS>;
  std::unique_ptr<boost_graph_type> boost_graph;
#endif
  bool acyclic = true;  // the answer both must give
};

std::shared_ptr<prepared> prepare(shape s, std::uint32_t n) {
  static std::map<std::pair<int, std::uint32_t>, std::shared_ptr<prepared>> cache;
  auto& slot = cache[{static_cast<int>(s), n}];
  if (slot) return slot;
  slot = std::make_shared<prepared>();
  slot->edges = make_edges(s, n, 42 + n);
  slot->csr = *csr_graph::from_edges(n, slot->edges);
#if defined(TF_HAVE_BOOST_GRAPH)
  slot->boost_graph = std::make_unique<prepared::boost_graph_type>(n);
  for (const auto& [a, b] : slot->edges) boost::add_edge(a, b, *slot->boost_graph);
#endif
  slot->acyclic = s == shape::dag || s == shape::chain;
  return slot;
}

void bm_validate_tickflow(benchmark::State& state, shape s, std::uint32_t n) {
  const auto g = prepare(s, n);
  graph_scratch scratch;
  for (auto _ : state) {
    const auto rep = check_acyclic(g->csr, acyclic_options{}, scratch);
    if (rep.acyclic != g->acyclic) {
      state.SkipWithError("wrong answer");
      return;
    }
    benchmark::DoNotOptimize(rep.witness.data());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * g->edges.size()));
}

#if defined(TF_HAVE_BOOST_GRAPH)
void bm_validate_boost(benchmark::State& state, shape s, std::uint32_t n) {
  const auto g = prepare(s, n);
  std::vector<int> component(n);
  for (auto _ : state) {
    const int count = boost::strong_components(
        *g->boost_graph, boost::make_iterator_property_map(component.begin(), boost::get(boost::vertex_index, *g->boost_graph)));
    // Acyclic iff every component is one node (the generated graphs have no self-loops).
    if ((static_cast<std::uint32_t>(count) == n) != g->acyclic) {
      state.SkipWithError("wrong answer");
      return;
    }
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * g->edges.size()));
}
#endif

// Incremental insertion: 100k pages, 400k DAG edges inserted in random order, each checked.
constexpr std::uint32_t inc_nodes = 100'000;
const edge_list& inc_edges() {
  static const edge_list e = make_edges(shape::dag, inc_nodes, 7);
  return e;
}
page_id pid(std::uint32_t i) { return page_id{(std::uint64_t{i} << 32) | 1}; }

void bm_insert_tickflow(benchmark::State& state) {
  const auto& edges = inc_edges();
  for (auto _ : state) {
    page_graph<> g;
    for (std::uint32_t i = 0; i < inc_nodes; ++i) (void)g.add_page(pid(i));
    const auto t0 = std::chrono::steady_clock::now();
    for (const auto& [a, b] : edges)
      if (!g.add_edge({pid(a), pid(b)})) {
        state.SkipWithError("insertion rejected");
        return;
      }
    state.SetIterationTime(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * edges.size()));
}

// Insertion at high out-degree: one parent gains 40k children, each edge following the order
// (the O(1) case of Pearce–Kelly); the duplicate check must not scan the parent's children.
void bm_insert_star(benchmark::State& state) {
  constexpr std::uint32_t leaves = 40'000;
  for (auto _ : state) {
    page_graph<> g;
    for (std::uint32_t i = 0; i <= leaves; ++i) (void)g.add_page(pid(i));
    const auto t0 = std::chrono::steady_clock::now();
    for (std::uint32_t i = 1; i <= leaves; ++i)
      if (!g.add_edge({pid(0), pid(i)})) {
        state.SkipWithError("insertion rejected");
        return;
      }
    state.SetIterationTime(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * leaves));
}

#if defined(TF_HAVE_ABSL_GRAPHCYCLES)
void bm_insert_abseil(benchmark::State& state) {
  const auto& edges = inc_edges();
  std::vector<char> nodes(inc_nodes);
  for (auto _ : state) {
    absl::synchronization_internal::GraphCycles g;
    std::vector<absl::synchronization_internal::GraphId> id(inc_nodes);
    for (std::uint32_t i = 0; i < inc_nodes; ++i) id[i] = g.GetId(&nodes[i]);
    const auto t0 = std::chrono::steady_clock::now();
    for (const auto& [a, b] : edges)
      if (!g.InsertEdge(id[a], id[b])) {
        state.SkipWithError("insertion rejected");
        return;
      }
    state.SetIterationTime(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * edges.size()));
}
#endif

// Per-page validation: 100 blocks of 10k pages, each a random DAG of average out-degree 4, in
// one page_graph of 1M pages; validate_from the first page (in order) of a block.
struct blocks_graph {
  page_graph<> g;
  std::vector<page_id> starts;
};
blocks_graph& per_page_graph() {
  static blocks_graph b = [] {
    blocks_graph out;
    constexpr std::uint32_t blocks = 100, size = 10'000;
    for (std::uint32_t i = 0; i < blocks * size; ++i) (void)out.g.add_page(pid(i));
    std::mt19937_64 rng(11);
    for (std::uint32_t k = 0; k < blocks; ++k) {
      // Within a block, node order is the hidden order; edges go forward.
      for (std::uint32_t e = 0; e < 4 * size; ++e) {
        std::uint32_t a = static_cast<std::uint32_t>(rng() % size), c = static_cast<std::uint32_t>(rng() % size);
        if (a == c) continue;
        if (a > c) std::swap(a, c);
        (void)out.g.add_edge({pid(k * size + a), pid(k * size + c)});
      }
      out.starts.push_back(pid(k * size));
    }
    return out;
  }();
  return b;
}

std::size_t per_page_visited = 0;
void bm_validate_from(benchmark::State& state) {
  auto& b = per_page_graph();
  std::size_t k = 0;
  for (auto _ : state) {
    const auto r = b.g.validate_from(b.starts[k++ % b.starts.size()]);
    if (!r || !r->acyclic || r->visited > 10'000) {
      state.SkipWithError("unexpected per-page result");
      return;
    }
    per_page_visited = std::max(per_page_visited, r->visited);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const std::uint32_t sizes[] = {10'000, 100'000, 1'000'000};
  for (shape s : {shape::dag, shape::dag_back, shape::cyclic, shape::chain})
    for (std::uint32_t n : sizes) {
      const std::string suffix = std::string(name_of(s)) + "/" + std::to_string(n);
      benchmark::RegisterBenchmark(("validate/tickflow/" + suffix).c_str(), bm_validate_tickflow, s, n)->Unit(benchmark::kMillisecond);
#if defined(TF_HAVE_BOOST_GRAPH)
      benchmark::RegisterBenchmark(("validate/boost_scc/" + suffix).c_str(), bm_validate_boost, s, n)->Unit(benchmark::kMillisecond);
#endif
    }
  benchmark::RegisterBenchmark("insert/tickflow_page_graph", bm_insert_tickflow)->UseManualTime()->Iterations(1)->Unit(benchmark::kMillisecond);
#if defined(TF_HAVE_ABSL_GRAPHCYCLES)
  benchmark::RegisterBenchmark("insert/abseil_graphcycles", bm_insert_abseil)->UseManualTime()->Iterations(1)->Unit(benchmark::kMillisecond);
#endif
  benchmark::RegisterBenchmark("validate_from/1M_pages_10k_reachable", bm_validate_from)->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark("insert/tickflow_star_40k", bm_insert_star)->UseManualTime()->Iterations(1)->Unit(benchmark::kMillisecond);

  tb::median_collector c;
  tb::run_and_collect(argc, argv, c);
  std::printf("\n");
  const auto rate = [&](const std::string& name) -> std::optional<double> {
    const auto m = c.get(name);
    if (!m || m->items_per_second <= 0) return std::nullopt;
    return m->items_per_second;
  };
  for (shape s : {shape::dag, shape::dag_back, shape::cyclic, shape::chain})
    for (std::uint32_t n : sizes) {
      const std::string suffix = std::string(name_of(s)) + "/" + std::to_string(n);
      const auto ours = rate("validate/tickflow/" + suffix), boost = rate("validate/boost_scc/" + suffix);
      std::printf("# validate %-24s tickflow %7.2f ns/edge", suffix.c_str(), ours ? 1e9 / *ours : 0.0);
      if (boost) std::printf("   boost strong_components %7.2f ns/edge   time ratio %.3f", 1e9 / *boost, *boost / *ours);
      std::printf("\n");
    }
  const auto ours_1m = rate("validate/tickflow/dag/1000000"), boost_1m = rate("validate/boost_scc/dag/1000000");
  tb::print_budget("graph.validate_vs_boost", ours_1m && boost_1m ? std::optional<double>(*boost_1m / *ours_1m) : std::nullopt,
                   "ratio", tb::goal_op::at_most, 0.5, "Boost.Graph not installed (libboost-graph-dev)");
  const auto ins = rate("insert/tickflow_page_graph"), absl_ins = rate("insert/abseil_graphcycles");
  if (ins && absl_ins)
    std::printf("# insert: tickflow %.3f us/edge, abseil GraphCycles %.3f us/edge, time ratio %.3f\n", 1e6 / *ins,
                1e6 / *absl_ins, *absl_ins / *ins);
  else
    std::printf("# insert: abseil GraphCycles not compiled in (libabsl-dev)\n");
  if (const auto star = rate("insert/tickflow_star_40k"))
    std::printf("# insert at out-degree up to 40k (one parent, 40k children): %.3f us/edge\n", 1e6 / *star);
  tb::print_budget("graph.incremental_insert_us", ins ? std::optional<double>(1e6 / *ins) : std::nullopt, "us",
                   tb::goal_op::at_most, 1.0);
  const auto pp = c.get("validate_from/1M_pages_10k_reachable");
  std::printf("# validate_from: largest reachable set %zu pages\n", per_page_visited);
  tb::print_budget("graph.per_page_validate_ms", pp ? std::optional<double>(pp->real_time / 1000.0) : std::nullopt, "ms",
                   tb::goal_op::below, 1.0);
  return c.errors().empty() ? 0 : 1;
}
