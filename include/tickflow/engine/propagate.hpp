// tickflow/engine/propagate.hpp — recomputing derived pages over the dirty cone, in topological order.
//
// Contract
//   * Values: every page of the graph is viewed as an array of T (page bytes / sizeof(T)
//     elements). A derived page (one with parents) is value(c)[i] = combine of its parents'
//     values[i]; a source page is what deltas wrote. T's object representation must be valid in
//     every page (for bool: bytes 0 and 1 only).
//   * Kernels: k(out, in) with out the child's elements (std::span<T>, unspecified on entry) and
//     in a parent_inputs<T, W>: the parents' element pointers, the edge weights and edge kinds,
//     in the fixed order (parents by increasing page id). A kernel must be noexcept and pure: out
//     may depend on `in` only (propagation_kernel checks the signature; suite 04 checks purity).
//     semiring_kernel<S> computes out[i] = ⊕_p w_p ⊗ v_p[i], folded from S::zero() in the fixed
//     order.
//   * rebuild(store, graph, layout) plans the graph's pages in topological order (the graph's
//     order of positions), with each page's parents (and their data pointers, weights, kinds) and
//     children. With store_layout::topological (the default) it also moves the pages in the
//     store into that order (page_store::relayout: ids, bytes and epochs unchanged, pointers
//     into the store invalidated), so that a sweep reads and writes memory in address order
//     and a parent near its child in the order is near it in memory. Errors, with nothing
//     changed:
//     errc::not_found (a graph page that is not alive in the store; detail: the page id),
//     errc::invalid_argument (a page whose size is not a whole number of T, or a derived page
//     whose element count differs from a parent's; detail: the page id). The plan holds pointers
//     into the store: rebuild after pages are created or released or the graph is edited.
//   * run(changed, at, ex): the source pages in `changed` (sources a step wrote; pages not in
//     the graph are ignored) count as changed; a derived page there is taken as forced (below):
//     recomputed, so that it ends equal to its parents' combination, as in a full recompute.
//     The cone (everything downstream of them) is marked first,
//     unless `changed` holds more than pages() / 16 pages or the marking walk finds that many:
//     then every derived page is examined (a superset of the cone, cheaper than marking it; the
//     pages outside the cone have no changed parent and are not recomputed, so the result is
//     the same).
//     When every derived page is examined, the epochs of the changed pages are written after
//     the sweep, in the store's table (page id) order, instead of during it: they live in the
//     store's id table, where the sweep's order makes them random writes.
//     `forced` pages (derived pages whose parent set changed, e.g. after a graph edit) are
//     recomputed in this run even if no parent changed, and their cones are marked as for a
//     changed page; sources and pages not in the plan are ignored there.
//     Then every cone page whose parents include a changed page is recomputed into scratch, in
//     topological order; if the result differs from the page's bytes (bit for bit) it is
//     written, takes epoch `at` and counts as changed; otherwise it is left as it was and changes
//     nothing below it (early cutoff). Pages outside the cone are not touched. run_all(at, ex)
//     recomputes every derived page the same way (a first propagation, or a check).
//   * Schedule (a dataflow sweep, not levels: levels can be many and small, as in W-local's
//     2,409 levels of ~400 pages, and a barrier per level idles the workers at every level's
//     tail): a small cone (at most cone_sequential_limit
//     pages) is worked on the caller in topological order. A larger one is swept by all workers
//     of the executor: blocks of consecutive pages (in topological order) are claimed in order
//     from one counter; a page waits (spins, then yields) until each of its parents in the cone
//     is done, then is computed, then is published done (release; the waiter's acquire sees its
//     bytes). Claims are in order and a worker waits only for earlier pages, all claimed by
//     running workers, so the sweep cannot deadlock, however the executor schedules its tasks.
//     When every derived page is examined, the blocks are spans of span_pages consecutive
//     layout indexes, and a page's done mark and changed bit are one byte (one cache line per
//     span, written by one worker), instead of the cone's 8-byte stamps.
//   * Determinism: each page depends only on its parents' final values, combined in the fixed
//     order, so the result (bytes, epochs, counts) is bit-identical for every executor and
//     worker count, and equal to a full sequential recompute in topological order.
//   * Allocation: rebuild allocates the plan; run allocates only to grow its scratch (the cone
//     list, per-worker buffers) the first time a larger cone or executor is seen.
//
// Thread-safety: one call at a time; the store and graph must not change during a call.
#pragma once

#include <algorithm>
#include <atomic>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <thread>
#include <type_traits>
#include <vector>

