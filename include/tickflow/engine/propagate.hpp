/// @file
/// tickflow/engine/propagate.hpp — recomputing derived pages over the dirty cone, in topological order.
///
/// Contract
///   * Values: every page of the graph is viewed as an array of T (page bytes / sizeof(T)
///     elements). A derived page (one with parents) is value(c)[i] = combine of its parents'
///     values[i]; a source page is what deltas wrote. T's object representation must be valid in
///     every page (for bool: bytes 0 and 1 only).
///   * Kernels: k(out, in) with out the child's elements (`std::span<T>`, unspecified on entry) and
///     in a `parent_inputs<T, W>`: the parents' element pointers, the edge weights and edge kinds,
///     in the fixed order (parents by increasing page id). A kernel must be noexcept and pure: out
///     may depend on `in` only (propagation_kernel checks the signature; suite 04 checks purity).
///     `semiring_kernel<S>` computes out[i] = ⊕_p w_p ⊗ v_p[i], folded from S::zero() in the fixed
///     order.
///   * rebuild(store, graph, layout) plans the graph's pages in topological order (the graph's
///     order of positions), with each page's parents (and their data pointers, weights, kinds) and
///     children. With store_layout::topological (the default) it also moves the pages in the
///     store into that order (page_store::relayout: ids, bytes and epochs unchanged, pointers
///     into the store invalidated), so that a sweep reads and writes memory in address order
///     and a parent near its child in the order is near it in memory. Errors, with nothing
///     changed:
///     errc::not_found (a graph page that is not alive in the store; detail: the page id),
///     errc::invalid_argument (a page whose size is not a whole number of T, or a derived page
///     whose element count differs from a parent's; detail: the page id). The plan holds pointers
///     into the store: after pages are added to or removed from the graph, either rebuild or
///     call add_pages (before update takes edits that link them) and remove_pages (after update
///     took the edits that unlinked them); after the store moves pages (page_store::compact),
///     either rebuild or call repoint(id, to) for each move. The epochs live in the store's id
///     table, which a create may grow (page_store::table_address): add_pages and update take the
///     epoch pointers again when it moved, before anything else reads them.
///   * add_pages / remove_pages take pages without edges in and out in O(pages named): a new
///     page gets a layout index (one a removed page freed, else a new one at the end of the
///     columns) and its graph position; a removed page's index is freed. No relayout, no pass
///     over the plan.
///   * update(store, graph, edits) takes committed edge edits in without a rebuild: each edited child's
///     parent list and each parent's child list is patched in place (a list that outgrows its
///     room moves to the end of the edge columns, with twice its entries; the columns are packed
///     again, in one O(edges) pass, when their end is reached, which a quarter of room amortises
///     over many updates); the sweep order is read again from the graph over the positions its
///     order moved (page_graph::moved_positions), nothing else. Pages stay where they are in
///     memory (no relayout): a page the edits moved in the order is swept at its new position.
///     The result of a run after update (and add_pages, remove_pages) is the result after a
///     rebuild, bit for bit.
///   * run(changed, at, ex): the source pages in `changed` (sources a step wrote; pages not in
///     the graph are ignored) count as changed; a derived page there is taken as forced (below):
///     recomputed, so that it ends equal to its parents' combination, as in a full recompute.
///     The cone (everything downstream of them) is marked first,
///     unless `changed` holds more than pages() / 16 pages or the marking walk finds that many:
///     then every derived page is examined (a superset of the cone, cheaper than marking it; the
///     pages outside the cone have no changed parent and are not recomputed, so the result is
///     the same).
///     When every derived page is examined, the epochs of the changed pages are written after
///     the sweep, in the store's table (page id) order, instead of during it: they live in the
///     store's id table, where the sweep's order makes them random writes.
///     `forced` pages (derived pages whose parent set changed, e.g. after a graph edit) are
///     recomputed in this run even if no parent changed, and their cones are marked as for a
///     changed page; sources and pages not in the plan are ignored there.
///     Then every cone page whose parents include a changed page is recomputed into scratch, in
///     topological order; if the result differs from the page's bytes (bit for bit) it is
///     written, takes epoch `at` and counts as changed; otherwise it is left as it was and changes
///     nothing below it (early cutoff). Pages outside the cone are not touched. run_all(at, ex)
///     recomputes every derived page the same way (a first propagation, or a check).
///   * Order: sweeps visit pages in the graph's topological order (its positions, as of the
///     build or the last update), which a plan keeps as a sequence of its own page indexes.
///   * Schedule (a dataflow sweep, not levels: levels can be many and small, as in W-local's
///     2,409 levels of ~400 pages, and a barrier per level idles the workers at every level's
///     tail): a small cone (at most cone_sequential_limit
///     pages) is worked on the caller in topological order. A larger one is swept by all workers
///     of the executor: blocks of consecutive pages (in topological order) are claimed in order
///     from one counter; a page waits (spins, then yields) until each of its parents in the cone
///     is done, then is computed, then is published done (release; the waiter's acquire sees its
///     bytes). Claims are in order and a worker waits only for earlier pages, all claimed by
///     running workers, so the sweep cannot deadlock, however the executor schedules its tasks.
///     When every derived page is examined, the blocks are spans of span_pages consecutive
///     positions, and a page's done mark and changed bit are one byte (one cache line per span
///     where positions follow the build's order, written by one worker), instead of the cone's
///     8-byte stamps.
///   * Determinism: each page depends only on its parents' final values, combined in the fixed
///     order, so the result (bytes, epochs, counts) is bit-identical for every executor and
///     worker count, and equal to a full sequential recompute in topological order.
///   * Allocation: rebuild allocates the plan; update allocates scratch, and the packed columns
///     when it packs them; run allocates only to grow its scratch (the cone list, per-worker
///     buffers) the first time a larger cone or executor is seen.
///
/// Thread-safety: one call at a time; the store and graph must not change during a call.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <thread>
#include <type_traits>
#include <unordered_map>
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
  std::span<const W> weights;  ///< each edge's weight, parallel to values
  std::span<const edge_kind> kinds;  ///< each edge's kind, parallel to values
};

/// A custom kernel: a noexcept callable (std::span<T> out, const parent_inputs<T, W>&).
template <class K, class T, class W>
concept propagation_kernel = std::is_nothrow_invocable_v<const K&, std::span<T>, const parent_inputs<T, W>&>;

/// The built-in kernel of a semiring: out[i] = ⊕_p w_p ⊗ v_p[i], from S::zero(), in order.
template <semiring S>
struct semiring_kernel {
  /// The value type.
  using T = typename S::value_type;
  /// out[i] = ⊕_p w_p ⊗ v_p[i] over the parents in order, from S::zero().
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
  // Uninitialised (trivial X): the part never written is never touched, so not resident.
  void assign_for_overwrite(std::size_t n) {
    data_ = std::make_unique_for_overwrite<X[]>(n);
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
  /// Stats compare field by field.
  friend bool operator==(const propagate_stats&, const propagate_stats&) = default;
};

/// One committed edge edit, for propagator::update: an insertion (with its weight and kind) or
/// a removal of parent -> child.
template <class W>
struct plan_edit {
  page_id parent;                    ///< the edge's parent
  page_id child;                     ///< the edge's child
  W weight{};                        ///< an insertion's weight
  edge_kind kind = edge_kind::data;  ///< an insertion's kind
  bool insert = false;               ///< true: an insertion; false: a removal
};

/// Recomputes derived pages over the dirty cone in topological order, from a plan of the graph kept in step with its edits (see the file contract).
template <class T, class W, propagation_kernel<T, W> Kernel>
  requires std::is_trivially_copyable_v<T> && (alignof(T) <= cache_line_size)
class propagator {
 public:
  /// A propagator with no plan yet (rebuild makes one).
  explicit propagator(Kernel kernel = Kernel{}) : kernel_(std::move(kernel)) {}

