// The delta streams the suites' benchmarks feed: dense 64-byte deltas over a set of pages,
// uniformly random page, ids 1, 2, ..., epochs rising every 4096 deltas.
#pragma once

#include <cstdint>
#include <cstring>
#include <algorithm>
#include <random>
#include <vector>

#include <tickflow/core/ids.hpp>
#include <tickflow/page/delta.hpp>

namespace tickflow::bench {

/// Calls f(delta) for `count` deltas (the same delta object, rewritten each time).
template <class F>
void for_each_dense64(const std::vector<page_id>& pages, std::size_t count, std::uint64_t seed, F&& f) {
  std::mt19937_64 rng(seed);
  delta d;
  d.offset = 0;
  d.length = 64;
  d.kind = delta_kind::dense;
  d.mask.assign(1, ~std::uint64_t{0});
  d.payload.resize(64);
  for (std::size_t i = 0; i < count; ++i) {
    d.page = pages[rng() % pages.size()];
    d.at = epoch{static_cast<std::uint32_t>(1 + i / 4096)};
    d.id = delta_id{i + 1};
    for (std::size_t k = 0; k < 64; k += 8) {
      const std::uint64_t v = rng();
      std::memcpy(d.payload.data() + k, &v, 8);
    }
    f(static_cast<const delta&>(d));
  }
}

/// One edge of workload W or W-local (DESIGN.md §3) over `pages` ranks, as (parent rank << 32) |
/// child rank. W: two distinct ranks drawn uniformly, lower to higher. W-local: the parent drawn
/// uniformly from the `window` ranks before the child.
inline std::uint64_t draw_workload_edge(bool local, std::size_t pages, std::mt19937_64& rng, std::size_t window = 4096) {
  for (;;) {
    std::size_t a, b;
    if (local) {
      b = 1 + rng() % (pages - 1);
      a = b - 1 - rng() % std::min(window, b);
    } else {
      a = rng() % pages;
      b = rng() % pages;
      if (a == b) continue;
      if (a > b) std::swap(a, b);
    }
    return (std::uint64_t{a} << 32) | b;
  }
}

/// `edges` distinct edges of W or W-local (draw_workload_edge), in random order.
inline std::vector<std::uint64_t> engine_workload_edges(bool local, std::size_t pages, std::size_t edges, std::mt19937_64& rng,
                                                        std::size_t window = 4096) {
  std::vector<std::uint64_t> keys;
  keys.reserve(edges + edges / 16);
  while (keys.size() < edges + edges / 16) keys.push_back(draw_workload_edge(local, pages, rng, window));
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  std::shuffle(keys.begin(), keys.end(), rng);
  keys.resize(edges);  // W draws ~4.25M for 4M distinct; W-local's window has room for them too
  return keys;
}

}  // namespace tickflow::bench