#include "tickflow/core/cache_padded.hpp"
#include "tickflow/core/config.hpp"
#include "tickflow/core/ids.hpp"
#include "tickflow/core/result.hpp"
#include "tickflow/engine/executor.hpp"
#include "tickflow/graph/page_graph.hpp"
#include "tickflow/page/page_store.hpp"
#include "tickflow/semiring/semiring.hpp"

namespace tickflow {

/// What a kernel sees of a derived page's parents, in the fixed order (see the file contract).
template <class T, class W>
struct parent_inputs {
  std::span<const T* const> values;  ///< each parent's elements (as many as the child's)
  std::span<const W> weights;
  std::span<const edge_kind> kinds;
};

/// A custom kernel: a noexcept callable (std::span<T> out, const parent_inputs<T, W>&).
template <class K, class T, class W>
concept propagation_kernel = std::is_nothrow_invocable_v<const K&, std::span<T>, const parent_inputs<T, W>&>;

/// The built-in kernel of a semiring: out[i] = ⊕_p w_p ⊗ v_p[i], from S::zero(), in order.
template <semiring S>
struct semiring_kernel {
  using T = typename S::value_type;
  void operator()(std::span<T> out, const parent_inputs<T, T>& in) const noexcept {
    if (out.size() * sizeof(T) == 64 && 64 % sizeof(T) == 0)  // one line of elements: unrolled
      return fold<64 / sizeof(T)>(out.data(), in.values.data(), in.weights.data(), in.values.size());
    for (T& x : out) x = S::zero();
    for (std::size_t p = 0; p < in.values.size(); ++p) {
      const T* v = in.values[p];
      const T w = in.weights[p];
      for (std::size_t i = 0; i < out.size(); ++i) out[i] = S::add(out[i], S::mul(w, v[i]));
    }
  }

  /// The same fold with the width known to the compiler (it keeps the accumulators in
  /// registers), over parents given as arrays. The propagator calls it directly on its plan's
  /// columns: the same operations in the same order as operator().
  template <std::size_t N>
  static void fold(T* out, const T* const* values, const T* weights, std::size_t parents) noexcept {
    T acc[N];
#pragma GCC unroll 64
    for (std::size_t i = 0; i < N; ++i) acc[i] = S::zero();
    for (std::size_t p = 0; p < parents; ++p) {
      const T* v = values[p];
      const T w = weights[p];
#pragma GCC unroll 64
      for (std::size_t i = 0; i < N; ++i) acc[i] = S::add(acc[i], S::mul(w, v[i]));
    }
#pragma GCC unroll 64
    for (std::size_t i = 0; i < N; ++i) out[i] = acc[i];
  }
};

namespace detail {
template <class K>
inline constexpr bool is_semiring_kernel = false;
template <class S>
inline constexpr bool is_semiring_kernel<semiring_kernel<S>> = true;
}  // namespace detail

/// When a sweep prefetches parents (see propagator::prefetch).
enum class prefetch_policy : std::uint8_t { automatic, always, never };

/// Where rebuild leaves the pages in memory (see the file contract).
enum class store_layout : std::uint8_t {
  topological,  ///< the graph's pages are moved into topological order (sweeps stream)
  keep,         ///< pages stay where they are
};

namespace detail {
// A fixed array (std::vector<bool> would not give a bool* for spans).
template <class X>
class flat_array {
 public:
  void assign(std::size_t n) {
    data_ = std::make_unique<X[]>(n);
    size_ = n;
  }
  [[nodiscard]] X* data() const noexcept { return data_.get(); }
  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  X& operator[](std::size_t i) const noexcept { return data_[i]; }

 private:
  std::unique_ptr<X[]> data_;
  std::size_t size_ = 0;
};
}  // namespace detail

/// Counts of one run.
struct propagate_stats {
  std::size_t cone = 0;        ///< pages examined: the cone, or every derived page (see run)
  std::size_t recomputed = 0;  ///< cone pages recomputed (a parent had changed)
  std::size_t changed = 0;     ///< of those, pages whose value changed and were written
  friend bool operator==(const propagate_stats&, const propagate_stats&) = default;
};

template <class T, class W, propagation_kernel<T, W> Kernel>
  requires std::is_trivially_copyable_v<T> && (alignof(T) <= cache_line_size)
class propagator {
 public:
  explicit propagator(Kernel kernel = Kernel{}) : kernel_(std::move(kernel)) {}