  /// Builds the plan (see the file contract); on error the previous plan is kept.
  result<void> rebuild(page_store& store, const page_graph<W>& graph, store_layout layout = store_layout::topological) {
    plan p;
    const auto view = graph.node_csr();
    const std::size_t slots = view.page_of.size();
    // Topological order: positions are a permutation of the node slots.
    std::vector<std::uint32_t> by_position(slots);
    for (std::uint32_t u = 0; u < slots; ++u) by_position[graph.position(u)] = u;
    std::vector<std::uint32_t> at_of(slots, no_page);
    for (std::uint32_t u : by_position) {
      if (view.page_of[u] == page_id{}) continue;
      at_of[u] = static_cast<std::uint32_t>(p.ids.size());
      const page_id id = view.page_of[u];
      const auto h = store.peek_handle(id);  // a cold page stays cold here (see below)
      if (h.at == nullptr) return unexpected(errc::not_found, id.value(), "graph page not alive in the store");
      if (h.bytes % sizeof(T) != 0) return unexpected(errc::invalid_argument, id.value(), "page size is not a whole number of elements");
      p.ids.push_back(id);
      p.elements.push_back(h.bytes / static_cast<std::uint32_t>(sizeof(T)));
    }
    const std::size_t n = p.ids.size();
    const auto edges = graph.edge_list();
    if (edges.size() >= no_page / 2) return unexpected(errc::invalid_argument, edges.size(), "too many edges for one plan");
    // Parents of every page, by increasing page id, with weights and kinds; children. Packed in
    // layout order, with room for later insertions at the end of the columns (see update).
    std::vector<std::uint32_t> in_first(n + 1, 0), out_first(n + 1, 0);
    for (const auto& e : edges) {
      ++in_first[at_of[*graph.node(e.child)] + 1];
      ++out_first[at_of[*graph.node(e.parent)] + 1];
    }
    for (std::size_t t = 0; t < n; ++t) {
      in_first[t + 1] += in_first[t];
      out_first[t + 1] += out_first[t];
    }
    struct in_edge {
      page_id parent;
      std::uint32_t from;
      W weight;
      edge_kind kind;
    };
    const std::size_t m = edges.size(), room = column_room(m);
    std::vector<in_edge> in(m);
    p.children.assign_for_overwrite(room);
    {
      std::vector<std::uint32_t> in_fill(in_first.begin(), in_first.end() - 1), out_fill(out_first.begin(), out_first.end() - 1);
      for (const auto& e : edges) {
        const std::uint32_t from = at_of[*graph.node(e.parent)], to = at_of[*graph.node(e.child)];
        in[in_fill[to]++] = in_edge{e.parent, from, e.weight, e.kind};
        p.children[out_fill[from]++] = to;
      }
    }
    p.parents.assign_for_overwrite(room);
    p.parent_data.assign_for_overwrite(room);
    p.weights.assign_for_overwrite(room);
    p.kinds.assign_for_overwrite(room);
    p.in_top = p.in_live = p.out_top = p.out_live = m;
    std::uint32_t widest = 0;
    for (std::size_t t = 0; t < n; ++t) {
      auto first = in.begin() + in_first[t], last = in.begin() + in_first[t + 1];
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
    p.in_begin.assign(in_first.begin(), in_first.end() - 1);
    p.in_end.assign(in_first.begin() + 1, in_first.end());
    p.in_cap = p.in_end;
    p.out_begin.assign(out_first.begin(), out_first.end() - 1);
    p.out_end.assign(out_first.begin() + 1, out_first.end());
    p.out_cap = p.out_end;
    // Page id -> layout index, through the id's table index (dense, no hashing on the hot path).
    {
      std::size_t top = 0;
      for (const page_id id : p.ids) top = std::max<std::size_t>(top, (id.value() >> 32) + 1);
      p.by_id_index.assign(top, no_page);
      for (std::uint32_t t = 0; t < n; ++t) p.by_id_index[p.ids[t].value() >> 32] = t;
    }
    // The sweep order: the graph's positions (dead node slots are holes).
    p.seq.assign(slots, no_page);
    p.rank.assign(n, 0);
    for (std::uint32_t pos = 0; pos < slots; ++pos) {
      const std::uint32_t t = at_of[by_position[pos]];
      p.seq[pos] = t;
      if (t != no_page) p.rank[t] = pos;
    }
    p.numbering = graph.numbering();
    for (std::uint32_t t = 0; t < n; ++t)
      if (p.in_end[t] != p.in_begin[t]) p.by_table.push_back(t);
    p.derived_count = p.by_table.size();
    {
      // Prefetch parents in sweeps when many of them are far behind their child in memory
      // (beyond what the core's caches keep of a sweep's recent pages): see far_bytes.
      std::size_t far = 0;
      for (std::uint32_t t = 0; t < n; ++t)
        for (std::uint32_t k = p.in_begin[t]; k < p.in_end[t]; ++k)
          if (std::size_t{t - p.parents[k]} * p.elements[t] * sizeof(T) > far_bytes) ++far;
      p.parents_far = far * 4 > m;
    }
    std::sort(p.by_table.begin(), p.by_table.end(), [&](std::uint32_t a, std::uint32_t b) { return p.ids[a] < p.ids[b]; });
    p.table_slot.assign(n, no_page);
    for (std::uint32_t i = 0; i < p.by_table.size(); ++i) p.table_slot[p.by_table[i]] = i;
    p.sink = std::make_unique<epoch>();
    // Tag 0 in every byte; full sweeps start at tag 1.
    p.changed_storage = std::make_unique<std::atomic<std::uint8_t>[]>(n + cache_line_size);
    p.changed = p.changed_storage.get() + (cache_line_size - reinterpret_cast<std::uintptr_t>(p.changed_storage.get()) % cache_line_size) % cache_line_size;
    p.data.resize(n);
    p.epochs.resize(n);
    p.state = std::make_unique<page_state[]>(n);
    p.state_cap = n;
    p.node_of.assign(n, no_page);
    for (std::uint32_t u = 0; u < slots; ++u)
      if (at_of[u] != no_page) p.node_of[at_of[u]] = u;
    p.t_of_node = std::move(at_of);
    // Last, once nothing else can fail: cold pages with edges come back (their bytes unchanged;
    // a page without edges is never read by a sweep and may stay cold, with no pointer), the
    // move (which has the strong guarantee itself), then the pointers, which it changes.
    std::vector<page_id> hot;
    hot.reserve(n);
    for (std::uint32_t t = 0; t < n; ++t) {
      const bool linked = p.in_end[t] != p.in_begin[t] || p.out_end[t] != p.out_begin[t];
      if (linked) (void)store.handle(p.ids[t]);  // thaws a cold page
      if (linked || !store.is_cold(p.ids[t])) hot.push_back(p.ids[t]);
    }
    if (layout == store_layout::topological) {
      if (auto moved = store.relayout(hot); !moved) return moved;
    }
    for (std::size_t t = 0; t < n; ++t) {
      const auto h = store.peek_handle(p.ids[t]);
      p.data[t] = reinterpret_cast<T*>(h.data);
      p.epochs[t] = h.at;
    }
    p.epochs_by_table.resize(p.by_table.size());
    for (std::size_t i = 0; i < p.by_table.size(); ++i) p.epochs_by_table[i] = p.epochs[p.by_table[i]];
    for (std::size_t k = 0; k < m; ++k) p.parent_data[k] = p.data[p.parents[k]];
    p.table = store.table_address();
    plan_ = std::move(p);
    run_ = 0;
    full_tag_ = 0;  // the new plan's bytes hold tag 0
    defer_epochs_ = false;
    return {};
  }

  /// Takes committed edge edits into the plan without rebuilding it (see the file contract).
  /// `edits` are the edits committed to `graph` since the plan was built or last updated, in
  /// commit order; graph.moved_positions() must list every position the graph's order moved
  /// since then (the engine clears it after each rebuild and update). Errors, with the plan
  /// unchanged: errc::invalid_argument when the plan cannot follow (the graph has node slots the
  /// plan has not taken in with add_pages, or was renumbered, since the build; or an insertion
  /// joins pages of different element counts; detail: the edit's index), errc::not_found (an
  /// edit names a page not in the plan, e.g. one added to the graph but not to the plan;
  /// detail: the edit's index). An edit the graph did not commit (a removal of an edge the plan
  /// does not hold) is errc::corrupt_data, and leaves the plan empty: rebuild it.
  /// Allocation: only when the columns' room runs out (a compaction, O(edges), amortised over
  /// many updates) and for scratch; std::bad_alloc leaves the plan unchanged.
  result<void> update(page_store& store, const page_graph<W>& graph, std::span<const plan_edit<W>> edits) {
    inline_executor one;
    return update(store, graph, edits, one);
  }
  /// The same, with the packing of the columns (when due) spread over `ex`'s workers; the plan
  /// it leaves does not depend on the executor.
  template <executor E>
  result<void> update(page_store& store, const page_graph<W>& graph, std::span<const plan_edit<W>> edits, E& ex) {
    if (graph.numbering() != plan_.numbering || graph.node_slots() != plan_.seq.size())
      return unexpected(errc::invalid_argument, 0, "the graph's node slots or numbering changed since the plan took them in: add_pages or rebuild");
    // Resolve, check and count the room the columns need, before anything changes.
    edit_at_.clear();
    edit_at_.reserve(edits.size());
    for (std::size_t i = 0; i < edits.size(); ++i) {
      const plan_edit<W>& e = edits[i];
      const std::uint32_t tp = layout_index(e.parent), tc = layout_index(e.child);
      if (tp == no_page || tc == no_page) return unexpected(errc::not_found, i, "an edit names a page not in the plan");
      if (e.insert && plan_.elements[tp] != plan_.elements[tc])
        return unexpected(errc::invalid_argument, i, "an edge joins pages of different element counts");
      edit_at_.emplace_back(tp, tc);
    }
    auto need = room_needed(edits);
    if (!need) return unexpected(need.error());
    std::size_t inserts = 0;
    for (const auto& e : edits) inserts += e.insert ? 1 : 0;
    std::vector<std::pair<std::uint32_t, std::uint32_t>> moved(graph.moved_positions().begin(), graph.moved_positions().end());
    for (const auto& [lo, hi] : moved)
      if (lo > hi || hi >= plan_.seq.size()) return unexpected(errc::invalid_argument, hi, "a moved position is outside the graph's order");
    std::sort(moved.begin(), moved.end());
    plan_.by_table.reserve(plan_.by_table.size() + inserts);
    plan_.epochs_by_table.reserve(plan_.by_table.size() + inserts);
    // A compaction leaves every list without room, so the need is counted again after it; a
    // second compaction (room for that need) is then always enough.
    for (int pass = 0; pass < 2 && (plan_.in_top + need->first > plan_.parents.size() || plan_.out_top + need->second > plan_.children.size()); ++pass) {
      if (plan_.in_top + need->first > plan_.parents.size()) compact_in(need->first, ex);
      if (plan_.out_top + need->second > plan_.children.size()) compact_out(need->second, ex);
      need = room_needed(edits);
    }
    // The pages an insertion links may have been cold, or thawed since the plan took their
    // pointers (a page without edges is not read by sweeps): their pointers are taken again
    // (thawing a cold one; its bytes do not change).
    for (std::size_t i = 0; i < edits.size(); ++i)
      if (edits[i].insert)
        for (const std::uint32_t t : {edit_at_[i].first, edit_at_[i].second}) plan_.data[t] = reinterpret_cast<T*>(store.handle(plan_.ids[t]).data);
    // From here nothing allocates or fails (but for an edit the graph did not commit).
    follow_table(store);
    for (std::size_t i = 0; i < edits.size(); ++i) {
      const auto [tp, tc] = edit_at_[i];
      if (edits[i].insert) {
        insert_parent(tc, tp, edits[i].weight, edits[i].kind);
        insert_child(tp, tc);
      } else if (!remove_parent(tc, tp) || !remove_child(tp, tc)) {
        plan_ = plan{};
        return unexpected(errc::corrupt_data, i, "an edit removes an edge the plan does not hold: plan cleared, rebuild it");
      }
    }
    // The order: every position in a moved interval is read again from the graph.
    std::uint64_t done = 0;  // positions below are current
    for (const auto& [lo, hi] : moved) {
      for (std::uint64_t pos = std::max<std::uint64_t>(lo, done); pos <= hi; ++pos) {
        const std::uint32_t t = plan_.t_of_node[graph.node_at_position(static_cast<std::uint32_t>(pos))];
        plan_.seq[pos] = t;
        if (t != no_page) plan_.rank[t] = static_cast<std::uint32_t>(pos);
      }
      done = std::max<std::uint64_t>(done, std::uint64_t{hi} + 1);
    }
    return {};
  }

  /// A page of the plan now lives at `to` (the store moved it: page_store::compact): the plan's
  /// pointers to it follow, its own and those of its children's in-edges. O(sum of its
  /// children's in-degrees); a page not in the plan is ignored. Does not allocate.
  void repoint(page_id id, const std::byte* to) noexcept {
    const std::uint32_t t = layout_index(id);
    if (t == no_page) return;
    T* const d = reinterpret_cast<T*>(const_cast<std::byte*>(to));
    plan_.data[t] = d;
    for (std::uint32_t k = plan_.out_begin[t]; k < plan_.out_end[t]; ++k) {
      const std::uint32_t c = plan_.children[k];
      for (std::uint32_t j = plan_.in_begin[c]; j < plan_.in_end[c]; ++j)
        if (plan_.parents[j] == t) plan_.parent_data[j] = d;
    }
  }

  /// Pages added to the graph (page_graph::add_page) since the plan was built or last took
  /// pages in join it without a rebuild: with no edges (edge edits that link them follow through
  /// update), at their graph positions. A layout index freed by remove_pages is reused first.
  /// Ids the graph does not hold, or that the plan holds already, are skipped (a page added and
  /// removed again in between). Call it before update takes in edits that name the new pages.
  /// Errors, with the plan unchanged: errc::invalid_argument (the graph was renumbered since the
  /// build; or a page whose size is not a whole number of T; detail: the page id), errc::not_found
  /// (a page not alive in the store; detail: the page id). Allocation: the per-page columns grow,
  /// by half at least; std::bad_alloc leaves the plan unchanged. O(added) otherwise.
  result<void> add_pages(page_store& store, const page_graph<W>& graph, std::span<const page_id> added) {
    plan& p = plan_;
    if (graph.numbering() != p.numbering || graph.node_slots() < p.seq.size())
      return unexpected(errc::invalid_argument, 0, "the graph was renumbered since the plan was built: rebuild");
    const auto joins = [&](page_id id) { return graph.contains(id) && layout_index(id) == no_page; };
    std::size_t fresh = 0, top = p.by_id_index.size();
    for (const page_id id : added) {
      if (!joins(id)) continue;
      const auto h = store.peek_handle(id);  // a cold page stays cold: nothing reads it until an edge links it
      if (h.at == nullptr) return unexpected(errc::not_found, id.value(), "graph page not alive in the store");
      if (h.bytes % sizeof(T) != 0) return unexpected(errc::invalid_argument, id.value(), "page size is not a whole number of elements");
      ++fresh;
      top = std::max<std::size_t>(top, (id.value() >> 32) + 1);
    }
    if (fresh == 0 && graph.node_slots() == p.seq.size()) return {};
    // Everything that can allocate, first. (A page named twice counts twice here: room to spare.)
    const std::size_t reused = std::min(fresh, p.free_t.size());
    const std::size_t need = p.ids.size() + fresh - reused;
    if (need > p.ids.capacity()) {
      const std::size_t cap = std::max(need, p.ids.size() + p.ids.size() / 2);
      p.ids.reserve(cap);
      p.data.reserve(cap);
      p.epochs.reserve(cap);
      for (auto* v : {&p.elements, &p.in_begin, &p.in_end, &p.in_cap, &p.out_begin, &p.out_end, &p.out_cap, &p.rank, &p.table_slot, &p.node_of})
        v->reserve(cap);
    }
    if (need > p.state_cap) {
      const std::size_t cap = std::max(need, p.state_cap + p.state_cap / 2);
      auto state = std::make_unique<page_state[]>(cap);
      auto changed_storage = std::make_unique<std::atomic<std::uint8_t>[]>(cap + cache_line_size);
      auto* changed = changed_storage.get() + (cache_line_size - reinterpret_cast<std::uintptr_t>(changed_storage.get()) % cache_line_size) % cache_line_size;
      for (std::size_t t = 0; t < p.ids.size(); ++t) {
        state[t].cone = p.state[t].cone;
        state[t].done.store(p.state[t].done.load(std::memory_order_relaxed), std::memory_order_relaxed);
        changed[t].store(p.changed[t].load(std::memory_order_relaxed), std::memory_order_relaxed);
      }
      p.state = std::move(state);
      p.changed_storage = std::move(changed_storage);
      p.changed = changed;
      p.state_cap = cap;
    }
    p.by_id_index.resize(top, no_page);
    p.t_of_node.resize(graph.node_slots(), no_page);
    p.seq.resize(graph.node_slots(), no_page);
    // A new page may hold a table index whose previous page the store released while the plan
    // still holds it (an engine takes released pages out after the edits that unlinked them):
    // that page stays reachable by id through `retired` until remove_pages.
    for (const page_id id : added) {
      if (!joins(id)) continue;
      if (const std::uint32_t old = p.by_id_index[id.value() >> 32]; old != no_page && p.ids[old] != page_id{} && p.ids[old] != id)
        p.retired.emplace(p.ids[old].value(), old);
    }
    // From here nothing allocates or fails.
    for (const page_id id : added) {
      if (!joins(id)) continue;
      const auto h = store.peek_handle(id);
      std::uint32_t t;
      if (!p.free_t.empty()) {
        t = p.free_t.back();
        p.free_t.pop_back();
      } else {
        t = static_cast<std::uint32_t>(p.ids.size());
        p.ids.emplace_back();
        p.data.push_back(nullptr);
        p.epochs.push_back(nullptr);
        for (auto* v : {&p.elements, &p.in_begin, &p.in_end, &p.in_cap, &p.out_begin, &p.out_end, &p.out_cap, &p.rank, &p.node_of}) v->push_back(0);
        p.table_slot.push_back(no_page);  // a reused index keeps its entry in by_table (see insert_parent)
      }
      const std::uint32_t u = *graph.node(id), pos = graph.position(u);
      p.ids[t] = id;
      p.data[t] = reinterpret_cast<T*>(h.data);
      p.epochs[t] = h.at;
      p.elements[t] = h.bytes / static_cast<std::uint32_t>(sizeof(T));
      p.widest = std::max(p.widest, p.elements[t]);
      p.in_begin[t] = p.in_end[t] = p.in_cap[t] = 0;  // empty, without room: the first insertion moves the list
      p.out_begin[t] = p.out_end[t] = p.out_cap[t] = 0;
      p.rank[t] = pos;
      p.node_of[t] = u;
      p.t_of_node[u] = t;
      p.seq[pos] = t;
      p.by_id_index[id.value() >> 32] = t;
      p.state[t].cone = 0;
      p.state[t].done.store(0, std::memory_order_relaxed);
      // The last full sweep's tag: never the next one's, which every page in the order gets.
      p.changed[t].store(tag_byte(false), std::memory_order_relaxed);
    }
    follow_table(store);
    return {};
  }

  /// The store's id table grew since the plan took its epoch pointers (page_store::table_address):
  /// every page's epoch pointer is taken again, O(pages), which the table's geometric growth makes
  /// rare. Does not allocate.
  void follow_table(page_store& store) noexcept {
    plan& p = plan_;
    if (store.table_address() == p.table) return;
    for (std::size_t t = 0; t < p.ids.size(); ++t)
      if (p.ids[t] != page_id{}) p.epochs[t] = store.peek_handle(p.ids[t]).at;
    for (std::size_t i = 0; i < p.by_table.size(); ++i) {
      const std::uint32_t t = p.by_table[i];
      p.epochs_by_table[i] = p.ids[t] != page_id{} && p.in_begin[t] != p.in_end[t] ? p.epochs[t] : p.sink.get();
    }
    p.table = store.table_address();
  }

  /// Pages removed from the graph (page_graph::remove_page) since the plan last took pages out
  /// leave it without a rebuild; their layout indexes are reused by add_pages. Each must have no
  /// edge left in the plan: take the edits that unlinked them in first (update). Ids the plan does
  /// not hold are skipped. Errors, with the plan unchanged: errc::invalid_argument (a page still
  /// in the graph, or with edges in the plan; detail: the page id). Allocation: the free list
  /// grows; std::bad_alloc leaves the plan unchanged. O(removed) otherwise.
  result<void> remove_pages(const page_graph<W>& graph, std::span<const page_id> removed) {
    plan& p = plan_;
    for (const page_id id : removed) {
      const std::uint32_t t = layout_index(id);
      if (t == no_page) continue;
      if (graph.contains(id)) return unexpected(errc::invalid_argument, id.value(), "a page still in the graph cannot leave the plan");
      if (p.in_begin[t] != p.in_end[t] || p.out_begin[t] != p.out_end[t])
        return unexpected(errc::invalid_argument, id.value(), "a page with edges in the plan cannot leave it: update first");
    }
    p.free_t.reserve(p.free_t.size() + removed.size());
    for (const page_id id : removed) {
      const std::uint32_t t = layout_index(id);
      if (t == no_page) continue;  // skipped, or named twice
      if (p.by_id_index[id.value() >> 32] == t) p.by_id_index[id.value() >> 32] = no_page;
      p.retired.erase(id.value());
      p.ids[t] = page_id{};
      p.data[t] = nullptr;
      p.epochs[t] = nullptr;
      // The node and the position may belong to a page add_pages took in since (the graph
      // reuses node slots): cleared only if they are still this one's.
      if (const std::uint32_t u = p.node_of[t]; u < p.t_of_node.size() && p.t_of_node[u] == t) p.t_of_node[u] = no_page;
      if (const std::uint32_t pos = p.rank[t]; pos < p.seq.size() && p.seq[pos] == t) p.seq[pos] = no_page;
      p.free_t.push_back(t);
    }
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
    const std::size_t large = pages() / 16;
    if (changed.size() > large && ex.concurrency() > 1 && changed.size() >= 2 * stamp_chunk_rows) {
      // Every derived page will be examined (below): the changed pages only need their stamps,
      // which workers set over contiguous chunks (random lookups in tables sized by the pages;
      // 100k of them took ~5 ms on the caller alone). Duplicates store the same stamp; the
      // forced pages are joined in chunk order, then sorted.
      const std::size_t chunks = std::min(4 * ex.concurrency(), changed.size() / stamp_chunk_rows);
      if (chunk_forced_.size() < chunks) chunk_forced_.resize(chunks);
      ex.parallel_for(chunks, [&](std::size_t c, std::size_t) {
        chunk_forced_[c].clear();
        stamp_changed(changed, changed.size() * c / chunks, changed.size() * (c + 1) / chunks, r, chunk_forced_[c], nullptr);
      });
      for (std::size_t c = 0; c < chunks; ++c) forced_.insert(forced_.end(), chunk_forced_[c].begin(), chunk_forced_[c].end());
    } else {
      stamp_changed(changed, 0, changed.size(), r, forced_, &stack_);
    }
    // Forced pages (derived ones only) are in the cone, recomputed whatever their parents did.
    for (const page_id id : forced)
      if (const std::uint32_t t = layout_index(id); t != no_page && plan_.in_end[t] != plan_.in_begin[t]) forced_.push_back(t);
    forced_run_ = forced_.empty() ? 0 : r;
    std::sort(forced_.begin(), forced_.end());
    forced_.erase(std::unique(forced_.begin(), forced_.end()), forced_.end());
    // Their positions too: a full sweep walks them beside its own (no search per page).
    forced_pos_.clear();
    for (const std::uint32_t t : forced_) forced_pos_.push_back(plan_.rank[t]);
    std::sort(forced_pos_.begin(), forced_pos_.end());
    for (const std::uint32_t t : forced_)
      if (plan_.state[t].cone != r) {
        plan_.state[t].cone = r;
        cone_.push_back(t);
        stack_.push_back(t);
      }
    // A large cone: every derived page instead (see the contract). Large = more than a
    // sixteenth of the pages changed, or the marking walk found that many: past that, the
    // walk's random accesses cost more than one in-order pass over all pages.
    bool stamped_in_order = changed.size() > large;
    while (!stamped_in_order && !stack_.empty()) {
      const std::uint32_t t = stack_.back();
      stack_.pop_back();
      for (std::size_t k = plan_.out_begin[t]; k < plan_.out_end[t]; ++k) {
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
      const propagate_stats stats = every_derived_page(r, at, ex);
      release_large_scratch();
      return stats;
    }
    // Topological order: by position (a cone of at most pages() / 16 pages, sorted).
    cone_keys_.clear();
    for (const std::uint32_t t : cone_) cone_keys_.push_back((std::uint64_t{plan_.rank[t]} << 32) | t);
    std::sort(cone_keys_.begin(), cone_keys_.end());
    for (std::size_t i = 0; i < cone_.size(); ++i) cone_[i] = static_cast<std::uint32_t>(cone_keys_[i]);
    const propagate_stats stats = sweep(cone_, r, at, ex);
    release_large_scratch();
    return stats;
  }
  /// Recomputes every derived page (see the file contract).
  template <executor E>
  propagate_stats run_all(epoch at, E& ex) {
    const std::uint32_t r = next_run();
    for (std::uint32_t t = 0; t < slots(); ++t)  // every source counts as changed (removed pages too: harmless)
      if (plan_.in_end[t] == plan_.in_begin[t]) plan_.state[t].done.store(stamp(r, true), std::memory_order_relaxed);
    return every_derived_page(r, at, ex);
  }

  /// Cones of at most this many pages are worked on the caller alone (see the file contract).
  std::size_t cone_sequential_limit = 4096;
  /// Full sweeps of plans of at least adapt_min_pages positions choose between all of the
  /// executor's workers and the caller alone, by what each costs per page right now (results
  /// never depend on it). Where workers share parents' lines across cores at a cost that the
  /// host can change from one second to the next (this machine's two vCPUs: a two-worker sweep of
  /// W-local took 25 ms or 70 ms by period, one worker 31 ms in both), one fixed choice loses in
  /// one of the periods. How: the first sixteenth of the order is swept with all workers and
  /// timed; every adapt_calibrate_every-th full sweep it is swept by the caller alone instead,
  /// which times that mode; the rest of the sweep runs in the mode with the lower last time per
  /// page. false: always all workers.
  bool adapt_workers = true;
  std::size_t adapt_min_pages = std::size_t{1} << 18;  ///< adaptive sweeps: the fewest derived pages a sweep must have to be timed and chosen
  std::size_t adapt_calibrate_every = 8;  ///< adaptive sweeps: every this-many-th full sweep times the caller alone
  /// Whether the last adaptive full sweep ran its larger part with all workers (see adapt_workers).
  [[nodiscard]] bool last_sweep_used_all_workers() const noexcept { return all_workers_last_; }
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
  static constexpr std::size_t far_bytes = std::size_t{1} << 20;  ///< a parent more than this many bytes of pages behind its child counts as far (prefetch_policy::automatic)
  /// Pages per span of a full sweep (see every_derived_page): one cache line of changed bytes.
  static constexpr std::size_t span_pages = cache_line_size;
  static constexpr std::size_t sweep_ahead = 8;  ///< full sweeps: pages ahead whose own lines are fetched

  /// Pages in the plan.
  [[nodiscard]] std::size_t pages() const noexcept { return plan_.ids.size() - plan_.free_t.size(); }
  /// Edges in the plan.
  [[nodiscard]] std::size_t edges() const noexcept { return plan_.in_live; }
  /// Times update packed the plan's edge columns (see update).
  [[nodiscard]] std::size_t compactions() const noexcept { return compactions_; }

 private:
  // Per page, stamped with run numbers (never cleared): `cone` = the last run whose cone held
  // the page; `done` = (run << 1) | changed, stored when the page is finished in that run (its
  // changed bit is published with it). 8 bytes: a parent's stamps are one load each.
  struct page_state {
    std::uint32_t cone = 0;
    std::atomic<std::uint32_t> done{0};
  };
  static constexpr std::uint32_t stamp(std::uint32_t r, bool changed) noexcept { return (r << 1) | (changed ? 1U : 0U); }

  // The plan, as parallel arrays by layout index (the pages' order at the build, topological
  // then and the order of the pages in memory), and the sweep order (positions of the graph's
  // order, kept current by update). The sweep streams through the columns it needs.
  struct plan {
    std::vector<page_id> ids;
    std::vector<T*> data;
    std::vector<epoch*> epochs;
    std::vector<std::uint32_t> elements;
    // Per page: its in-edges are entries [in_begin, in_end) of the in-edge columns (parents,
    // parent_data, weights, kinds), with room up to in_cap; its children [out_begin, out_end)
    // of `children`, room up to out_cap. A list that outgrows its room moves to the columns'
    // end (update); the columns are packed again when their end is reached.
    std::vector<std::uint32_t> in_begin, in_end, in_cap, out_begin, out_end, out_cap;
    detail::flat_array<std::uint32_t> parents;   // per in-edge, in the fixed order: the parent's layout index
    detail::flat_array<const T*> parent_data;     // per in-edge: the parent's elements (no second lookup)
    detail::flat_array<W> weights;
    detail::flat_array<edge_kind> kinds;
    std::size_t in_top = 0, in_live = 0;          // in-edge entries used (lists, room and holes), in lists
    detail::flat_array<std::uint32_t> children;   // per out-edge: the child's layout index
    std::size_t out_top = 0, out_live = 0;
    std::vector<std::uint32_t> by_id_index;       // page id's table index -> layout index, or no_page
    std::vector<std::uint32_t> seq;               // position in the graph's order -> layout index (no_page: a dead slot)
    std::vector<std::uint32_t> rank;              // layout index -> position
    std::vector<std::uint32_t> t_of_node;         // graph node -> layout index, or no_page
    std::vector<std::uint32_t> node_of;           // layout index -> graph node (as of add_pages or the build)
    std::vector<std::uint32_t> free_t;            // layout indexes of pages remove_pages took out (reused by add_pages)
    std::size_t state_cap = 0;                    // pages `state` and `changed` have room for
    const void* table = nullptr;                  // the store's table_address() the epoch pointers are into
    // Pages still in the plan whose table index the store gave to a newer page (released from
    // the store, not yet taken out: see add_pages); by id. Empty but for that window.
    std::unordered_map<std::uint64_t, std::uint32_t> retired;
    std::uint64_t numbering = 0;                  // the graph's numbering() at the build
    std::size_t derived_count = 0;                // pages with parents
    bool parents_far = false;                     // a quarter of the edges or more reach further back than far_bytes
    // Layout indexes of the pages derived at the build, in page id (table) order, then of those
    // that became derived later; their epochs (a page no longer derived: *sink); each page's
    // entry in them, or no_page.
    std::vector<std::uint32_t> by_table;
    std::vector<epoch*> epochs_by_table;
    std::vector<std::uint32_t> table_slot;
    std::unique_ptr<epoch> sink;
    // Per page, for full sweeps: (tag << 1) | changed (see every_derived_page); 64-byte
    // aligned, so that a span's bytes are one cache line.
    std::unique_ptr<std::atomic<std::uint8_t>[]> changed_storage;
    std::atomic<std::uint8_t>* changed = nullptr;
    std::uint32_t widest = 0;                     // most elements of any page
    std::unique_ptr<page_state[]> state;
  };

  struct alignas(cache_line_size) worker_counts {  // alignas: each worker's counters own a line
    std::size_t recomputed = 0, changed = 0;
  };

  static constexpr std::uint32_t no_page = 0xFFFFFFFFU;
  // Layout indexes in use or free (the per-page columns' length).
  [[nodiscard]] std::size_t slots() const noexcept { return plan_.ids.size(); }
  // The layout index of a page of the plan, or no_page.
  [[nodiscard]] std::uint32_t layout_index(page_id id) const noexcept {
    const std::uint64_t index = id.value() >> 32;
    if (index >= plan_.by_id_index.size()) return no_page;
    const std::uint32_t t = plan_.by_id_index[index];
    if (t != no_page && plan_.ids[t] == id) return t;
    if (!plan_.retired.empty()) [[unlikely]] {
      const auto it = plan_.retired.find(id.value());
      if (it != plan_.retired.end()) return it->second;
    }
    return no_page;
  }

  std::uint32_t next_run() noexcept {
    if (++run_ >= (1U << 31)) {  // the stamp holds 31 bits of run: clear the stamps once
      for (std::size_t t = 0; t < slots(); ++t) {
        plan_.state[t].cone = 0;
        plan_.state[t].done.store(0, std::memory_order_relaxed);
      }
      run_ = 1;
    }
    return run_;
  }

  // Sweeps every page, in the graph's order (positions), without cone marks or 8-byte stamps:
  // one byte per page, (sweep tag << 1) | changed, where the tag counts full sweeps modulo 128.
  // Every full sweep writes every page's byte (a source's says whether a step changed it), so
  // at its start every byte holds an earlier tag, never the current one. Workers claim spans of
  // span_pages consecutive positions in order; a page waits (acquire) for each parent's byte to
  // carry the current tag, then reads its changed bit from it. Where positions follow layout
  // indexes (as after a build), a span's bytes fill one cache line, written by one worker only.
  template <class E>
  propagate_stats every_derived_page(std::uint32_t r, epoch at, E& ex) {
    propagate_stats stats;
    stats.cone = plan_.derived_count;
    if (plan_.derived_count == 0) return stats;  // nothing to compute: no bytes written, tag kept
    full_tag_ = static_cast<std::uint8_t>((full_tag_ + 1) & 0x7F);
    defer_epochs_ = true;  // most pages may change: their epochs are written after, in table order
    const std::size_t ahead = prefetch_ahead();
    const bool parallel = plan_.derived_count > cone_sequential_limit && ex.concurrency() > 1;
    const std::size_t workers = parallel ? ex.concurrency() : 1;
    prepare_workers(workers);
    const std::size_t n = plan_.seq.size();
    // Positions [0, split) first, then the rest (each a whole number of spans; positions only
    // wait on earlier ones, so the two parts may run with different worker counts).
    const std::size_t split = parallel && adapt_workers && n >= adapt_min_pages ? (n / 16) / span_pages * span_pages : 0;
    if (!parallel) {
      full_span<false>(0, n, r, at, ahead, 0, counts_[0]);
    } else if (split == 0) {
      full_parallel(0, n, r, at, ahead, workers, ex);
    } else {
      // Adaptive (see adapt_workers): the first sixteenth of the order measures one mode, the
      // rest runs in the mode measured faster per page.
      const bool calibrate = one_ns_per_page_ == 0 || ++sweeps_since_calibration_ >= adapt_calibrate_every;
      const auto t0 = std::chrono::steady_clock::now();
      if (calibrate) full_span<false>(0, split, r, at, ahead, 0, counts_[0]);
      else full_parallel(0, split, r, at, ahead, workers, ex);
      const double ns = static_cast<double>(std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0).count()) /
                        static_cast<double>(split);
      if (calibrate) {
        one_ns_per_page_ = ns;
        sweeps_since_calibration_ = 0;
      } else {
        all_ns_per_page_ = ns;
      }
      all_workers_last_ = all_ns_per_page_ == 0 || all_ns_per_page_ <= one_ns_per_page_;
      if (all_workers_last_) full_parallel(split, n, r, at, ahead, workers, ex);
      else full_span<false>(split, n, r, at, ahead, 0, counts_[0]);
    }
    return finish(stats, at);
  }

  // Positions [first, last) of a full sweep (first a multiple of span_pages) over `workers`
  // workers: spans claimed in order from one counter.
  template <class E>
  void full_parallel(std::size_t first, std::size_t last, std::uint32_t r, epoch at, std::size_t ahead, std::size_t workers, E& ex) {
    next_block_->store(first / span_pages, std::memory_order_relaxed);
    const std::size_t spans = (last + span_pages - 1) / span_pages;
    ex.parallel_for(workers, [&](std::size_t, std::size_t w) {
      for (;;) {
        // Relaxed: claims only need to be unique and in order; the bytes carry the data.
        const std::size_t b = next_block_->fetch_add(1, std::memory_order_relaxed);
        if (b >= spans) return;
        full_span<true>(b * span_pages, std::min(last, (b + 1) * span_pages), r, at, ahead, w, counts_[w]);
      }
    });
  }

  [[nodiscard]] std::uint8_t tag_byte(bool changed) const noexcept { return static_cast<std::uint8_t>((full_tag_ << 1) | (changed ? 1 : 0)); }

  // The pages at positions [first, last) of one span (all of them in the sequential sweep), in order.
  template <bool Wait>
  void full_span(std::size_t first, std::size_t last, std::uint32_t r, epoch at, std::size_t ahead, std::size_t w, worker_counts& counts) noexcept {
    const std::uint32_t* const seq = plan_.seq.data();
    const std::uint32_t* const in_begin = plan_.in_begin.data();
    const std::uint32_t* const in_end = plan_.in_end.data();
    const std::uint32_t* const parents = plan_.parents.data();
    std::atomic<std::uint8_t>* const bytes = plan_.changed;
    const std::uint32_t changed_stamp = stamp(r, true);
    constexpr auto publish = Wait ? std::memory_order_release : std::memory_order_relaxed;
    // This span's forced pages, by position.
    const std::uint32_t* forced = forced_pos_.data() + forced_pos_.size();
    const std::uint32_t* const forced_end = forced;
    if (forced_run_ == r) forced = std::lower_bound(static_cast<const std::uint32_t*>(forced_pos_.data()), forced_end, static_cast<std::uint32_t>(first));
    // (Parents' bytes are not prefetched: a byte per page stays in the caches.)
    for (std::size_t i = first; i < std::min(last, first + ahead); ++i)
      if (seq[i] != no_page) prefetch_parents<false>(seq[i]);
    for (std::size_t i = first; i < last; ++i) {
      if (ahead != 0 && i + ahead < last && seq[i + ahead] != no_page) prefetch_parents<false>(seq[i + ahead]);
      // The page's own lines, in two stages: its plan entries (list bounds, page address) two
      // steps ahead, then its lists' first lines and its bytes. After a build they stream in
      // order and these hit; after many edits positions no longer follow plan indexes and
      // memory, and each would be a miss in series.
      if (i + 2 * sweep_ahead < last) {
        if (const std::uint32_t t2 = seq[i + 2 * sweep_ahead]; t2 != no_page) {
          TICKFLOW_PREFETCH(in_begin + t2, 0, 3);
          TICKFLOW_PREFETCH(in_end + t2, 0, 3);
          TICKFLOW_PREFETCH(plan_.data.data() + t2, 0, 3);
        }
      }
      if (i + sweep_ahead < last) {
        if (const std::uint32_t t1 = seq[i + sweep_ahead]; t1 != no_page) {
          const std::uint32_t b1 = in_begin[t1];
          TICKFLOW_PREFETCH(parents + b1, 0, 3);
          TICKFLOW_PREFETCH(plan_.parent_data.data() + b1, 0, 3);
          TICKFLOW_PREFETCH(plan_.weights.data() + b1, 0, 3);
          TICKFLOW_PREFETCH(plan_.data[t1], 1, 3);
        }
      }
      const std::uint32_t t = seq[i];
      if (t == no_page) continue;  // a dead node slot
      const std::uint32_t b = in_begin[t], e = in_end[t];
      if (b == e) {  // a source: changed if the step said so (run stamped it)
        // Release: pairs with the acquire of a child that waits on it (its bytes were written
        // before the sweep began).
        bytes[t].store(tag_byte(plan_.state[t].done.load(std::memory_order_relaxed) == changed_stamp), publish);
        continue;
      }
      while (forced != forced_end && *forced < i) ++forced;
      bool dirty = forced != forced_end && *forced == i;
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
        now_changed = recompute(t, w, at);
        counts.changed += now_changed ? 1 : 0;
      }
      // Release: publishes the page's elements and changed bit to the pages that wait on it.
      bytes[t].store(tag_byte(now_changed), publish);
    }
  }

