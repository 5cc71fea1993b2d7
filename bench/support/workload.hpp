// The delta streams the suites' benchmarks feed: dense 64-byte deltas over a set of pages,
// uniformly random page, ids 1, 2, ..., epochs rising every 4096 deltas.
#pragma once

#include <cstdint>
#include <cstring>
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

}  // namespace tickflow::bench