  /// Builds the plan (see the file contract); on error the previous plan is kept.
  result<void> rebuild(page_store& store, const page_graph<W>& graph, store_layout layout = store_layout::topological) {
    plan p;
    const auto view = graph.node_csr();
    const std::size_t slots = view.page_of.size();
    // Topological order: positions are a permutation of the node slots.
    std::vector<std::uint32_t> by_position(slots);
    for (std::uint32_t u = 0; u < slots; ++u) by_position[graph.position(u)] = u;
    std::vector<std::uint32_t> at_of(slots, 0);
    for (std::uint32_t u : by_position) {
      if (view.page_of[u] == page_id{}) continue;
      at_of[u] = static_cast<std::uint32_t>(p.ids.size());
      const page_id id = view.page_of[u];
      const auto h = store.handle(id);
      if (h.data == nullptr) return unexpected(errc::not_found, id.value(), "graph page not alive in the store");
      if (h.bytes % sizeof(T) != 0) return unexpected(errc::invalid_argument, id.value(), "page size is not a whole number of elements");
      p.ids.push_back(id);
      p.elements.push_back(h.bytes / static_cast<std::uint32_t>(sizeof(T)));
    }
    const std::size_t n = p.ids.size();
    const auto edges = graph.edge_list();
    if (edges.size() >= no_page) return unexpected(errc::invalid_argument, edges.size(), "too many edges for one plan");
    // Parents of every page, by increasing page id, with weights and kinds; children.
    p.in_begin.assign(n + 1, 0);
    p.out_begin.assign(n + 1, 0);
    for (const auto& e : edges) {
      ++p.in_begin[at_of[*graph.node(e.child)] + 1];
      ++p.out_begin[at_of[*graph.node(e.parent)] + 1];
    }
    for (std::size_t t = 0; t < n; ++t) {
      p.in_begin[t + 1] += p.in_begin[t];
      p.out_begin[t + 1] += p.out_begin[t];
    }
    struct in_edge {
      page_id parent;
      std::uint32_t from;
      W weight;
      edge_kind kind;
    };
    std::vector<in_edge> in(edges.size());
    p.children.resize(edges.size());
    {
      std::vector<std::uint32_t> in_fill(p.in_begin.begin(), p.in_begin.end() - 1), out_fill(p.out_begin.begin(), p.out_begin.end() - 1);
      for (const auto& e : edges) {
        const std::uint32_t from = at_of[*graph.node(e.parent)], to = at_of[*graph.node(e.child)];
        in[in_fill[to]++] = in_edge{e.parent, from, e.weight, e.kind};
        p.children[out_fill[from]++] = to;
      }
    }
    p.parents.resize(edges.size());
    p.weights.assign(edges.size());
    p.kinds.resize(edges.size());
    std::uint32_t widest = 0;
    for (std::size_t t = 0; t < n; ++t) {
      auto first = in.begin() + p.in_begin[t], last = in.begin() + p.in_begin[t + 1];
      std::sort(first, last, [](const in_edge& a, const in_edge& b) { return a.parent < b.parent; });
      for (auto it = first; it != last; ++it) {
        if (p.elements[it->from] != p.elements[t])
          return unexpected(errc::invalid_argument, p.ids[t].value(), "a parent's element count differs from its child's");
        const std::size_t k = static_cast<std::size_t>(it - in.begin());
        p.parents[k] = it->from;
        p.weights[k] = it->weight;
        p.kinds[k] = it->kind;
      }
      widest = std::max(widest, p.elements[t]);
    }
    p.widest = widest;
    // Page id -> layout index, through the id's table index (dense, no hashing on the hot path).
    {
      std::size_t top = 0;
      for (const page_id id : p.ids) top = std::max<std::size_t>(top, (id.value() >> 32) + 1);
      p.by_id_index.assign(top, no_page);
      for (std::uint32_t t = 0; t < n; ++t) p.by_id_index[p.ids[t].value() >> 32] = t;
    }
    for (std::uint32_t t = 0; t < n; ++t) (p.in_begin[t + 1] != p.in_begin[t] ? p.derived : p.sources).push_back(t);
    p.by_table = p.derived;
    {
      // Prefetch parents in sweeps when many of them are far behind their child in memory
      // (beyond what the core's caches keep of a sweep's recent pages): see far_bytes.
      std::size_t far = 0;
      for (std::uint32_t t = 0; t < n; ++t)
        for (std::uint32_t k = p.in_begin[t]; k < p.in_begin[t + 1]; ++k)
          if (std::size_t{t - p.parents[k]} * p.elements[t] * sizeof(T) > far_bytes) ++far;
      p.parents_far = far * 4 > p.parents.size();
    }
    std::sort(p.by_table.begin(), p.by_table.end(), [&](std::uint32_t a, std::uint32_t b) { return p.ids[a] < p.ids[b]; });
    // Tag 0 in every byte; full sweeps start at tag 1.
    p.changed_storage = std::make_unique<std::atomic<std::uint8_t>[]>(n + cache_line_size);
    p.changed = p.changed_storage.get() + (cache_line_size - reinterpret_cast<std::uintptr_t>(p.changed_storage.get()) % cache_line_size) % cache_line_size;
    p.data.resize(n);
    p.epochs.resize(n);
    p.state = std::make_unique<page_state[]>(n);
    // Last, once nothing else can fail: the move (which has the strong guarantee itself), then
    // the pointers, which it changes.
    if (layout == store_layout::topological) {
      if (auto moved = store.relayout(p.ids); !moved) return moved;
    }
    for (std::size_t t = 0; t < n; ++t) {
      const auto h = store.handle(p.ids[t]);
      p.data[t] = reinterpret_cast<T*>(h.data);
      p.epochs[t] = h.at;
    }
    p.epochs_by_table.resize(p.by_table.size());
    for (std::size_t i = 0; i < p.by_table.size(); ++i) p.epochs_by_table[i] = p.epochs[p.by_table[i]];
    p.parent_data.resize(p.parents.size());
    for (std::size_t k = 0; k < p.parents.size(); ++k) p.parent_data[k] = p.data[p.parents[k]];
    plan_ = std::move(p);
    run_ = 0;
    full_tag_ = 0;  // the new plan's bytes hold tag 0
    return {};
  }