  [[nodiscard]] std::size_t prefetch_ahead() const noexcept {
    const bool fetch = prefetch == prefetch_policy::always || (prefetch == prefetch_policy::automatic && plan_.parents_far);
    return fetch ? prefetch_distance : 0;
  }

  [[nodiscard]] std::size_t chunk_forced_scratch() const noexcept {
    std::size_t n = 0;
    for (const auto& c : chunk_forced_) n += c.capacity();
    return n;
  }
  // A run's forced lists are kept for the next run's, unless they are large (past 4 MiB: a first
  // run after a whole graph was given as one edit forces every page), whose room goes back. The
  // cone lists stay: a marked cone holds at most pages() / 16 pages.
  void release_large_scratch() noexcept {
    for (auto* list : {&forced_, &forced_pos_})
      if (list->capacity() * sizeof(std::uint32_t) > (std::size_t{1} << 22)) std::vector<std::uint32_t>().swap(*list);
  }

  // Changed pages [lo, hi) of `changed`: a source in the plan is stamped changed in run r (and
  // pushed on `stack`, if given, for the marking walk); a derived one goes to `forced`.
  void stamp_changed(std::span<const page_id> changed, std::size_t lo, std::size_t hi, std::uint32_t r, std::vector<std::uint32_t>& forced,
                     std::vector<std::uint32_t>* stack) {
    for (std::size_t i = lo; i < hi; ++i) {
      // The ids are random: their table entries are fetched 16 ahead, their pages' columns 8.
      if (i + 16 < hi) {
        const std::uint64_t ahead = changed[i + 16].value() >> 32;
        if (ahead < plan_.by_id_index.size()) TICKFLOW_PREFETCH(&plan_.by_id_index[ahead], 0, 3);
      }
      if (i + 8 < hi) {
        const std::uint64_t ahead = changed[i + 8].value() >> 32;
        if (ahead < plan_.by_id_index.size() && plan_.by_id_index[ahead] != no_page) {
          const std::uint32_t t = plan_.by_id_index[ahead];
          TICKFLOW_PREFETCH(&plan_.ids[t], 0, 3);
          TICKFLOW_PREFETCH(&plan_.in_begin[t], 0, 3);
          TICKFLOW_PREFETCH(&plan_.state[t], 1, 3);
        }
      }
      if (const std::uint32_t t = layout_index(changed[i]); t != no_page) {
        if (plan_.in_end[t] != plan_.in_begin[t]) {
          forced.push_back(t);
          continue;
        }
        plan_.state[t].done.store(stamp(r, true), std::memory_order_relaxed);
        if (stack != nullptr) stack->push_back(t);
      }
    }
  }
  static constexpr std::size_t stamp_chunk_rows = 4096;  // the fewest changed pages a chunk of stamps gets

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

