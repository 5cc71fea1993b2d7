/// @file
/// tickflow/validate/provenance.hpp — suite 10: where a value came from.
///
/// Contract
///   * `provenance_tracker<E, S>` follows one inspectable engine (validate/inspect.hpp) whose
///     derived pages are computed with semiring S (S = void: a custom kernel, or any semiring
///     treated as non-selective). It learns which delta last wrote each element of each page
///     from the engine's log (E::log_records(), page/tlog.hpp format; read incrementally at every
///     call; reference_engine keeps it unless engine_options::keep_log is false), or, for an
///     engine without a log, from note_applied(delta), note_edit(parent, child) and
///     note_released(page), which the caller makes for what the engine applied.
///   * resolve(page, element) (selective S: `selective_semiring<S>`, i.e. add(a, b) is always a or
///     b: boolean, min-plus, max-plus, bottleneck) returns the witness chain: the page, then at
///     each step the parent whose term won (the first parent, in the fixed order, whose
///     mul(weight, value) equals the page's value: the term the fold kept), down to a source
///     page, with the delta (id, epoch) that last wrote that element of the source (none if no
///     delta has since the log began). The walk stops, with a flag, at the depth limit
///     (options.max_depth edges, default 32), at a value that is the semiring's zero (no parent
///     contributes: zero_value), or at a value no parent's term equals (unexplained: an edit
///     committed by the last step reaches the values at the next one).
///   * cone(page [, element]) (any S) returns the contributing cone: every page upstream of the
///     page within options.max_depth edges, breadth first (each page once, at its least depth),
///     up to options.node_budget pages, with flags when either limit cut it short; and, for each
///     source in it, the delta that last wrote the element (or the page, without an element).
///   * trace_nonfinite(page, element) (floating-point value types): from a non-finite value,
///     follows the first parent (fixed order) whose element is non-finite, down to where it came
///     in: a source (the delta that wrote it), or a derived page whose parents are all finite
///     (the first edge whose weight is non-finite, else an overflow in the combination).
///   * Errors: an unknown or released page is errc::not_found; an element past the page's end
///     is errc::out_of_range; both before anything else is done.
///   * The cache (resolve only): the last options.cache_entries chains, least recently used
///     evicted first; a hit moves the entry to the front. An entry records the epoch of every
///     page its answer depends on (the chain's pages and every parent examined on the way: the
///     winner at a page depends on all its parents' values). A hit is served only if all those
///     epochs are unchanged (a derived page takes a new epoch exactly when its value changes),
///     except that while the engine's epoch and log length are those of the entry's last check,
///     nothing can have changed and the check is skipped. Edge edits and page releases read from
///     the log (or noted) drop every entry whose chain holds either end of the edge or the page.
///     An engine restored from a snapshot: call clear().
///   * The answers are returned by reference to the tracker's storage, valid until the next
///     call on the tracker.
///   * Allocation: the per-element writer table grows with the pages written; resolve allocates
///     on a miss (the entry); cone allocates its result and visited set.
///
/// Thread-safety: one thread at a time, between the engine's steps.
#pragma once

#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <list>
#include <optional>
#include <span>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "tickflow/core/ids.hpp"
#include "tickflow/core/result.hpp"
#include "tickflow/page/delta.hpp"
#include "tickflow/page/tlog.hpp"
#include "tickflow/semiring/builtin.hpp"
#include "tickflow/semiring/semiring.hpp"
#include "tickflow/validate/inspect.hpp"