  /// See the file contract.
  template <executor E>
  propagate_stats run(std::span<const page_id> changed, epoch at, E& ex, std::span<const page_id> forced = {}) {
    const std::uint32_t r = next_run();
    // The changed pages, then their cone, depth-first (marks stop at pages already marked).
    stack_.clear();
    cone_.clear();
    // Derived pages in `changed` are forced (see the contract): a stamp here would tell their
    // children to read them before the sweep recomputes them.
    forced_.clear();
    for (std::size_t i = 0; i < changed.size(); ++i) {
      // The ids are random: their table entries are fetched 16 ahead, their pages' columns 8.
      if (i + 16 < changed.size()) {
        const std::uint64_t ahead = changed[i + 16].value() >> 32;
        if (ahead < plan_.by_id_index.size()) TICKFLOW_PREFETCH(&plan_.by_id_index[ahead], 0, 3);
      }
      if (i + 8 < changed.size()) {
        const std::uint64_t ahead = changed[i + 8].value() >> 32;
        if (ahead < plan_.by_id_index.size() && plan_.by_id_index[ahead] != no_page) {
          const std::uint32_t t = plan_.by_id_index[ahead];
          TICKFLOW_PREFETCH(&plan_.ids[t], 0, 3);
          TICKFLOW_PREFETCH(&plan_.in_begin[t], 0, 3);
          TICKFLOW_PREFETCH(&plan_.state[t], 1, 3);
        }
      }
      const page_id id = changed[i];
      if (const std::uint32_t t = layout_index(id); t != no_page) {
        if (plan_.in_begin[t + 1] != plan_.in_begin[t]) {
          forced_.push_back(t);
          continue;
        }
        plan_.state[t].done.store(stamp(r, true), std::memory_order_relaxed);
        stack_.push_back(t);
      }
    }
    // Forced pages (derived ones only) are in the cone, recomputed whatever their parents did.
    for (const page_id id : forced)
      if (const std::uint32_t t = layout_index(id); t != no_page && plan_.in_begin[t + 1] != plan_.in_begin[t]) forced_.push_back(t);
    forced_run_ = forced_.empty() ? 0 : r;
    std::sort(forced_.begin(), forced_.end());
    for (const std::uint32_t t : forced_)
      if (plan_.state[t].cone != r) {
        plan_.state[t].cone = r;
        cone_.push_back(t);
        stack_.push_back(t);
      }
    // A large cone: every derived page instead (see the contract). Large = more than a
    // sixteenth of the pages changed, or the marking walk found that many: past that, the
    // walk's random accesses cost more than one in-order pass over all pages.
    const std::size_t large = pages() / 16;
    bool stamped_in_order = changed.size() > large;
    while (!stamped_in_order && !stack_.empty()) {
      const std::uint32_t t = stack_.back();
      stack_.pop_back();
      for (std::size_t k = plan_.out_begin[t]; k < plan_.out_begin[t + 1]; ++k) {
        const std::uint32_t c = plan_.children[k];
        if (plan_.state[c].cone == r) continue;
        plan_.state[c].cone = r;
        cone_.push_back(c);
        stack_.push_back(c);
      }
      stamped_in_order = cone_.size() > large;
    }
    if (stamped_in_order) {
      stack_.clear();
      cone_.clear();
      return every_derived_page(r, at, ex);
    }
    // Topological order = layout order (a cone of at most pages() / 16 pages, sorted).
    std::sort(cone_.begin(), cone_.end());
    return sweep(cone_, r, at, ex);
  }
  /// Recomputes every derived page (see the file contract).
  template <executor E>
  propagate_stats run_all(epoch at, E& ex) {
    const std::uint32_t r = next_run();
    for (const std::uint32_t t : plan_.sources)
      plan_.state[t].done.store(stamp(r, true), std::memory_order_relaxed);  // every source counts as changed
    return every_derived_page(r, at, ex);
  }

