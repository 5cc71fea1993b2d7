// The propagation oracle the engine tests compare with: a full sequential recompute of every
// derived page in topological order, parents by page id.
#pragma once

#include <tickflow/engine/propagate.hpp>

#include <algorithm>
#include <cstring>
#include <memory>
#include <span>
#include <vector>

namespace tickflow::test {

// The oracle: every derived page recomputed in topological order, parents by page id; a page
// whose bits change is written and takes `at`.
template <class T, class W, class Kernel>
void oracle(page_store& store, const page_graph<W>& g, const std::vector<page_id>& pages, epoch at, const Kernel& k) {
  std::vector<page_id> topo = pages;
  std::sort(topo.begin(), topo.end(), [&](page_id a, page_id b) { return g.position(*g.node(a)) < g.position(*g.node(b)); });
  for (page_id c : topo) {
    std::vector<page_id> parents;
    g.for_each_parent(c, [&](page_id p) { parents.push_back(p); });
    if (parents.empty()) continue;
    std::sort(parents.begin(), parents.end());
    std::vector<const T*> values;
    std::unique_ptr<W[]> weights = std::make_unique<W[]>(parents.size());
    std::vector<edge_kind> kinds;
    for (std::size_t i = 0; i < parents.size(); ++i) {
      values.push_back(reinterpret_cast<const T*>(store.handle(parents[i]).data));
      const auto e = *g.edge(parents[i], c);
      weights[i] = e.weight;
      kinds.push_back(e.kind);
    }
    const auto h = store.handle(c);
    std::vector<std::byte> out(h.bytes);
    k(std::span<T>(reinterpret_cast<T*>(out.data()), h.bytes / sizeof(T)),
      parent_inputs<T, W>{values, std::span<const W>(weights.get(), parents.size()), kinds});
    if (std::memcmp(out.data(), h.data, h.bytes) != 0) {
      std::memcpy(h.data, out.data(), h.bytes);
      *h.at = at;
    }
  }
}

}  // namespace tickflow::test