namespace tickflow {

/// Whether S's add always returns one of its operands (the built-in boolean, min-plus, max-plus
/// and bottleneck semirings; a user semiring says so with `static constexpr bool selective = true`).
template <class S>
inline constexpr bool selective_semiring_v = [] {
  if constexpr (requires { { S::selective } -> std::convertible_to<bool>; }) return static_cast<bool>(S::selective);
  else return false;
}();
/// The built-in boolean semiring is selective.
template <>
inline constexpr bool selective_semiring_v<boolean_semiring> = true;
/// The built-in min-plus semiring is selective.
template <class T>
inline constexpr bool selective_semiring_v<min_plus_semiring<T>> = true;
/// The built-in max-plus semiring is selective.
template <class T>
inline constexpr bool selective_semiring_v<max_plus_semiring<T>> = true;
/// The built-in bottleneck semiring is selective.
template <class T>
inline constexpr bool selective_semiring_v<bottleneck_semiring<T>> = true;

template <class S>
concept selective_semiring = semiring<S> && selective_semiring_v<S>;

/// An engine whose log the tracker can read.
template <class E>
concept logging_engine = requires(const E& ce) {
  { ce.log_records() } -> std::convertible_to<std::span<const std::byte>>;
};

/// A delta, as provenance names it.
struct delta_ref {
  delta_id id{};  ///< the delta's id
  epoch at{};  ///< its epoch
  /// Delta references compare field by field.
  friend bool operator==(const delta_ref&, const delta_ref&) = default;
};

/// One step of a witness chain: a page and its epoch when resolved.
struct witness_step {
  page_id page;  ///< the page
  epoch at;  ///< the page's epoch when resolved
  /// Steps compare field by field.
  friend bool operator==(const witness_step&, const witness_step&) = default;
};

/// The witness chain of one element (resolve): the page asked, each winning parent, down to a source and its delta.
struct provenance_chain {
  std::uint32_t element = 0;  ///< the element asked
  std::vector<witness_step> steps;  ///< the page asked, then each winning parent
  bool reached_source = false;      ///< the last step is a source page
  std::optional<delta_ref> writer;  ///< the delta that last wrote the source's element
  bool depth_limited = false;       ///< the depth limit stopped the walk
  bool zero_value = false;          ///< the last page's value is the semiring's zero
  bool unexplained = false;         ///< no parent's term equals the last page's value
  /// Edges in the chain.
  [[nodiscard]] std::size_t depth() const noexcept { return steps.empty() ? 0 : steps.size() - 1; }
  /// Chains compare field by field.
  friend bool operator==(const provenance_chain&, const provenance_chain&) = default;
};

/// A page of a contributing cone and its distance from the page asked.
struct cone_page {
  page_id page;  ///< the page
  std::uint32_t depth;  ///< its distance, in edges, from the page asked
  /// Cone pages compare field by field.
  friend bool operator==(const cone_page&, const cone_page&) = default;
};

/// A source page of a cone and the delta that last wrote it (or the element asked).
struct source_writer {
  page_id page;  ///< the source page
  std::optional<delta_ref> writer;  ///< the delta that last wrote it (none if no delta has since the log began)
  /// Source writers compare field by field.
  friend bool operator==(const source_writer&, const source_writer&) = default;
};

/// The contributing cone of a page (cone): the pages upstream, breadth first, with the delta that last wrote each source.
struct provenance_cone {
  std::vector<cone_page> pages;       ///< breadth first from the page asked (depth 0)
  std::vector<source_writer> sources; ///< the sources in `pages`, in that order
  bool depth_truncated = false;       ///< a page at the depth limit had parents
  bool budget_truncated = false;      ///< the node budget stopped the walk
};

/// How a non-finite value came in.
enum class nonfinite_origin : std::uint8_t {
  none,        ///< the value asked is finite
  delta,       ///< a source page holds it: `writer` wrote it (or nothing since the log began)
  edge,        ///< `edge_parent` -> `page`'s weight is not finite
  arithmetic,  ///< every parent and weight finite: the combination overflowed
  depth_limit, ///< the walk stopped at the depth limit
};

/// Where a non-finite value came in (trace_nonfinite).
struct nonfinite_trace {
  nonfinite_origin origin = nonfinite_origin::none;  ///< how it came in
  std::vector<page_id> path;  ///< from the page asked to where the value came in
  page_id page{};             ///< where it came in
  std::optional<delta_ref> writer;  ///< for `delta`: the delta that wrote it (none if no delta has since the log began)
  page_id edge_parent{};  ///< for `edge`: the parent of the edge whose weight is not finite
};

/// Limits of a provenance_tracker's walks and cache.
struct provenance_options {
  std::uint32_t max_depth = 32;  ///< the longest walk, in edges
  std::size_t node_budget = std::size_t{1} << 22;  ///< the most pages a cone collects
  std::size_t cache_entries = 1 << 16;  ///< the most chains the resolve cache keeps
};

/// Answers where a value came from, following one engine's log (see the file contract).
template <inspectable_engine E, class S = void>
class provenance_tracker {
 public:
  /// The engine's value type.
  using T = typename E::value_type;
  /// The engine's weight type.
  using W = typename E::weight_type;