  /// Cones of at most this many pages are worked on the caller alone (see the file contract).
  std::size_t cone_sequential_limit = 4096;
  /// Pages a worker claims at once in the parallel sweep.
  std::size_t block = 32;
  /// Whether sweeps prefetch the parents of the pages ahead (their elements, and in a marked
  /// cone their stamps).
  /// automatic: when at least a quarter of the plan's edges reach a parent more than far_bytes
  /// of pages behind its child in layout order (rebuild decides). Nearer parents are still in
  /// the core's caches, and prefetching them only costs instructions. Results never depend on it.
  prefetch_policy prefetch = prefetch_policy::automatic;
  /// How many pages ahead of the one at hand a sweep prefetches parents, when it does.
  std::size_t prefetch_distance = 8;
  static constexpr std::size_t far_bytes = std::size_t{1} << 20;
  /// Pages per span of a full sweep (see every_derived_page): one cache line of changed bytes.
  static constexpr std::size_t span_pages = cache_line_size;

  /// Pages in the plan.
  [[nodiscard]] std::size_t pages() const noexcept { return plan_.ids.size(); }

 private:
  // Per page, stamped with run numbers (never cleared): `cone` = the last run whose cone held
  // the page; `done` = (run << 1) | changed, stored when the page is finished in that run (its
  // changed bit is published with it). 8 bytes: a parent's stamps are one load each.
  struct page_state {
    std::uint32_t cone = 0;
    std::atomic<std::uint32_t> done{0};
  };
  static constexpr std::uint32_t stamp(std::uint32_t r, bool changed) noexcept { return (r << 1) | (changed ? 1U : 0U); }

  // The plan, as parallel arrays in layout (topological) order: the sweep streams through the
  // per-page and per-edge columns it needs and nothing else.
  struct plan {
    std::vector<page_id> ids;
    std::vector<T*> data;
    std::vector<epoch*> epochs;
    std::vector<std::uint32_t> elements;
    std::vector<std::uint32_t> in_begin, out_begin;  // pages + 1 entries each
    std::vector<std::uint32_t> parents;      // per in-edge, in the fixed order: the parent's layout index
    std::vector<const T*> parent_data;       // per in-edge: the parent's elements (no second lookup)
    detail::flat_array<W> weights;
    std::vector<edge_kind> kinds;
    std::vector<std::uint32_t> children;     // per out-edge: the child's layout index
    std::vector<std::uint32_t> by_id_index;  // page id's table index -> layout index, or no_page
    std::vector<std::uint32_t> derived, sources;  // layout indexes, in layout order
    bool parents_far = false;                // a quarter of the edges or more reach further back than far_bytes
    std::vector<std::uint32_t> by_table;     // layout indexes of the derived pages, in page id (table) order
    std::vector<epoch*> epochs_by_table;     // their epochs, in the same order
    // Per page, for full sweeps: (tag << 1) | changed (see every_derived_page); 64-byte
    // aligned, so that a span's bytes are one cache line.
    std::unique_ptr<std::atomic<std::uint8_t>[]> changed_storage;
    std::atomic<std::uint8_t>* changed = nullptr;
    std::uint32_t widest = 0;                // most elements of any page
    std::unique_ptr<page_state[]> state;
  };

  struct alignas(cache_line_size) worker_counts {  // alignas: each worker's counters own a line
    std::size_t recomputed = 0, changed = 0;
  };

  static constexpr std::uint32_t no_page = 0xFFFFFFFFU;
  // The layout index of a page of the plan, or no_page.
  [[nodiscard]] std::uint32_t layout_index(page_id id) const noexcept {
    const std::uint64_t index = id.value() >> 32;
    if (index >= plan_.by_id_index.size()) return no_page;
    const std::uint32_t t = plan_.by_id_index[index];
    return t != no_page && plan_.ids[t] == id ? t : no_page;
  }

  std::uint32_t next_run() noexcept {
    if (++run_ >= (1U << 31)) {  // the stamp holds 31 bits of run: clear the stamps once
      for (std::size_t t = 0; t < pages(); ++t) {
        plan_.state[t].cone = 0;
        plan_.state[t].done.store(0, std::memory_order_relaxed);
      }
      run_ = 1;
    }
    return run_;
  }

