/// @file
/// tickflow/validate/integrity.hpp — checking a stream of deltas against a page store, without
/// applying them.
///
/// Contract
///   * An integrity_checker is bound to a page store's state (pages, sizes, epochs) and, if given,
///     to the page graph (which pages are derived) at construction or rebind(); later changes to
///     the store or the graph are not seen until the next rebind().
///   * check(batch) / check(delta) feed deltas in log order; each delta gets a running index (0,
///     1, ... across calls). Every violation is reported, each with the delta's index and kind:
///       ill_formed      the delta's shape (check_shape: window length, mask words, stray mask
///                       bits, kind, payload length); detail: the errc of check_shape
///       orphan_page     the page is not alive in the store
///       window_out_of_range  offset + length is past the page's size
///       derived_target  the page has parents in the graph (deltas may target sources only)
///       epoch_regression the epoch is below the page's epoch as the earlier valid deltas of the
///                       stream leave it (a rejected delta, one with any violation, does not move
///                       it)
///       duplicate_delta_id  the id was already used by an earlier delta of the stream (valid or
///                       not)
///     A delta can have several violations; ill-formed and orphan deltas are not checked further.
///   * A violation's detail: ill_formed: the errc of check_shape; epoch_regression: the page's
///     running epoch; duplicate_delta_id: the delta id; every other kind: the page id.
///   * The report holds the violations (in stream order, up to `max_recorded`; counts are always
///     exact), the count per kind, and the number of deltas checked. It does no I/O.
///   * Cost: one random access per delta into a 16-byte-per-page table built at bind time
///     (prefetched ahead in batches), sequential column reads, and duplicate detection that costs
///     O(1) per delta while ids keep increasing (a sorted record of every id seen, 8 bytes per
///     delta; an id below the largest seen is looked up by binary search).
///
/// Thread-safety: a checker is used by one thread at a time.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "tickflow/columnar/delta_batch.hpp"
#include "tickflow/core/ids.hpp"
#include "tickflow/core/result.hpp"
#include "tickflow/graph/page_graph.hpp"
#include "tickflow/page/delta.hpp"
#include "tickflow/page/page_store.hpp"

namespace tickflow {

/// The kinds of violation an integrity check reports.
enum class violation_kind : std::uint8_t {
  ill_formed = 0,
  orphan_page = 1,
  window_out_of_range = 2,
  derived_target = 3,
  epoch_regression = 4,
  duplicate_delta_id = 5,
};
/// The number of violation kinds.
inline constexpr std::size_t violation_kinds = 6;

/// One delta that failed a check.
struct violation {
  std::uint64_t index;  ///< position of the delta in the checked stream
  violation_kind kind;  ///< what it broke
  std::uint64_t detail;  ///< ill_formed: the errc; epoch_regression: the page's epoch; duplicate_delta_id: the delta id; else the page id
  /// Violations compare field by field.
  friend bool operator==(const violation&, const violation&) = default;
};

/// What an integrity check found.
struct integrity_report {
  std::vector<violation> violations;  ///< in stream order, at most max_recorded
  std::array<std::uint64_t, violation_kinds> counts{};  ///< violations found, per kind
  std::uint64_t checked = 0;  ///< deltas checked
  /// Violations found, of every kind.
  [[nodiscard]] std::uint64_t total() const noexcept {
    std::uint64_t t = 0;
    for (auto c : counts) t += c;
    return t;
  }
  /// Violations of kind `k`.
  [[nodiscard]] std::uint64_t count(violation_kind k) const noexcept { return counts[static_cast<std::size_t>(k)]; }
};

/// Checks a stream of deltas against a page store (and graph) without applying them, recording every violation by kind (see the file contract).
class integrity_checker {
 public:
  std::size_t max_recorded = 1 << 20;  ///< violations kept in the report (the counts go on)

  /// Bound to `store`; every page is a source.
  explicit integrity_checker(const page_store& store) { rebind(store); }
  /// Bound to `store` and `graph`: a page with parents is derived and may not be a delta's target.
  template <class W>
  integrity_checker(const page_store& store, const page_graph<W>& graph) {
    rebind(store, graph);
  }

  /// Binds to the current state of `store` (no graph: every page is a source); forgets the stream.
  void rebind(const page_store& store) {
    pages_.assign(store.entries_.size(), page_state{});
    bound_.assign(store.entries_.size(), 0);
    for (std::size_t i = 0; i < store.entries_.size(); ++i) bound_[i] = store.entries_[i].at.value();
    for (std::size_t i = 0; i < store.entries_.size(); ++i) {
      const auto& e = store.entries_[i];
      if (e.live) pages_[i] = page_state{store.generations_[i], e.bytes, e.at.value(), 0};
    }
    reset();
  }
  /// Binds to the current state of `store` and `graph`; forgets the stream.
  template <class W>
  void rebind(const page_store& store, const page_graph<W>& graph) {
    rebind(store);
    for (std::size_t i = 0; i < pages_.size(); ++i) {
      if (pages_[i].generation == 0) continue;
      const page_id id{(std::uint64_t{i} << 32) | pages_[i].generation};
      const auto src = graph.is_source(id);
      if (src && !*src) pages_[i].derived = 1;
    }
  }