  /// Follows `e` (which must outlive the tracker) from its log's beginning.
  explicit provenance_tracker(const E& e, provenance_options o = {}) : e_(e), o_(o) {}

  // ------------------------------------------------------------------ what the engine did

  /// A delta the engine applied (engines without a log).
  void note_applied(const delta& d) {
    note_write(d.page, d.at, d.id, d.offset, d.length, [&](std::size_t w) { return d.mask[w]; });
  }
  /// An edge inserted or removed (engines without a log).
  void note_edit(page_id parent, page_id child) {
    invalidate(parent);
    invalidate(child);
  }
  /// A page released (engines without a log).
  void note_released(page_id p) {
    invalidate(p);
    writers_.erase(p.value());
  }
  /// Drops every cached chain (after the engine was restored).
  void clear() noexcept {
    lru_.clear();
    index_.clear();
    by_page_.clear();
  }

  // ------------------------------------------------------------------ questions

  /// The witness chain of element `element` of `page` (see the file contract).
  [[nodiscard]] result<const provenance_chain*> resolve(page_id page, std::uint32_t element = 0)
    requires selective_semiring<S>
  {
    sync();
    if (auto ok = check_target(page, element); !ok) return unexpected(ok.error());
    const key k{page.value(), element};
    if (o_.cache_entries != 0) {
      if (auto it = index_.find(k); it != index_.end()) {
        entry& en = *it->second;
        if (fresh(en)) {
          ++hits_;
          lru_.splice(lru_.begin(), lru_, it->second);
          return &en.chain;
        }
        erase(it->second);
      }
    }
    ++misses_;
    entry en;
    en.k = k;
    walk(page, element, en.chain, &en.deps);
    stamp(en);
    if (o_.cache_entries == 0) {
      scratch_ = std::move(en.chain);
      return &scratch_;
    }
    while (lru_.size() >= o_.cache_entries) erase(std::prev(lru_.end()));
    lru_.push_front(std::move(en));
    index_.emplace(k, lru_.begin());
    for (const witness_step& s : lru_.front().chain.steps) by_page_.emplace(s.page.value(), k);
    return &lru_.front().chain;
  }

  /// The same walk, without the cache (the oracle the tests compare the cache with).
  [[nodiscard]] result<provenance_chain> resolve_uncached(page_id page, std::uint32_t element = 0)
    requires selective_semiring<S>
  {
    sync();
    if (auto ok = check_target(page, element); !ok) return unexpected(ok.error());
    provenance_chain c;
    walk(page, element, c, nullptr);
    return c;
  }

  /// The contributing cone (see the file contract). Without an element, sources name the
  /// delta that last wrote any of their bytes.
  [[nodiscard]] result<const provenance_cone*> cone(page_id page, std::optional<std::uint32_t> element = std::nullopt) {
    sync();
    if (auto ok = check_target(page, element.value_or(0)); !ok) return unexpected(ok.error());
    provenance_cone& c = cone_;
    c.pages.clear();
    c.sources.clear();
    c.depth_truncated = c.budget_truncated = false;
    seen_.clear();
    seen_.insert(page.value());
    c.pages.push_back({page, 0});
    for (std::size_t head = 0; head < c.pages.size(); ++head) {
      const cone_page at = c.pages[head];
      if (e_.parent_count(at.page) == 0) {
        c.sources.push_back({at.page, element ? writer_of(at.page, *element) : last_writer_of(at.page)});
        continue;
      }
      if (at.depth == o_.max_depth) {
        c.depth_truncated = true;
        continue;
      }
      bool stop = false;
      e_.for_each_in_edge(at.page, [&](const graph_edge<W>& edge) {
        if (stop || !seen_.insert(edge.parent.value())) return;
        if (c.pages.size() == o_.node_budget) {
          c.budget_truncated = stop = true;
          return;
        }
        c.pages.push_back({edge.parent, at.depth + 1});
      });
      if (stop) break;
    }
    return &c;
  }

