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
//   * rebuild(store, graph) lays the graph's pages out in topological order (the graph's order
//     of positions), with each page's parents (and their data pointers, weights, kinds) and
//     children. Errors, with nothing changed:
//     errc::not_found (a graph page that is not alive in the store; detail: the page id),
//     errc::invalid_argument (a page whose size is not a whole number of T, or a derived page
//     whose element count differs from a parent's; detail: the page id). The plan holds pointers
//     into the store: rebuild after pages are created or released or the graph is edited.
//   * run(changed, at, ex): the pages in `changed` (sources a step wrote; pages not in the graph
//     are ignored) count as changed. The cone (everything downstream of them) is marked first,
//     unless `changed` holds more than pages() / 16 pages: then every derived page is examined
//     (a superset of the cone, cheaper than marking it; the pages outside the cone have no
//     changed parent and are not recomputed, so the result is the same).
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
    for (T& x : out) x = S::zero();
    for (std::size_t p = 0; p < in.values.size(); ++p) {
      const T* v = in.values[p];
      const T w = in.weights[p];
      for (std::size_t i = 0; i < out.size(); ++i) out[i] = S::add(out[i], S::mul(w, v[i]));
    }
  }
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
  result<void> rebuild(page_store& store, const page_graph<W>& graph) {
    plan p;
    const auto view = graph.node_csr();
    const std::size_t slots = view.page_of.size();
    // Topological order: positions are a permutation of the node slots.
    std::vector<std::uint32_t> by_position(slots);
    for (std::uint32_t u = 0; u < slots; ++u) by_position[graph.position(u)] = u;
    std::vector<std::uint32_t> at_of(slots, 0);
    for (std::uint32_t u : by_position) {
      if (view.page_of[u] == page_id{}) continue;
      const auto t = static_cast<std::uint32_t>(p.pages.size());
      at_of[u] = t;
      const page_id id = view.page_of[u];
      const auto h = store.handle(id);
      if (h.data == nullptr) return unexpected(errc::not_found, id.value(), "graph page not alive in the store");
      if (h.bytes % sizeof(T) != 0) return unexpected(errc::invalid_argument, id.value(), "page size is not a whole number of elements");
      p.pages.push_back(page_slot{id, reinterpret_cast<T*>(h.data), h.at, h.bytes / static_cast<std::uint32_t>(sizeof(T))});
    }
    const std::size_t n = p.pages.size();
    // Parents of every page, by increasing page id, with weights and kinds; children.
    p.in_begin.assign(n + 1, 0);
    p.out_begin.assign(n + 1, 0);
    const auto edges = graph.edge_list();
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
      std::vector<std::size_t> in_fill(p.in_begin.begin(), p.in_begin.end() - 1), out_fill(p.out_begin.begin(), p.out_begin.end() - 1);
      for (const auto& e : edges) {
        const std::uint32_t from = at_of[*graph.node(e.parent)], to = at_of[*graph.node(e.child)];
        in[in_fill[to]++] = in_edge{e.parent, from, e.weight, e.kind};
        p.children[out_fill[from]++] = to;
      }
    }
    p.parent_values.resize(edges.size());
    p.parents.resize(edges.size());
    p.weights.assign(edges.size());
    p.kinds.resize(edges.size());
    std::uint32_t widest = 0;
    for (std::size_t t = 0; t < n; ++t) {
      auto first = in.begin() + p.in_begin[t], last = in.begin() + p.in_begin[t + 1];
      std::sort(first, last, [](const in_edge& a, const in_edge& b) { return a.parent < b.parent; });
      for (auto it = first; it != last; ++it) {
        if (p.pages[it->from].elements != p.pages[t].elements)
          return unexpected(errc::invalid_argument, p.pages[t].id.value(), "a parent's element count differs from its child's");
        const std::size_t k = static_cast<std::size_t>(it - in.begin());
        p.parent_values[k] = p.pages[it->from].data;
        p.parents[k] = it->from;
        p.weights[k] = it->weight;
        p.kinds[k] = it->kind;
      }
      widest = std::max(widest, p.pages[t].elements);
    }
    p.widest = widest;
    p.index_of = std::move(at_of);
    p.cone = std::make_unique<std::uint32_t[]>(n);
    p.changed = std::make_unique<std::uint32_t[]>(n);
    p.done = std::make_unique<std::atomic<std::uint32_t>[]>(n);
    plan_ = std::move(p);
    run_ = 0;
    graph_ = &graph;
    return {};
  }

  /// See the file contract.
  template <executor E>
  propagate_stats run(std::span<const page_id> changed, epoch at, E& ex) {
    const std::uint32_t r = next_run();
    // The changed pages, then their cone, depth-first (marks stop at pages already marked).
    stack_.clear();
    for (const page_id id : changed)
      if (const auto u = graph_ != nullptr ? graph_->node(id) : std::nullopt; u && *u < plan_.index_of.size()) {
        const std::uint32_t t = plan_.index_of[*u];
        plan_.changed[t] = r;
        stack_.push_back(t);
      }
    cone_.clear();
    if (changed.size() > plan_.pages.size() / 16) {  // every derived page (see the contract)
      stack_.clear();
      for (std::uint32_t t = 0; t < plan_.pages.size(); ++t)
        if (plan_.in_begin[t + 1] != plan_.in_begin[t]) {
          plan_.cone[t] = r;
          cone_.push_back(t);
        }
    }
    while (!stack_.empty()) {
      const std::uint32_t t = stack_.back();
      stack_.pop_back();
      for (std::size_t k = plan_.out_begin[t]; k < plan_.out_begin[t + 1]; ++k) {
        const std::uint32_t c = plan_.children[k];
        if (plan_.cone[c] == r) continue;
        plan_.cone[c] = r;
        cone_.push_back(c);
        stack_.push_back(c);
      }
    }
    return sweep(r, at, ex);
  }
  /// Recomputes every derived page (see the file contract).
  template <executor E>
  propagate_stats run_all(epoch at, E& ex) {
    const std::uint32_t r = next_run();
    cone_.clear();
    for (std::uint32_t t = 0; t < plan_.pages.size(); ++t)
      if (plan_.in_begin[t + 1] != plan_.in_begin[t]) {
        plan_.cone[t] = r;
        cone_.push_back(t);
        plan_.changed[t] = 0;
      } else {
        plan_.changed[t] = r;  // every source counts as changed
      }
    return sweep(r, at, ex);
  }

  /// Cones of at most this many pages are worked on the caller alone (see the file contract).
  std::size_t cone_sequential_limit = 4096;
  /// Pages a worker claims at once in the parallel sweep.
  std::size_t block = 256;

  /// Pages in the plan.
  [[nodiscard]] std::size_t pages() const noexcept { return plan_.pages.size(); }

 private:
  struct page_slot {
    page_id id;
    T* data = nullptr;
    epoch* at = nullptr;
    std::uint32_t elements = 0;
  };
  struct plan {
    std::vector<page_slot> pages;            // in topological order
    std::vector<std::size_t> in_begin, out_begin;  // pages + 1 entries each
    std::vector<const T*> parent_values;     // per in-edge, in the fixed order
    std::vector<std::uint32_t> parents;      // per in-edge: the parent's layout index
    detail::flat_array<W> weights;
    std::vector<edge_kind> kinds;
    std::vector<std::uint32_t> children;     // per out-edge: the child's layout index
    std::vector<std::uint32_t> index_of;     // graph node number -> layout index
    std::uint32_t widest = 0;                // most elements of any page
    // Per page, stamped with the run number (never cleared): in the cone, changed, done.
    std::unique_ptr<std::uint32_t[]> cone;
    std::unique_ptr<std::uint32_t[]> changed;  // written by the page's own worker, read after `done`
    std::unique_ptr<std::atomic<std::uint32_t>[]> done;
  };

  struct alignas(cache_line_size) worker_counts {  // alignas: each worker's counters own a line
    std::size_t recomputed = 0, changed = 0;
  };

  std::uint32_t next_run() noexcept {
    if (++run_ == 0) {  // wrapped: clear the stamps once
      std::fill_n(plan_.cone.get(), plan_.pages.size(), 0U);
      std::fill_n(plan_.changed.get(), plan_.pages.size(), 0U);
      for (std::size_t t = 0; t < plan_.pages.size(); ++t) plan_.done[t].store(0, std::memory_order_relaxed);
      run_ = 1;
    }
    return run_;
  }

  template <class E>
  propagate_stats sweep(std::uint32_t r, epoch at, E& ex) {
    propagate_stats stats;
    stats.cone = cone_.size();
    if (cone_.empty()) return stats;
    std::sort(cone_.begin(), cone_.end());  // topological order
    const bool parallel = cone_.size() > cone_sequential_limit && ex.concurrency() > 1;
    const std::size_t workers = parallel ? ex.concurrency() : 1;
    if (scratch_.size() < workers * plan_.widest) scratch_.assign(workers * plan_.widest);
    if (counts_.size() < workers) counts_.resize(workers);
    for (auto& c : counts_) c = worker_counts{};
    if (!parallel) {
      for (const std::uint32_t t : cone_) visit(t, r, at, scratch_.data(), counts_[0], false);
    } else {
      next_block_->store(0, std::memory_order_relaxed);
      const std::size_t blocks = (cone_.size() + block - 1) / block;
      ex.parallel_for(workers, [&](std::size_t, std::size_t w) {
        T* out = scratch_.data() + w * plan_.widest;
        for (;;) {
          // Relaxed: claims only need to be unique and in order; `done` carries the data.
          const std::size_t b = next_block_->fetch_add(1, std::memory_order_relaxed);
          if (b >= blocks) return;
          const std::size_t end = std::min(cone_.size(), (b + 1) * block);
          for (std::size_t k = b * block; k < end; ++k) visit(cone_[k], r, at, out, counts_[w], true);
        }
      });
    }
    for (const auto& c : counts_) {
      stats.recomputed += c.recomputed;
      stats.changed += c.changed;
    }
    return stats;
  }

  // One cone page: wait for its parents in the cone (parallel sweep), recompute it if a parent
  // changed, publish it done.
  void visit(std::uint32_t t, std::uint32_t r, epoch at, T* out, worker_counts& counts, bool wait) noexcept {
    bool dirty = false;
    for (std::size_t k = plan_.in_begin[t]; k < plan_.in_begin[t + 1]; ++k) {
      const std::uint32_t p = plan_.parents[k];
      if (wait && plan_.cone[p] == r) {
        // Acquire: pairs with the release that published the parent, so its bytes and its
        // `changed` stamp are visible.
        for (unsigned spins = 0; plan_.done[p].load(std::memory_order_acquire) != r; ++spins) {
          if (spins < 1024) cpu_relax();
          else std::this_thread::yield();
        }
      }
      dirty = dirty || plan_.changed[p] == r;
    }
    if (dirty) {
      ++counts.recomputed;
      if (recompute(t, out, at)) {
        ++counts.changed;
        plan_.changed[t] = r;
      }
    }
    // Release: publishes the page's bytes and `changed` stamp to the pages that wait on it.
    if (wait) plan_.done[t].store(r, std::memory_order_release);
  }

  // Recomputes page t into `out`; writes it and the epoch if the bits differ.
  bool recompute(std::size_t t, T* out, epoch at) noexcept {
    const page_slot& pg = plan_.pages[t];
    const std::size_t k = plan_.in_begin[t], deg = plan_.in_begin[t + 1] - k;
    const parent_inputs<T, W> in{std::span<const T* const>(plan_.parent_values.data() + k, deg),
                                 std::span<const W>(plan_.weights.data() + k, deg),
                                 std::span<const edge_kind>(plan_.kinds.data() + k, deg)};
    kernel_(std::span<T>(out, pg.elements), in);
    const std::size_t bytes = std::size_t{pg.elements} * sizeof(T);
    if (std::memcmp(out, pg.data, bytes) == 0) return false;  // early cutoff
    std::memcpy(pg.data, out, bytes);
    *pg.at = at;
    return true;
  }

  Kernel kernel_;
  plan plan_;
  const page_graph<W>* graph_ = nullptr;
  std::uint32_t run_ = 0;
  std::vector<std::uint32_t> stack_, cone_;
  detail::flat_array<T> scratch_;
  std::vector<worker_counts> counts_;
  // alignas (via cache_padded): every worker's claims hit this counter.
  cache_padded<std::atomic<std::size_t>> next_block_{0};
};

}  // namespace tickflow