  /// Forgets the stream (indices restart at 0, epochs back to the bound state, ids forgotten).
  void reset() {
    for (std::size_t i = 0; i < pages_.size(); ++i) pages_[i].running = bound_[i];
    report_ = integrity_report{};
    ids_.clear();
    runs_.clear();
    max_id_ = 0;
    any_id_ = false;
  }

  /// Checks one delta, the next in the stream.
  void check(const delta& d) {
    check_one(d.page.value(), d.at.value(), d.id.value(), d.offset, d.length,
              check_shape(d.offset, d.length, d.kind, d.mask, d.payload.size()));
  }
  /// Checks deltas in order.
  void check(std::span<const delta> ds) {
    for (const auto& d : ds) check(d);
  }
  /// Checks a batch's rows in order.
  void check(const delta_batch& batch) {
    const std::size_t n = batch.size();
    const auto pages = batch.pages();
    const auto epochs = batch.epochs();
    const auto ids = batch.ids();
    const auto offsets = batch.offsets();
    const auto lengths = batch.lengths();
    if (ids_.capacity() - ids_.size() < n) ids_.reserve(std::max(ids_.size() + n, 2 * ids_.capacity()));  // geometric
    for (std::size_t i = 0; i < n; ++i) {
      if (i + prefetch_distance < n) {
        const std::uint64_t ahead = pages[i + prefetch_distance] >> 32;
        if (ahead < pages_.size()) __builtin_prefetch(&pages_[ahead], 1, 3);
      }
      // The batch checked every row's shape as it was appended; only rows from the first
      // ill-formed one on need their shape checked again.
      result<void> shape{};
      if (i >= batch.first_ill_formed()) {
        const delta_row r = batch.row(i);
        shape = check_shape(r.offset, r.length, r.kind, r.mask, r.payload.size());
      }
      check_one(pages[i], epochs[i], ids[i], offsets[i], lengths[i], shape);
    }
  }

  /// What the checks found so far.
  [[nodiscard]] const integrity_report& report() const noexcept { return report_; }

 private:
  static constexpr std::size_t prefetch_distance = 32;

  struct page_state {
    std::uint32_t generation = 0;  // 0: no live page at this index
    std::uint32_t bytes = 0;
    std::uint32_t running = 0;     // the page's epoch as the stream so far leaves it
    std::uint32_t derived = 0;     // 1: has parents in the bound graph
  };
  static_assert(sizeof(page_state) == 16);

  void add(std::uint64_t index, violation_kind kind, std::uint64_t detail) {
    ++report_.counts[static_cast<std::size_t>(kind)];
    if (report_.violations.size() < max_recorded) report_.violations.push_back({index, kind, detail});
  }

  void check_one(std::uint64_t page, std::uint32_t at, std::uint64_t id, std::uint32_t offset, std::uint32_t length,
                 const result<void>& shape) {
    const std::uint64_t index = report_.checked++;
    const bool unique = note_id(index, id);
    if (!shape) {
      add(index, violation_kind::ill_formed, static_cast<std::uint64_t>(shape.error().code));
      return;
    }
    const std::uint64_t slot = page >> 32;
    const auto gen = static_cast<std::uint32_t>(page);
    if (slot >= pages_.size() || gen == 0 || pages_[slot].generation != gen) {
      add(index, violation_kind::orphan_page, page);
      return;
    }
    page_state& p = pages_[slot];
    bool ok = true;
    if (std::uint64_t{offset} + length > p.bytes) {
      add(index, violation_kind::window_out_of_range, page);
      ok = false;
    }
    if (p.derived != 0) {
      add(index, violation_kind::derived_target, page);
      ok = false;
    }
    if (at < p.running) {
      add(index, violation_kind::epoch_regression, p.running);
      ok = false;
    }
    if (ok && unique) p.running = at;
  }

  // Every id seen, as sorted runs: the last run grows while ids increase; an id at or below the
  // largest seen is searched for in every run, then starts a new run (runs merge when many).
  // False (and a duplicate_delta_id violation) if the id was seen before.
  bool note_id(std::uint64_t index, std::uint64_t id) {
    if (!any_id_ || id > max_id_) {
      if (runs_.empty()) runs_.push_back(0);
      ids_.push_back(id);
      max_id_ = id;
      any_id_ = true;
      return true;
    }
    for (std::size_t r = 0; r < runs_.size(); ++r) {
      const auto first = ids_.begin() + static_cast<std::ptrdiff_t>(runs_[r]);
      const auto last = r + 1 < runs_.size() ? ids_.begin() + static_cast<std::ptrdiff_t>(runs_[r + 1]) : ids_.end();
      if (std::binary_search(first, last, id)) {
        add(index, violation_kind::duplicate_delta_id, id);
        return false;
      }
    }
    runs_.push_back(ids_.size());
    ids_.push_back(id);
    // Later ids join this run only if above max_id_, the largest of all, so runs stay sorted.
    if (runs_.size() > 16) {
      std::sort(ids_.begin(), ids_.end());
      runs_.assign(1, 0);
    }
    return true;
  }

  std::vector<page_state> pages_;
  std::vector<std::uint32_t> bound_;  // each page's epoch at bind time
  integrity_report report_;
  std::vector<std::uint64_t> ids_;
  std::vector<std::size_t> runs_;  // start of each sorted run in ids_
  std::uint64_t max_id_ = 0;
  bool any_id_ = false;
};

}  // namespace tickflow