  /// Where a non-finite value came from (see the file contract).
  [[nodiscard]] result<nonfinite_trace> trace_nonfinite(page_id page, std::uint32_t element)
    requires std::is_floating_point_v<T> && std::is_floating_point_v<W>
  {
    sync();
    if (auto ok = check_target(page, element); !ok) return unexpected(ok.error());
    nonfinite_trace t;
    page_id cur = page;
    if (std::isfinite(value(cur, element))) return t;
    for (std::uint32_t depth = 0;; ++depth) {
      t.path.push_back(cur);
      if (e_.parent_count(cur) == 0) {
        t.origin = nonfinite_origin::delta;
        t.page = cur;
        t.writer = writer_of(cur, element);
        return t;
      }
      if (depth == o_.max_depth) {
        t.origin = nonfinite_origin::depth_limit;
        t.page = cur;
        return t;
      }
      std::optional<page_id> bad_parent, bad_edge;
      e_.for_each_in_edge(cur, [&](const graph_edge<W>& edge) {
        if (!bad_parent && !std::isfinite(value(edge.parent, element))) bad_parent = edge.parent;
        if (!bad_edge && !std::isfinite(edge.weight)) bad_edge = edge.parent;
      });
      if (bad_parent) {
        cur = *bad_parent;
        continue;
      }
      t.page = cur;
      if (bad_edge) {
        t.origin = nonfinite_origin::edge;
        t.edge_parent = *bad_edge;
      } else {
        t.origin = nonfinite_origin::arithmetic;
      }
      return t;
    }
  }

  /// The delta that last wrote element `element` of `page`, if any (since the log began).
  [[nodiscard]] std::optional<delta_ref> writer_of(page_id page, std::uint32_t element) const {
    const auto it = writers_.find(page.value());
    if (it == writers_.end() || element >= it->second.elements.size() || it->second.elements[element].id == delta_id{}) return std::nullopt;
    return it->second.elements[element];
  }

  /// Chains in the cache.
  [[nodiscard]] std::size_t cached() const noexcept { return lru_.size(); }
  /// resolve calls answered from the cache.
  [[nodiscard]] std::uint64_t hits() const noexcept { return hits_; }
  /// resolve calls that walked the graph.
  [[nodiscard]] std::uint64_t misses() const noexcept { return misses_; }
  /// The limits in use.
  [[nodiscard]] const provenance_options& options() const noexcept { return o_; }

 private:
  struct key {
    std::uint64_t page;
    std::uint32_t element;
    friend bool operator==(const key&, const key&) = default;
  };
  struct key_hash {
    std::size_t operator()(const key& k) const noexcept {
      std::uint64_t h = (k.page ^ (std::uint64_t{k.element} << 56)) * 0x9E3779B97F4A7C15ULL;
      return static_cast<std::size_t>(h ^ (h >> 29));
    }
  };
  struct dep {
    page_id page;
    epoch at;
  };
  struct entry {
    key k{};
    provenance_chain chain;
    std::vector<dep> deps;
    std::uint32_t engine_epoch = 0;
    std::size_t log_bytes = 0;
  };
  struct page_writers {
    std::vector<delta_ref> elements;
    delta_ref last;
  };
  // An open-addressing set of page ids for the cone walk (cleared per walk, room kept).
  class id_set {
   public:
    void clear() {
      if (slots_.empty()) slots_.assign(1024, empty);
      else std::fill(slots_.begin(), slots_.end(), empty);
      size_ = 0;
    }
    bool insert(std::uint64_t v) {
      if (2 * (size_ + 1) > slots_.size()) grow();
      std::size_t i = home(v);
      while (slots_[i] != empty) {
        if (slots_[i] == v) return false;
        i = (i + 1) & (slots_.size() - 1);
      }
      slots_[i] = v;
      ++size_;
      return true;
    }