  // Sweeps every derived page, in layout order (see the contract's schedule), without cone
  // marks or 8-byte stamps: one byte per page, (sweep tag << 1) | changed, where the tag counts
  // full sweeps modulo 128. Every full sweep writes every page's byte (the sources' here, first),
  // so at its start every byte holds the previous tag, never the current one. Workers claim spans
  // of span_pages consecutive pages in order; a page waits (acquire) for each parent's byte to
  // carry the current tag, then reads its changed bit from it. A span's bytes fill one cache
  // line, written by one worker only.
  template <class E>
  propagate_stats every_derived_page(std::uint32_t r, epoch at, E& ex) {
    full_tag_ = static_cast<std::uint8_t>((full_tag_ + 1) & 0x7F);
    const std::uint32_t changed_stamp = stamp(r, true);
    for (const std::uint32_t t : plan_.sources)
      plan_.changed[t].store(tag_byte(plan_.state[t].done.load(std::memory_order_relaxed) == changed_stamp), std::memory_order_relaxed);
    defer_epochs_ = true;  // most pages may change: their epochs are written after, in table order
    propagate_stats stats;
    stats.cone = plan_.derived.size();
    if (plan_.derived.empty()) return stats;
    const std::size_t ahead = prefetch_ahead();
    const bool parallel = plan_.derived.size() > cone_sequential_limit && ex.concurrency() > 1;
    const std::size_t workers = parallel ? ex.concurrency() : 1;
    prepare_workers(workers);
    const std::size_t n = pages();
    if (!parallel) {
      full_span<false>(0, n, r, at, ahead, 0, counts_[0]);
    } else {
      next_block_->store(0, std::memory_order_relaxed);
      const std::size_t spans = (n + span_pages - 1) / span_pages;
      ex.parallel_for(workers, [&](std::size_t, std::size_t w) {
        for (;;) {
          // Relaxed: claims only need to be unique and in order; the bytes carry the data.
          const std::size_t b = next_block_->fetch_add(1, std::memory_order_relaxed);
          if (b >= spans) return;
          full_span<true>(b * span_pages, std::min(n, (b + 1) * span_pages), r, at, ahead, w, counts_[w]);
        }
      });
    }
    return finish(stats, at);
  }

  [[nodiscard]] std::uint8_t tag_byte(bool changed) const noexcept { return static_cast<std::uint8_t>((full_tag_ << 1) | (changed ? 1 : 0)); }

  // The pages [first, last) of one span (all of them in the sequential sweep), in order.
  template <bool Wait>
  void full_span(std::size_t first, std::size_t last, std::uint32_t r, epoch at, std::size_t ahead, std::size_t w, worker_counts& counts) noexcept {
    const std::uint32_t* const in_begin = plan_.in_begin.data();
    const std::uint32_t* const parents = plan_.parents.data();
    std::atomic<std::uint8_t>* const bytes = plan_.changed;
    // (Parents' bytes are not prefetched: a byte per page stays in the caches.)
    for (std::size_t t = first; t < std::min(last, first + ahead); ++t) prefetch_parents<false>(static_cast<std::uint32_t>(t));
    for (std::size_t t = first; t < last; ++t) {
      if (ahead != 0 && t + ahead < last) prefetch_parents<false>(static_cast<std::uint32_t>(t + ahead));
      const std::uint32_t b = in_begin[t], e = in_begin[t + 1];
      if (b == e) continue;  // a source
      bool dirty = forced_run_ == r && std::binary_search(forced_.begin(), forced_.end(), static_cast<std::uint32_t>(t));
      for (std::uint32_t k = b; k < e; ++k) {
        const std::atomic<std::uint8_t>& pb = bytes[parents[k]];
        // Acquire: pairs with the release that published the parent (its elements and bit).
        std::uint8_t v = pb.load(Wait ? std::memory_order_acquire : std::memory_order_relaxed);
        if constexpr (Wait) {
          for (unsigned spins = 0; (v >> 1) != full_tag_; ++spins) {
            if (spins < 1024) cpu_relax();
            else std::this_thread::yield();
            v = pb.load(std::memory_order_acquire);
          }
        }
        dirty |= (v & 1) != 0;
      }
      bool now_changed = false;
      if (dirty) {
        ++counts.recomputed;
        now_changed = recompute(static_cast<std::uint32_t>(t), w, at);
        counts.changed += now_changed ? 1 : 0;
      }
      // Release: publishes the page's elements and changed bit to the pages that wait on it.
      bytes[t].store(tag_byte(now_changed), Wait ? std::memory_order_release : std::memory_order_relaxed);
    }
  }

  [[nodiscard]] std::size_t prefetch_ahead() const noexcept {
    const bool fetch = prefetch == prefetch_policy::always || (prefetch == prefetch_policy::automatic && plan_.parents_far);
    return fetch ? prefetch_distance : 0;
  }