  // Visits the marked cone `cone` (in position order).
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
    for (std::uint32_t k = plan_.in_begin[t]; k < plan_.in_end[t]; ++k) {
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
    for (std::uint32_t k = plan_.in_begin[t]; k < plan_.in_end[t]; ++k) {
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
    const std::uint32_t k = plan_.in_begin[t], deg = plan_.in_end[t] - k;
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
  /// Bytes the plan and the run scratch hold (capacities; the columns' room included, though
  /// what was never written of it is not resident).
  [[nodiscard]] std::size_t memory_bytes() const noexcept {
    const plan& p = plan_;
    const std::size_t n = p.state_cap;
    const std::size_t u32 = p.elements.capacity() + p.node_of.capacity() + p.free_t.capacity() + p.in_begin.capacity() + p.in_end.capacity() + p.in_cap.capacity() + p.out_begin.capacity() +
                            p.out_end.capacity() + p.out_cap.capacity() + p.by_id_index.capacity() + p.seq.capacity() + p.rank.capacity() +
                            p.t_of_node.capacity() + p.by_table.capacity() + p.table_slot.capacity() + p.parents.size() + p.children.size() +
                            stack_.capacity() + cone_.capacity() + forced_.capacity() + forced_pos_.capacity() + chunk_forced_scratch() + 2 * edit_at_.capacity();
    return p.ids.capacity() * sizeof(page_id) + (p.data.capacity() + p.epochs.capacity() + p.parent_data.size() + p.epochs_by_table.capacity()) * sizeof(void*) +
           u32 * 4 + p.weights.size() * sizeof(W) + p.kinds.size() * sizeof(edge_kind) + (p.changed_storage ? n + cache_line_size : 0) +
           (p.state ? n * sizeof(page_state) : 0) + p.retired.size() * 32 + p.retired.bucket_count() * sizeof(void*) + cone_keys_.capacity() * 8 + scratch_.size() * sizeof(T) + counts_.capacity() * sizeof(worker_counts);
  }

 private:
  // ------------------------------------------------------------------ update's list edits

  // Replays the edits' degrees (edit_at_ resolved) and says how many column entries the lists
  // that outgrow their room take when they move: (in-edge entries, out-edge entries).
  result<std::pair<std::size_t, std::size_t>> room_needed(std::span<const plan_edit<W>> edits) {
    sim_.clear();
    std::size_t in_need = 0, out_need = 0;
    for (std::size_t i = 0; i < edits.size(); ++i) {
      const auto [tp, tc] = edit_at_[i];
      auto& in = sim_.try_emplace(key(tc, false), sim{plan_.in_end[tc] - plan_.in_begin[tc], plan_.in_cap[tc] - plan_.in_begin[tc]}).first->second;
      auto& out = sim_.try_emplace(key(tp, true), sim{plan_.out_end[tp] - plan_.out_begin[tp], plan_.out_cap[tp] - plan_.out_begin[tp]}).first->second;
      if (edits[i].insert) {
        if (in.deg == in.cap) in_need += in.cap = grown(in.deg);
        if (out.deg == out.cap) out_need += out.cap = grown(out.deg);
        ++in.deg;
        ++out.deg;
      } else {
        if (in.deg == 0 || out.deg == 0) return unexpected(errc::corrupt_data, i, "an edit removes an edge the plan does not hold");
        --in.deg;
        --out.deg;
      }
    }
    return std::pair{in_need, out_need};
  }
  // Room for a list that outgrew its own: twice its entries, at least 4.
  static std::uint32_t grown(std::uint32_t entries) noexcept { return std::max<std::uint32_t>(4, 2 * entries); }
  // Entries the columns get for `live` ones: a quarter more, for lists that move (see update).
  static std::size_t column_room(std::size_t live) noexcept { return live + live / 4 + 1024; }
  struct sim {
    std::uint32_t deg, cap;
  };
  static std::uint64_t key(std::uint32_t t, bool out) noexcept { return (std::uint64_t{t} << 1) | (out ? 1U : 0U); }

  // Inserts parent tp into tc's list, in page id order (moving the list to the end if full).
  void insert_parent(std::uint32_t tc, std::uint32_t tp, const W& weight, edge_kind kind) noexcept {
    plan& p = plan_;
    std::uint32_t b = p.in_begin[tc], e = p.in_end[tc];
    if (e == p.in_cap[tc]) {
      const auto to = static_cast<std::uint32_t>(p.in_top);
      for (std::uint32_t k = b; k < e; ++k) {
        p.parents[to + k - b] = p.parents[k];
        p.parent_data[to + k - b] = p.parent_data[k];
        p.weights[to + k - b] = p.weights[k];
        p.kinds[to + k - b] = p.kinds[k];
      }
      p.in_begin[tc] = to;
      p.in_end[tc] = to + (e - b);
      p.in_cap[tc] = to + grown(e - b);
      p.in_top += grown(e - b);
      b = p.in_begin[tc];
      e = p.in_end[tc];
    }
    std::uint32_t k = e;
    for (; k > b && p.ids[tp] < p.ids[p.parents[k - 1]]; --k) {
      p.parents[k] = p.parents[k - 1];
      p.parent_data[k] = p.parent_data[k - 1];
      p.weights[k] = p.weights[k - 1];
      p.kinds[k] = p.kinds[k - 1];
    }
    p.parents[k] = tp;
    p.parent_data[k] = p.data[tp];
    p.weights[k] = weight;
    p.kinds[k] = kind;
    p.in_end[tc] = e + 1;
    ++p.in_live;
    if (e == b) {  // tc becomes derived
      ++p.derived_count;
      if (p.table_slot[tc] == no_page) {
        p.table_slot[tc] = static_cast<std::uint32_t>(p.by_table.size());
        p.by_table.push_back(tc);  // reserved by update
        p.epochs_by_table.push_back(p.epochs[tc]);
      } else {
        p.epochs_by_table[p.table_slot[tc]] = p.epochs[tc];
      }
    }
  }
  void insert_child(std::uint32_t tp, std::uint32_t tc) noexcept {
    plan& p = plan_;
    const std::uint32_t b = p.out_begin[tp], e = p.out_end[tp];
    if (e == p.out_cap[tp]) {
      const auto to = static_cast<std::uint32_t>(p.out_top);
      for (std::uint32_t k = b; k < e; ++k) p.children[to + k - b] = p.children[k];
      p.out_begin[tp] = to;
      p.out_end[tp] = to + (e - b);
      p.out_cap[tp] = to + grown(e - b);
      p.out_top += grown(e - b);
    }
    p.children[p.out_end[tp]++] = tc;
    ++p.out_live;
  }
  // Removes parent tp from tc's list (order kept); false if it is not there.
  bool remove_parent(std::uint32_t tc, std::uint32_t tp) noexcept {
    plan& p = plan_;
    const std::uint32_t b = p.in_begin[tc], e = p.in_end[tc];
    std::uint32_t k = b;
    while (k < e && p.parents[k] != tp) ++k;
    if (k == e) return false;
    for (; k + 1 < e; ++k) {
      p.parents[k] = p.parents[k + 1];
      p.parent_data[k] = p.parent_data[k + 1];
      p.weights[k] = p.weights[k + 1];
      p.kinds[k] = p.kinds[k + 1];
    }
    p.in_end[tc] = e - 1;
    --p.in_live;
    if (e - 1 == b) {  // tc becomes a source: its epoch is no longer the sweep's to write
      --p.derived_count;
      p.epochs_by_table[p.table_slot[tc]] = p.sink.get();
    }
    return true;
  }
  bool remove_child(std::uint32_t tp, std::uint32_t tc) noexcept {
    plan& p = plan_;
    const std::uint32_t b = p.out_begin[tp], e = p.out_end[tp];
    for (std::uint32_t k = b; k < e; ++k)
      if (p.children[k] == tc) {
        p.children[k] = p.children[e - 1];
        p.out_end[tp] = e - 1;
        --p.out_live;
        return true;
      }
    return false;
  }
  // Pack the in-edge (compact_in) or child (compact_out) columns in layout order into new ones
  // with room for `need` more entries past the live ones (and column_room's share). Everything
  // is allocated first, and the old columns stay until nothing can throw. The list heads are a
  // prefix sum on the caller; the entries are copied over the executor in contiguous chunks of
  // pages, each writing only its own entries, so the result is the serial pack's at any worker
  // count. The copy (about 100 MB on W-local) and the first touch of the fresh columns are most
  // of a pack.
  template <class E>
  void compact_in(std::size_t need, E& ex) {
    plan& p = plan_;
    const std::size_t n = slots(), room = column_room(p.in_live) + need;
    detail::flat_array<std::uint32_t> parents;
    detail::flat_array<const T*> parent_data;
    detail::flat_array<W> weights;
    detail::flat_array<edge_kind> kinds;
    parents.assign_for_overwrite(room);
    parent_data.assign_for_overwrite(room);
    weights.assign_for_overwrite(room);
    kinds.assign_for_overwrite(room);
    std::vector<std::uint32_t> begin(n), end(n), cap(n);
    std::uint32_t to = 0;
    for (std::size_t t = 0; t < n; ++t) {
      begin[t] = to;
      to += p.in_end[t] - p.in_begin[t];
      end[t] = cap[t] = to;
    }
    const std::size_t chunks = pack_chunks(n, ex);
    ex.parallel_for(chunks, [&](std::size_t c, std::size_t) {
      for (std::size_t t = n * c / chunks, last = n * (c + 1) / chunks; t < last; ++t) {
        const std::uint32_t from = p.in_begin[t], count = p.in_end[t] - from, at = begin[t];
        std::memcpy(&parents[at], &p.parents[from], count * sizeof(std::uint32_t));
        std::memcpy(&parent_data[at], &p.parent_data[from], count * sizeof(const T*));
        std::memcpy(&weights[at], &p.weights[from], count * sizeof(W));
        std::memcpy(&kinds[at], &p.kinds[from], count * sizeof(edge_kind));
      }
    });
    p.parents = std::move(parents);
    p.parent_data = std::move(parent_data);
    p.weights = std::move(weights);
    p.kinds = std::move(kinds);
    p.in_begin = std::move(begin);
    p.in_end = std::move(end);
    p.in_cap = std::move(cap);
    p.in_top = to;
    ++compactions_;
  }
  template <class E>
  void compact_out(std::size_t need, E& ex) {
    plan& p = plan_;
    const std::size_t n = slots(), room = column_room(p.out_live) + need;
    detail::flat_array<std::uint32_t> children;
    children.assign_for_overwrite(room);
    std::vector<std::uint32_t> begin(n), end(n), cap(n);
    std::uint32_t to = 0;
    for (std::size_t t = 0; t < n; ++t) {
      begin[t] = to;
      to += p.out_end[t] - p.out_begin[t];
      end[t] = cap[t] = to;
    }
    const std::size_t chunks = pack_chunks(n, ex);
    ex.parallel_for(chunks, [&](std::size_t c, std::size_t) {
      for (std::size_t t = n * c / chunks, last = n * (c + 1) / chunks; t < last; ++t)
        std::memcpy(&children[begin[t]], &p.children[p.out_begin[t]], (p.out_end[t] - p.out_begin[t]) * sizeof(std::uint32_t));
    });
    p.children = std::move(children);
    p.out_begin = std::move(begin);
    p.out_end = std::move(end);
    p.out_cap = std::move(cap);
    p.out_top = to;
    ++compactions_;
  }
  // Chunks of a pack: 4 per worker, at least 256 pages each (a pack is rare: a fork-join's
  // cost does not matter beside it, even on a small plan).
  template <class E>
  static std::size_t pack_chunks(std::size_t pages, const E& ex) noexcept {
    return std::clamp<std::size_t>(pages / 256, 1, 4 * ex.concurrency());
  }

 private:
  Kernel kernel_;
  plan plan_;
  std::uint32_t run_ = 0;
  std::vector<std::uint32_t> stack_, cone_;
  std::vector<std::uint64_t> cone_keys_;  // (position << 32) | layout index, to sort a cone
  std::vector<std::pair<std::uint32_t, std::uint32_t>> edit_at_;  // update: each edit's (parent, child) layout indexes
  std::unordered_map<std::uint64_t, sim> sim_;                      // update: touched lists' degree and room
  std::vector<std::uint32_t> forced_;  // layout indexes of this run's forced pages, sorted
  std::vector<std::uint32_t> forced_pos_;  // their positions, sorted
  std::vector<std::vector<std::uint32_t>> chunk_forced_;  // run: each chunk's forced pages (parallel stamps)
  std::uint32_t forced_run_ = 0;       // the run they belong to (0: none)
  std::size_t compactions_ = 0;
  std::uint8_t full_tag_ = 0;          // the tag of the last full sweep (see every_derived_page)
  double one_ns_per_page_ = 0, all_ns_per_page_ = 0;  // adapt_workers: the last times per page measured
  std::size_t sweeps_since_calibration_ = 0;
  bool all_workers_last_ = true;
  bool defer_epochs_ = false;          // this run writes epochs after the sweep
  detail::flat_array<T> scratch_;
  std::vector<worker_counts> counts_;
  // alignas (via cache_padded): every worker's claims hit this counter.
  cache_padded<std::atomic<std::size_t>> next_block_{0};
};

}  // namespace tickflow