   private:
    static constexpr std::uint64_t empty = ~std::uint64_t{0};  // no page id (index and generation all ones)
    std::size_t home(std::uint64_t v) const noexcept { return static_cast<std::size_t>((v * 0x9E3779B97F4A7C15ULL) >> 20) & (slots_.size() - 1); }
    void grow() {
      std::vector<std::uint64_t> old(slots_.size() * 2, empty);
      old.swap(slots_);
      size_ = 0;
      for (std::uint64_t v : old)
        if (v != empty) (void)insert(v);
    }
    std::vector<std::uint64_t> slots_;
    std::size_t size_ = 0;
  };

  result<void> check_target(page_id page, std::uint32_t element) const {
    const auto bytes = e_.page_bytes(page);
    if (!bytes) return unexpected(errc::not_found, page.value(), "no such page (unknown or released)");
    if (std::size_t{element} >= bytes->size() / sizeof(T)) return unexpected(errc::out_of_range, element, "element past the page's end");
    return {};
  }
  T value(page_id p, std::uint32_t element) const {
    const auto bytes = e_.page_bytes(p);
    return value_at<T>(*bytes, element);
  }
  std::optional<delta_ref> last_writer_of(page_id page) const {
    const auto it = writers_.find(page.value());
    if (it == writers_.end() || it->second.last.id == delta_id{}) return std::nullopt;
    return it->second.last;
  }

  // The witness walk; deps (if given) receives every page the answer depends on, with its epoch.
  void walk(page_id page, std::uint32_t element, provenance_chain& c, std::vector<dep>* deps) const
    requires selective_semiring<S>
  {
    c = provenance_chain{};
    c.element = element;
    page_id cur = page;
    for (std::uint32_t depth = 0;; ++depth) {
      const auto at = e_.page_epoch(cur);
      const auto bytes = e_.page_bytes(cur);
      if (!at || !bytes) {  // a parent the graph names but the store does not: nothing explains the value
        c.unexplained = true;
        return;
      }
      c.steps.push_back({cur, *at});
      if (deps != nullptr) deps->push_back({cur, *at});
      if (e_.parent_count(cur) == 0) {
        c.reached_source = true;
        c.writer = writer_of(cur, element);
        return;
      }
      const T v = value_at<T>(*bytes, element);
      if (same(v, S::zero())) {
        c.zero_value = true;
        return;
      }
      if (depth == o_.max_depth) {
        c.depth_limited = true;
        return;
      }
      std::optional<page_id> winner;
      e_.for_each_in_edge(cur, [&](const graph_edge<W>& edge) {
        const auto pb = e_.page_bytes(edge.parent);
        if (!pb) return;
        if (deps != nullptr) deps->push_back({edge.parent, *e_.page_epoch(edge.parent)});
        if (!winner && same(S::mul(static_cast<T>(edge.weight), value_at<T>(*pb, element)), v)) winner = edge.parent;
      });
      if (!winner) {
        c.unexplained = true;
        return;
      }
      cur = *winner;
    }
  }
  static bool same(const T& a, const T& b) noexcept { return std::memcmp(&a, &b, sizeof(T)) == 0 || a == b; }

  bool fresh(entry& en) {
    const std::uint32_t now = e_.current_epoch().value();
    const std::size_t log = log_length();
    if (has_log() && en.engine_epoch == now && en.log_bytes == log) return true;
    for (const dep& d : en.deps) {
      const auto at = e_.page_epoch(d.page);
      if (!at || *at != d.at) return false;
    }
    en.engine_epoch = now;
    en.log_bytes = log;
    return true;
  }
  void stamp(entry& en) const {
    en.engine_epoch = e_.current_epoch().value();
    en.log_bytes = log_length();
  }
  static constexpr bool has_log() noexcept { return logging_engine<E>; }
  std::size_t log_length() const {
    if constexpr (logging_engine<E>) return e_.log_records().size();
    else return 0;
  }