  void prepare_workers(std::size_t workers) {
    if (scratch_.size() < workers * plan_.widest) scratch_.assign(workers * plan_.widest);
    if (counts_.size() < workers) counts_.resize(workers);
    for (auto& c : counts_) c = worker_counts{};
  }

  // The deferred epochs, then the counts.
  propagate_stats finish(propagate_stats stats, epoch at) {
    if (defer_epochs_) {
      // Epochs of changed pages, written in the store's table order (see every_derived_page).
      // A byte per page (1 MB for 1M pages) is read at random here; the epochs' addresses ascend.
      for (std::size_t i = 0; i < plan_.by_table.size(); ++i)
        if ((plan_.changed[plan_.by_table[i]].load(std::memory_order_relaxed) & 1) != 0) *plan_.epochs_by_table[i] = at;
      defer_epochs_ = false;
    }
    for (const auto& c : counts_) {
      stats.recomputed += c.recomputed;
      stats.changed += c.changed;
    }
    return stats;
  }

  // Visits the marked cone `cone` (layout order).
  template <class E>
  propagate_stats sweep(std::span<const std::uint32_t> cone, std::uint32_t r, epoch at, E& ex) {
    propagate_stats stats;
    stats.cone = cone.size();
    if (cone.empty()) return stats;
    const std::size_t ahead = prefetch_ahead();
    const bool parallel = cone.size() > cone_sequential_limit && ex.concurrency() > 1;
    const std::size_t workers = parallel ? ex.concurrency() : 1;
    prepare_workers(workers);
    if (!parallel) {
      if (ahead == 0) {
        for (const std::uint32_t t : cone) visit<false>(t, r, at, 0, counts_[0]);
      } else {
        for (std::size_t k = 0; k < cone.size(); ++k) {
          if (k + ahead < cone.size()) prefetch_parents(cone[k + ahead]);
          visit<false>(cone[k], r, at, 0, counts_[0]);
        }
      }
    } else {
      next_block_->store(0, std::memory_order_relaxed);
      const std::size_t blocks = (cone.size() + block - 1) / block;
      ex.parallel_for(workers, [&](std::size_t, std::size_t w) {
        for (;;) {
          // Relaxed: claims only need to be unique and in order; `done` carries the data.
          const std::size_t b = next_block_->fetch_add(1, std::memory_order_relaxed);
          if (b >= blocks) return;
          const std::size_t end = std::min(cone.size(), (b + 1) * block);
          for (std::size_t k = b * block; k < std::min(end, b * block + ahead); ++k) prefetch_parents(cone[k]);
          for (std::size_t k = b * block; k < end; ++k) {
            if (k + ahead < end) prefetch_parents(cone[k + ahead]);
            visit<true>(cone[k], r, at, w, counts_[w]);
          }
        }
      });
    }
    return finish(stats, at);
  }

  // Asks the memory system early for what visiting page t will read at random: its parents'
  // stamps and elements (a sweep over a graph without locality is bound by these misses).
  template <bool Stamps = true>
  void prefetch_parents(std::uint32_t t) const noexcept {
    for (std::uint32_t k = plan_.in_begin[t]; k < plan_.in_begin[t + 1]; ++k) {
      TICKFLOW_PREFETCH(plan_.parent_data[k], 0, 3);
      if constexpr (Stamps) TICKFLOW_PREFETCH(&plan_.state[plan_.parents[k]], 0, 3);
    }
  }

  // One cone page: wait for its parents in the cone (parallel sweep), recompute it if a parent
  // changed, publish it done with its changed bit.
  template <bool Wait>
  TICKFLOW_ALWAYS_INLINE void visit(std::uint32_t t, std::uint32_t r, epoch at, std::size_t w, worker_counts& counts) noexcept {
    bool dirty = forced_run_ == r && std::binary_search(forced_.begin(), forced_.end(), t);
    const std::uint32_t changed_stamp = stamp(r, true);
    for (std::uint32_t k = plan_.in_begin[t]; k < plan_.in_begin[t + 1]; ++k) {
      const page_state& ps = plan_.state[plan_.parents[k]];
      if constexpr (Wait) {
        if (ps.cone == r) {
          // Acquire: pairs with the release that published the parent, so its bytes and its
          // changed bit are visible.
          for (unsigned spins = 0; (ps.done.load(std::memory_order_acquire) >> 1) != r; ++spins) {
            if (spins < 1024) cpu_relax();
            else std::this_thread::yield();
          }
        }
      }
      // Relaxed in the sequential sweep: one thread wrote every stamp it reads.
      dirty |= ps.done.load(Wait ? std::memory_order_acquire : std::memory_order_relaxed) == changed_stamp;
    }
    bool changed = false;
    if (dirty) {
      ++counts.recomputed;
      changed = recompute(t, w, at);
      counts.changed += changed ? 1 : 0;
    }
    // Release: publishes the page's bytes and changed bit to the pages that wait on it.
    plan_.state[t].done.store(stamp(r, changed), Wait ? std::memory_order_release : std::memory_order_relaxed);
  }

