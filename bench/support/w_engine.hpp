// Workload W's (or W-local's) graph in an engine (DESIGN.md §3): 1M pages of 64 B created in id
// order, ranks a random permutation of them, 4M edges between ranks (engine_workload_edges), one
// edit holding them all, then `steps` steps (the first commits the edit, the second plans the
// propagation and lays the store out in topological order).
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <random>
#include <vector>

#include <tickflow/engine/engine.hpp>

#include "support/workload.hpp"

namespace tickflow::bench {

template <class E>
struct w_engine {
  std::unique_ptr<E> engine;
  std::vector<page_id> by_rank;
  std::vector<std::uint8_t> is_source;  // by rank: no edge into it
};

/// Builds W (local = false) or W-local; `weight(rng)` draws each edge's weight in edge order.
template <class E, class Weight>
w_engine<E> build_w_engine(bool local, std::mt19937_64& rng, const engine_options& eo, Weight&& weight, int steps = 2) {
  constexpr std::size_t pages = 1'000'000, edges = 4'000'000;
  w_engine<E> out;
  out.engine = std::make_unique<E>(eo, 2);
  std::vector<page_id> ids;
  ids.reserve(pages);
  for (std::size_t i = 0; i < pages; ++i) ids.push_back(*out.engine->create_page(64));
  std::vector<std::uint32_t> perm(pages);
  for (std::uint32_t i = 0; i < pages; ++i) perm[i] = i;
  std::shuffle(perm.begin(), perm.end(), rng);
  out.by_rank.resize(pages);
  for (std::size_t r = 0; r < pages; ++r) out.by_rank[r] = ids[perm[r]];
  out.is_source.assign(pages, 1);
  graph_edit<double> edit;
  for (const std::uint64_t k : engine_workload_edges(local, pages, edges, rng)) {
    edit.add_edge({out.by_rank[k >> 32], out.by_rank[k & 0xFFFFFFFFU], edge_kind::data, weight(rng)});
    out.is_source[k & 0xFFFFFFFFU] = 0;
  }
  if (!out.engine->edit_graph(edit)) std::abort();
  for (int s = 0; s < steps; ++s)
    if (!out.engine->step().graph.ok()) std::abort();
  return out;
}

}  // namespace tickflow::bench