  void erase(typename std::list<entry>::iterator it) {
    for (const witness_step& s : it->chain.steps) {
      auto [lo, hi] = by_page_.equal_range(s.page.value());
      for (auto r = lo; r != hi; ++r)
        if (r->second == it->k) {
          by_page_.erase(r);
          break;
        }
    }
    index_.erase(it->k);
    lru_.erase(it);
  }
  void invalidate(page_id p) {
    for (auto r = by_page_.find(p.value()); r != by_page_.end(); r = by_page_.find(p.value())) {
      const auto it = index_.find(r->second);
      if (it == index_.end()) {  // cannot happen: entries leave the index with their pages
        by_page_.erase(r);
        continue;
      }
      erase(it->second);
    }
  }

  template <class MaskWord>
  void note_write(page_id page, epoch at, delta_id id, std::uint32_t offset, std::uint32_t length, MaskWord&& word) {
    page_writers& w = writers_[page.value()];
    const delta_ref ref{id, at};
    w.last = ref;
    const std::size_t last_element = (std::size_t{offset} + length - 1) / sizeof(T);
    if (w.elements.size() <= last_element) w.elements.resize(last_element + 1);
    for (std::size_t mw = 0; mw < mask_words(length); ++mw)
      for (std::uint64_t bits = word(mw); bits != 0; bits &= bits - 1) {
        const std::size_t byte = offset + 64 * mw + static_cast<std::size_t>(std::countr_zero(bits));
        w.elements[byte / sizeof(T)] = ref;
      }
  }

  // Reads the log's new records: deltas (writers), edge edits and releases (invalidation).
  void sync() {
    if constexpr (logging_engine<E>) {
      const std::span<const std::byte> records = e_.log_records();
      if (records.size() < read_) {  // a log that shrank: another run; start again
        read_ = 0;
        writers_.clear();
        clear();
      }
      if (records.size() == read_) return;
      tlog_record_reader rd(records.subspan(read_));
      while (auto body = rd.next()) {
        if (detail::is_event_body(*body)) {
          const auto ev = detail::decode_event(*body);
          if (!ev) {
            rd.reject(ev.error().code);
            break;
          }
          if (ev->kind == tlog_event_kind::edge_insert || ev->kind == tlog_event_kind::edge_remove) note_edit(ev->page, ev->child);
          else if (ev->kind == tlog_event_kind::page_release) note_released(ev->page);
        } else {
          const std::byte* p = body->data();
          if (body->size() < detail::tlog_body_fixed_bytes) {
            rd.reject(errc::corrupt_data);
            break;
          }
          const page_id page{detail::get_le(p, 8)};
          const epoch at{static_cast<std::uint32_t>(detail::get_le(p + 8, 4))};
          const delta_id id{detail::get_le(p + 12, 8)};
          const auto offset = static_cast<std::uint32_t>(detail::get_le(p + 20, 4));
          const auto length = static_cast<std::uint32_t>(detail::get_le(p + 24, 4));
          if (length == 0 || body->size() < detail::tlog_body_fixed_bytes + 8 * mask_words(length)) {
            rd.reject(errc::corrupt_data);
            break;
          }
          note_write(page, at, id, offset, length,
                     [&](std::size_t w) { return detail::get_le(p + detail::tlog_body_fixed_bytes + 8 * w, 8); });
        }
        rd.accept();
      }
      read_ += rd.position();
    }
  }

  const E& e_;
  provenance_options o_;
  std::list<entry> lru_;
  std::unordered_map<key, typename std::list<entry>::iterator, key_hash> index_;
  std::unordered_multimap<std::uint64_t, key> by_page_;
  std::unordered_map<std::uint64_t, page_writers> writers_;
  std::size_t read_ = 0;
  std::uint64_t hits_ = 0, misses_ = 0;
  provenance_chain scratch_;
  provenance_cone cone_;
  id_set seen_;
};

}  // namespace tickflow
