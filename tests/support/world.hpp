// A small driven workload for the engine suites (04, 09, 10): pages of `elements` doubles, the
// first `sources` ranks without parents, every other rank with parents among the `window` ranks
// before it; per tick, deltas to sources (and bad ones: to a derived page, and one
// late), and edge edits that keep every derived page derived. Everything is drawn from the
// world's own generator, so the same world drives every engine the same way.
#pragma once

#include <tickflow/engine/engine.hpp>
#include <tickflow/validate/inspect.hpp>

#include <cstdint>
#include <cstring>
#include <random>
#include <utility>
#include <vector>

#include "support/deltas.hpp"

namespace tickflow::test {

struct world_options {
  std::size_t pages = 400;
  std::size_t sources = 60;
  std::size_t parents = 3;         ///< per derived page at the build
  std::size_t window = 64;         ///< parents are drawn from this many ranks before the child
  std::uint32_t elements = 8;      ///< doubles per page
  std::size_t deltas = 40;         ///< per tick
  std::size_t edits = 4;           ///< edge insertions (and as many removals) per tick
  bool bad_deltas = true;          ///< add a delta to a derived page and a late one per tick
  double weight_lo = 0.1, weight_hi = 0.5;
  bool non_negative = false;       ///< delta values in [0, 125] instead of [-125, 125]
  std::uint64_t seed = 42;
};

class world {
 public:
  explicit world(world_options o = {}) : o_(o), rng_(o.seed) {}

  /// Creates the pages and edges in `e` and steps once (the edges are committed then).
  template <class E>
  void build(E& e) {
    for (std::size_t r = 0; r < o_.pages; ++r) ids_.push_back(*e.create_page(8 * o_.elements));
    graph_edit<typename E::weight_type> edit;
    parents_.assign(o_.pages, {});
    for (std::size_t c = o_.sources; c < o_.pages; ++c) {
      for (std::size_t k = 0; k < o_.parents; ++k) {
        const std::size_t lo = c > o_.window ? c - o_.window : 0;
        const std::size_t p = lo + rng_() % (c - lo);
        if (has(p, c)) continue;
        parents_[c].push_back(p);
        edit.add_edge({ids_[p], ids_[c], edge_kind::data, weight()});
      }
    }
    (void)e.edit_graph(edit);
    (void)e.step();
  }

  /// Tick t's input: deltas to sources (epoch: the engine's next), bad ones, and edits.
  template <class E, class Submit>
  void drive(E& e, Submit&& submit) {
    const epoch at{e.current_epoch().value() + 1};
    for (std::size_t k = 0; k < o_.deltas; ++k) {
      const std::size_t s = rng_() % o_.sources;
      const std::uint32_t el = static_cast<std::uint32_t>(rng_() % o_.elements);
      const double v = o_.non_negative ? static_cast<double>(rng_() % 1001) / 8.0
                                       : static_cast<double>(static_cast<std::int64_t>(rng_() % 2001) - 1000) / 8.0;
      (void)submit(element_delta(ids_[s], at, next_id_++, v, el));
    }
    if (o_.bad_deltas) {
      const std::size_t d = o_.sources + rng_() % (o_.pages - o_.sources);
      (void)submit(element_delta(ids_[d], at, next_id_++, 1.0, 0));                    // a derived page
      (void)submit(element_delta(ids_[0], epoch{at.value() - 2}, next_id_++, 2.0, 0));  // late (at >= 2 after build)
    }
    graph_edit<typename E::weight_type> edit;
    for (std::size_t k = 0; k < o_.edits; ++k) {
      // Remove a parent from a page that keeps one; add one within the window.
      const std::size_t c = o_.sources + rng_() % (o_.pages - o_.sources);
      if (parents_[c].size() >= 2) {
        const std::size_t i = rng_() % parents_[c].size();
        edit.remove_edge(ids_[parents_[c][i]], ids_[c]);
        parents_[c].erase(parents_[c].begin() + static_cast<std::ptrdiff_t>(i));
      }
      const std::size_t lo = c > o_.window ? c - o_.window : 0;
      const std::size_t p = lo + rng_() % (c - lo);
      if (!has(p, c)) {
        parents_[c].push_back(p);
        edit.add_edge({ids_[p], ids_[c], edge_kind::data, weight()});
      }
    }
    if (!edit.empty()) (void)e.edit_graph(edit);
  }
  template <class E>
  void drive(E& e) {
    drive(e, [&](const delta& d) { return e.submit(d); });
  }

  [[nodiscard]] const std::vector<page_id>& ids() const noexcept { return ids_; }
  [[nodiscard]] page_id id(std::size_t rank) const noexcept { return ids_[rank]; }
  [[nodiscard]] const world_options& options() const noexcept { return o_; }
  [[nodiscard]] bool is_source(std::size_t rank) const noexcept { return rank < o_.sources; }

 private:
  bool has(std::size_t p, std::size_t c) const {
    for (std::size_t q : parents_[c])
      if (q == p) return true;
    return false;
  }
  double weight() { return o_.weight_lo + (o_.weight_hi - o_.weight_lo) * static_cast<double>(rng_() >> 11) * 0x1.0p-53; }

  world_options o_;
  std::mt19937_64 rng_;
  std::vector<page_id> ids_;
  std::vector<std::vector<std::size_t>> parents_;
  std::uint64_t next_id_ = 1;
};

}  // namespace tickflow::test