  // Writes the 64 bytes at `value` over `page` unless they are equal bit for bit; says whether
  // it wrote.
  static TICKFLOW_ALWAYS_INLINE bool write_line_if_changed(void* page, const void* value) noexcept {
    std::uint64_t a[8], b[8], diff = 0;
    std::memcpy(a, value, 64);
    std::memcpy(b, page, 64);
    for (int i = 0; i < 8; ++i) diff |= a[i] ^ b[i];
    if (diff == 0) return false;
    std::memcpy(page, a, 64);
    return true;
  }

  // Recomputes page t into worker w's scratch; writes it and the epoch if the bits differ.
  TICKFLOW_ALWAYS_INLINE bool recompute(std::uint32_t t, std::size_t w, epoch at) noexcept {
    const std::uint32_t k = plan_.in_begin[t], deg = plan_.in_begin[t + 1] - k;
    const std::uint32_t elements = plan_.elements[t];
    if constexpr (detail::is_semiring_kernel<Kernel> && std::is_same_v<T, W> && 64 % sizeof(T) == 0) {
      // The built-in kernel on one-line pages, straight from the plan's columns, compared and
      // written from registers.
      if (elements * sizeof(T) == 64) {
        T acc[64 / sizeof(T)];
        Kernel::template fold<64 / sizeof(T)>(acc, plan_.parent_data.data() + k, plan_.weights.data() + k, deg);
        if (!write_line_if_changed(plan_.data[t], acc)) return false;  // early cutoff
        if (!defer_epochs_) *plan_.epochs[t] = at;
        return true;
      }
    }
    T* const out = scratch_.data() + w * plan_.widest;
    {
      const parent_inputs<T, W> in{std::span<const T* const>(plan_.parent_data.data() + k, deg),
                                   std::span<const W>(plan_.weights.data() + k, deg),
                                   std::span<const edge_kind>(plan_.kinds.data() + k, deg)};
      kernel_(std::span<T>(out, elements), in);
    }
    T* const page = plan_.data[t];
    const std::size_t bytes = std::size_t{elements} * sizeof(T);
    if (bytes == 64) {  // one line: compared and copied inline
      if (!write_line_if_changed(page, out)) return false;  // early cutoff
    } else {
      if (std::memcmp(out, page, bytes) == 0) return false;  // early cutoff
      std::memcpy(page, out, bytes);
    }
    if (!defer_epochs_) *plan_.epochs[t] = at;
    return true;
  }


 public:
  /// Bytes the plan and the run scratch hold (capacities).
  [[nodiscard]] std::size_t memory_bytes() const noexcept {
    const plan& p = plan_;
    const std::size_t n = p.ids.size();
    return p.ids.capacity() * sizeof(page_id) + (p.data.capacity() + p.epochs.capacity() + p.parent_data.capacity() + p.epochs_by_table.capacity()) * sizeof(void*) +
           (p.elements.capacity() + p.in_begin.capacity() + p.out_begin.capacity() + p.parents.capacity() + p.children.capacity() +
            p.by_id_index.capacity() + p.derived.capacity() + p.sources.capacity() + p.by_table.capacity()) * 4 +
           p.weights.size() * sizeof(W) + p.kinds.capacity() * sizeof(edge_kind) + (p.changed_storage ? n + cache_line_size : 0) +
           (p.state ? n * sizeof(page_state) : 0) + (stack_.capacity() + cone_.capacity() + forced_.capacity()) * 4 +
           scratch_.size() * sizeof(T) + counts_.capacity() * sizeof(worker_counts);
  }

 private:
  Kernel kernel_;
  plan plan_;
  std::uint32_t run_ = 0;
  std::vector<std::uint32_t> stack_, cone_;
  std::vector<std::uint32_t> forced_;  // layout indexes of this run's forced pages, sorted
  std::uint32_t forced_run_ = 0;       // the run they belong to (0: none)
  std::uint8_t full_tag_ = 0;          // the tag of the last full sweep (see every_derived_page)
  bool defer_epochs_ = false;          // this run writes epochs after the sweep
  detail::flat_array<T> scratch_;
  std::vector<worker_counts> counts_;
  // alignas (via cache_padded): every worker's claims hit this counter.
  cache_padded<std::atomic<std::size_t>> next_block_{0};
};

}  // namespace tickflow
