/// @file
/// tickflow/engine/engine.hpp — the engine concept, and the reference engine built from tickflow's
/// parts: page store, page graph, log, ingest, parallel apply and propagation.
///
/// Contract
///   * engine<E>: a replay_engine (validate/replay.hpp) that also takes submit(delta),
///     create_page(bytes), release_page(id), edit_graph(edit) (queued) and step(), and says its
///     current_epoch(). A user's engine satisfies it by providing the same calls; the suites and
///     validators are written against it. phased_engine<E> adds step()'s phases as three calls
///     (step_apply, step_propagate, step_graph), which the tick orchestrator times one by one.
///   * reference_engine<T, Kernel, Executor, W>: pages viewed as arrays of T, derived pages
///     computed by Kernel (propagate.hpp) from parents over edges weighted by W, work spread over
///     an Executor it owns (constructed from the engine's trailing constructor arguments).
///   * Epochs. The engine's epoch starts at 0; step() moves it to max(epoch + 1, the highest epoch
///     of the deltas it applies). A delta whose epoch is below the engine's epoch is late: it is
///     rejected (errc::epoch_regression, detail: the engine's epoch), as is one below its page's
///     epoch. So the log's epochs never decrease, and the step's derived pages take its epoch.
///   * step(): (1) cut the deltas submitted so far (ingest.hpp: canonical order); (2) check each
///     row against the engine (unknown page: not_found; window past the page: out_of_range; a
///     derived page: derived_target; late or below its page's epoch: epoch_regression): a
///     rejected row is reported in the step_report (id, page, epoch, error) and counted, never
///     applied and never dropped silently; (3) apply the others (parallel apply: bytes, epochs
///     and errors independent of the worker count); (4) propagate over the cone of the written
///     pages and of the pages whose parents an earlier edit changed (the plan first takes in the
///     pages created since the last step, then the committed edge edits, then takes out the pages
///     released, all without a rebuild: propagator::add_pages, update, remove_pages; it follows
///     the pages GC moved as they move: propagator::repoint); (5) commit the queued graph edits if the whole edit keeps the
///     graph acyclic (page_graph::commit), or reject it whole (the report holds the error and,
///     for a cycle, the witness; the committed graph is unchanged). Committed edits take effect
///     in the next step's propagation: the children whose parents changed are recomputed then.
///   * Shape errors come back from submit (the delta is not queued), and so does
///     errc::would_block when the engine's own lane is full (only a step drains it, and submit is
///     made by the stepping thread: it cannot wait).
///   * create_page(bytes) and release_page(id) act at once, between steps; a page is released
///     only without edges (errc::has_dependents otherwise, naming the linked pages, children
///     first; queue the edge removals first, step, then release). Deltas still queued for a
///     released page are rejected (not_found).
///   * The log: every applied delta, page created or released, committed edge and step is
///     appended to an in-memory log image (page/tlog.hpp format) in the order it took effect:
///     per step, the applied deltas, then the step event, then the committed edits. log_records()
///     is everything after the header. Replaying those records on a restored engine (apply(delta)
///     and apply(event)) reproduces pages, epochs, graph and derived values bit for bit, at any
///     worker count; a replaying engine appends the same records to its own log.
///   * Snapshots hold the store, the graph, the epoch, the queued edits and the pending
///     propagation inputs; restore() replaces all of them (not the ingest lanes or the log).
///   * digest(): the store's digest combined with the graph's edges (sorted by parent, child:
///     parent, child, kind, weight bytes) and the engine's epoch.
///   * GC: gc_wanted() and gc_slice(deadline) (a slab-compaction slice, page_store::compact) make
///     the engine its own collector; the tick orchestrator gives it the tick's time left
///     (engine_collector, tick.hpp). GC never changes a page's id, bytes or epoch; the
///     propagation plan follows the pages it moves (no rebuild).
///   * Allocation: step() allocates only to grow reused buffers (the cut, the report's rejection
///     list, the plan when the graph changed); the log grows by its records. A large queued
///     edit's room is given back after its step; after a full plan build the heap is trimmed
///     (engine_options::trim_heap_after_rebuild).
///
/// Thread-safety: producer handles from make_producer() submit from any thread, concurrently
/// with step(). Every other call, submit() included (it uses the engine's own producer), is made
/// by one thread at a time.
#pragma once

#include <algorithm>
#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <optional>
#include <span>
#include <type_traits>
#include <utility>
#include <vector>

#include "tickflow/columnar/batch_apply.hpp"
#include "tickflow/columnar/delta_batch.hpp"
#include "tickflow/core/digest.hpp"
#include "tickflow/core/result.hpp"
#include "tickflow/core/wait.hpp"
#include "tickflow/engine/executor.hpp"
#include "tickflow/engine/ingest.hpp"
#include "tickflow/engine/memory.hpp"
#include "tickflow/engine/parallel_apply.hpp"
#include "tickflow/engine/propagate.hpp"
#include "tickflow/graph/page_graph.hpp"
#include "tickflow/page/page_store.hpp"
#include "tickflow/page/tlog.hpp"
#include "tickflow/page/tlog_segments.hpp"
#include "tickflow/validate/replay.hpp"

#if defined(__GLIBC__)
#  include <malloc.h>  // malloc_trim
#endif

namespace tickflow {

/// A delta a step refused, and why.
struct rejected_delta {
  delta_id id;  ///< the delta's id
  page_id page;  ///< its page
  epoch at;  ///< its epoch
  error why;  ///< why it was refused
};

/// What one step did.
struct step_report {
  epoch at{0};                          ///< the step's epoch
  std::size_t cut = 0;                  ///< deltas in the cut
  std::size_t applied = 0;              ///< of those, applied
  std::vector<rejected_delta> rejected;  ///< the others, in cut order
  propagate_stats propagation{};  ///< what propagation did
  std::size_t edits_committed = 0;  ///< edge removals and insertions committed
  edit_report graph{};              ///< the queued edit's verdict (ok if there was none)
  std::size_t log_bytes = 0;        ///< bytes the step appended to the log
};

/// Totals since construction.
struct engine_counters {
  std::uint64_t steps = 0;            ///< steps taken (step() or the orchestrator's phases)
  std::uint64_t deltas_applied = 0;   ///< deltas applied by steps
  std::uint64_t deltas_rejected = 0;  ///< deltas steps rejected (each reported in its step_report)
  std::uint64_t edits_committed = 0;  ///< edge insertions and removals committed
  std::uint64_t edits_rejected = 0;   ///< queued edits rejected whole (each counts once)
  std::uint64_t gc_slices = 0;        ///< GC slices run
  std::uint64_t gc_pages_moved = 0;   ///< pages GC moved
  std::uint64_t gc_bytes_freed = 0;   ///< slab bytes GC gave back
  std::uint64_t pages_frozen = 0;  ///< pages GC moved to the cold tier
  std::uint64_t plan_rebuilds = 0;  ///< full builds of the propagation plan (pages created or released, large edits, restore)
};

template <class E>
concept engine = replay_engine<E> &&
                 requires(E& e, const E& ce, const delta& d, const typename E::edit_type& edit, std::size_t bytes, page_id id) {
                   { e.submit(d) } -> std::same_as<result<void>>;
                   { e.create_page(bytes) } -> std::same_as<result<page_id>>;
                   { e.release_page(id) } -> std::same_as<result<void>>;
                   { e.edit_graph(edit) } -> std::same_as<result<void>>;
                   { e.step() } -> std::same_as<step_report>;
                   { ce.current_epoch() } -> std::convertible_to<epoch>;
                 };

/// An engine whose step can be run phase by phase (the tick orchestrator times each):
/// step_apply, step_propagate and step_graph, in this order, do what step() does.
template <class E>
concept phased_engine = engine<E> && requires(E& e, step_report& rep) {
  e.step_apply(rep);
  e.step_propagate(rep);
  e.step_graph(rep);
};

/// How a reference_engine is configured.
struct engine_options {
  std::size_t lane_bytes = std::size_t{1} << 22;  ///< room per producer lane (ingest.hpp)
  bool keep_log = true;                          ///< append records to the in-memory log
  double gc_fragmentation = 0.10;                ///< GC is wanted past this share of slab bytes not in live pages
  /// The longest a GC slice runs, whatever deadline it is given (0: up to the deadline). GC
  /// keeps up in short slices, one per tick while there is work, rather than taking the whole
  /// GC budget at once: suite 07's budget on pause p99 is 1 ms.
  std::chrono::nanoseconds gc_max_pause{500'000};
  /// Pages without edges not written for this many epochs go to the store's cold tier in GC
  /// slices (0: never). The engine's epoch rises by at least one per step, so this is at most
  /// that many steps. A page with edges stays hot: propagation reads it through the plan.
  std::uint32_t cold_after = 0;
  /// After a propagation that built the plan in full (which frees its temporaries: about 100
  /// bytes per page and edge on 1M pages and 4M edges, and, after a whole graph given as one
  /// edit, the run's forced lists), ask the C library to give free heap pages back to the system
  /// (glibc's malloc_trim; elsewhere nothing). It is process-wide and costs
  /// a walk of the heap (milliseconds) beside a build's seconds; false leaves the heap alone.
  bool trim_heap_after_rebuild = true;
};

/// The engine built from tickflow's parts: page store, page graph, log, ingest, parallel apply and propagation, over an Executor (see the file contract).
template <class T, class Kernel, executor Executor = thread_pool, class W = T>
  requires propagation_kernel<Kernel, T, W> && std::is_trivially_copyable_v<W> && (sizeof(W) <= 8)
class reference_engine {
 public:
  /// A queued graph edit.
  using edit_type = graph_edit<W>;
  using value_type = T;   ///< what a page holds, element by element
  using weight_type = W;  ///< what an edge carries
  /// The producer id submit() uses (the last in the canonical order).
  static constexpr std::uint32_t own_producer_id = 0xFFFFFFFFU;

  /// Everything restore() needs: store, graph, epoch, queued edits and pending propagation inputs.
  struct snapshot_type {
    page_store::snapshot_type store;  ///< the pages
    page_graph<W> graph;  ///< the graph
    std::uint32_t at = 0;  ///< the engine's epoch
    edit_type pending;  ///< the edit queued for the next step
    std::vector<page_id> changed;  ///< pages written since the last propagation
    std::vector<page_id> forced;   ///< derived pages to recompute at the next propagation
  };

  /// `executor_args` construct the executor (e.g. a worker count for thread_pool).
  template <class... A>
  explicit reference_engine(engine_options options = {}, A&&... executor_args)
      : options_(options), ex_(std::forward<A>(executor_args)...), ingest_(options.lane_bytes) {
    const auto h = detail::tlog_header();
    log_.assign(h.begin(), h.end());
  }
  reference_engine(const reference_engine&) = delete;
  reference_engine& operator=(const reference_engine&) = delete;

  // ------------------------------------------------------------------ pages and graph

  /// A new page of `bytes` bytes, zeroed, at once (logged); errors of page_store::create.
  [[nodiscard]] result<page_id> create_page(std::size_t bytes) {
    if (bytes % sizeof(T) != 0) return unexpected(errc::invalid_argument, bytes, "page size is not a whole number of elements");
    reserve_log(detail::tlog_record_header_bytes + detail::tlog_event_body_bytes);
    auto id = store_.create(bytes);
    if (!id) return id;
    if (auto ok = graph_.add_page(*id); !ok) {
      (void)store_.release(*id);
      return unexpected(ok.error());
    }
    log_event({tlog_event_kind::page_create, now_, *id, {}, static_cast<std::uint32_t>(bytes), 0, 0});
    note_for_plan(plan_added_, *id);
    return id;
  }

  /// Releases a page without edges, at once (logged); errc::has_dependents otherwise.
  [[nodiscard]] result<void> release_page(page_id id) { return release_page(id, nullptr); }
  /// The same; when the page has edges, `linked` (if given) receives the pages it is linked to:
  /// its children (the pages that depend on it) first, then its parents, each in graph order.
  [[nodiscard]] result<void> release_page(page_id id, std::vector<page_id>* linked) {
    if (!store_.contains(id)) return unexpected(errc::not_found, id.value(), "no such page");
    std::optional<page_id> first;
    const auto note = [&](page_id other) {
      if (!first) first = other;
      if (linked != nullptr) linked->push_back(other);
    };
    if (linked != nullptr) linked->clear();
    graph_.for_each_child(id, [&](const auto& e) { note(e.child); });
    graph_.for_each_parent(id, [&](page_id parent) { note(parent); });
    if (first)
      return unexpected(errc::has_dependents, first->value(), "a page with edges is not released: remove its edges first (detail: a linked page)");
    reserve_log(detail::tlog_record_header_bytes + detail::tlog_event_body_bytes);
    if (auto ok = graph_.remove_page(id); !ok) return ok;
    (void)store_.release(id);  // alive: checked above
    log_event({tlog_event_kind::page_release, now_, id, {}, 0, 0, 0});
    drop_pending(id);
    note_for_plan(plan_removed_, id);
    return {};
  }

  /// Queues an edit; step() commits or rejects everything queued since the last step, whole.
  result<void> edit_graph(const edit_type& edit) {
    for (const auto& r : edit.removals()) pending_.remove_edge(r.first, r.second);
    for (const auto& a : edit.additions()) pending_.add_edge(a);
    return {};
  }

  // ------------------------------------------------------------------ deltas

  /// A producer handle for another thread (ingest.hpp); ids below own_producer_id.
  [[nodiscard]] result<ingest::producer> make_producer(std::uint32_t id) {
    if (id == own_producer_id) return unexpected(errc::invalid_argument, id, "producer id reserved for submit()");
    return ingest_.make_producer(id);
  }

  /// Queues a delta for the next step through the engine's own producer. Shape errors come
  /// back at once. Only a step drains the engine's own lane, and submit() is made by the thread
  /// that steps (or one serialized with it), so waiting for room could never end: a full lane is
  /// errc::would_block (the delta is not queued; step, raise engine_options::lane_bytes, or
  /// submit from producer handles on other threads).
  result<void> submit(const delta& d) {
    if (!own_) {
      auto p = ingest_.make_producer(own_producer_id);
      if (!p) return unexpected(p.error());
      own_.emplace(std::move(*p));
    }
    return own_->try_submit(d);
  }

  // ------------------------------------------------------------------ steps

  /// See the file contract.
  step_report step() {
    step_report rep;
    step_apply(rep);
    step_propagate(rep);
    step_graph(rep);
    return rep;
  }

  // The phases of step(), in its order, for a caller that times them (engine/tick.hpp): each
  // fills its part of `rep`. Calling them in any other order, or starting a step before the
  // last one's step_graph, is a precondition violation.
  /// (1)-(3): the cut, the checks and the apply.
  void step_apply(step_report& rep) {
    step_log_before_ = log_.size();
    batch_.clear();
    rep.cut = ingest_.cut(batch_);
    // (2) Every row checked against the engine; the valid ones applied.
    const delta_batch* good = &batch_;
    std::uint32_t top = now_.value();
    bad_.assign(batch_.size(), 0);
    // Each check reads the page's table entry, its graph index slot and its node: random lines
    // of tables sized by the pages. They are fetched ahead, in two stages (the node's address
    // needs the index slot): serially, a 100k-row cut on 1M pages spent 23-34 ms here. The rows
    // are checked in contiguous chunks over the executor (the checks only read; 7-13 ms of
    // latency-bound loads for 100k rows on one thread), and the rejections joined in chunk
    // order, which is cut order whatever the worker count.
    const std::size_t rows = batch_.size();
    const std::size_t chunks = std::clamp<std::size_t>(rows / check_chunk_rows, 1, 4 * ex_.concurrency());
    if (check_out_.size() < chunks) check_out_.resize(chunks);
    const std::span<const std::uint64_t> cut_pages = batch_.pages();
    ex_.parallel_for(chunks, [&](std::size_t c, std::size_t) {
      constexpr std::size_t near = 8, far = 16;
      chunk_checks& out = check_out_[c];
      out.rejected.clear();
      out.top = now_.value();
      const std::size_t lo = rows * c / chunks, hi = rows * (c + 1) / chunks;
      for (std::size_t i = lo; i < hi; ++i) {
        if (i + far < hi) {
          store_.prefetch_lookup(page_id{cut_pages[i + far]});
          graph_.prefetch_index(page_id{cut_pages[i + far]});
        }
        if (i + near < hi) graph_.prefetch_node(page_id{cut_pages[i + near]});
        const delta_row r = batch_.row(i);
        if (auto ok = check_row(r.page, r.at, r.offset, r.length); !ok) {
          out.rejected.push_back({r.id, r.page, r.at, ok.error()});
          bad_[i] = 1;
          continue;
        }
        out.top = std::max(out.top, r.at.value());
      }
    });
    for (std::size_t c = 0; c < chunks; ++c) {
      top = std::max(top, check_out_[c].top);
      rep.rejected.insert(rep.rejected.end(), check_out_[c].rejected.begin(), check_out_[c].rejected.end());
    }
    if (!rep.rejected.empty()) {
      filtered_.clear();
      for (std::size_t i = 0; i < batch_.size(); ++i) {
        if (bad_[i] != 0) continue;
        const delta_row r = batch_.row(i);
        filtered_.push_back(r.page, r.at, r.id, r.offset, r.length, r.kind, r.mask, r.payload);
      }
      good = &filtered_;
    }
    if (!good->empty()) {
      if (auto ok = apply_batch(applier_, store_, *good, ex_); !ok) {
        // Unreachable after the checks above; reported, never silent: nothing was written.
        for (std::size_t i = 0; i < good->size(); ++i) {
          const delta_row r = good->row(i);
          rep.rejected.push_back({r.id, r.page, r.at, ok.error()});
        }
        good = nullptr;
      }
    }
    if (good != nullptr) {
      rep.applied = good->size();
      changed_.reserve(changed_.size() + good->size());
      for (std::size_t i = 0; i < good->size(); ++i) {
        changed_.push_back(page_id{good->pages()[i]});
        if (options_.keep_log) encode_row(*good, i);
      }
    }
    rep.at = epoch{std::max(top, now_.value() + 1)};
  }

  /// (4): propagation at the step's epoch (rep.at, set by step_apply).
  void step_propagate(step_report& rep) {
    rep.propagation = propagate(rep.at);
    log_event({tlog_event_kind::step, rep.at, {}, {}, 0, 0, 0});
  }

  /// (5): the queued edits, whole or not at all; then the step is over.
  void step_graph(step_report& rep) {
    const epoch at = rep.at;
    if (!pending_.empty()) {
      rep.graph = check_sizes(pending_);
      const std::uint64_t numbering = graph_.numbering();
      if (rep.graph.ok()) rep.graph = graph_.commit(pending_);
      if (rep.graph.ok()) {
        for (const auto& r : pending_.removals()) {
          log_event({tlog_event_kind::edge_remove, at, r.first, r.second, 0, 0, 0});
          forced_.push_back(r.second);
        }
        for (const auto& a : pending_.additions()) {
          log_event({tlog_event_kind::edge_insert, at, a.parent, a.child, static_cast<std::uint32_t>(a.kind), weight_bits(a.weight), 0});
          forced_.push_back(a.child);
        }
        // The plan takes the edit in at the next propagation, unless the commit renumbered the
        // graph (its rebuild path, for large edits): then the plan is rebuilt, and the edit is not
        // recorded (a 4M-edge edit would hold 128 MB of records). If the record cannot be
        // allocated, the plan is rebuilt too.
        if (graph_.numbering() != numbering) {
          replan_ = true;
        } else if (!replan_) {
          try {
            unplanned_.reserve(unplanned_.size() + pending_.removals().size() + pending_.additions().size());
            for (const auto& r : pending_.removals()) unplanned_.push_back({r.first, r.second, W{}, edge_kind::data, false});
            for (const auto& a : pending_.additions()) unplanned_.push_back({a.parent, a.child, a.weight, a.kind, true});
          } catch (const std::bad_alloc&) {
            replan_ = true;
          }
        }
        rep.edits_committed = pending_.removals().size() + pending_.additions().size();
        counters_.edits_committed += rep.edits_committed;
      } else {
        counters_.edits_rejected += pending_.removals().size() + pending_.additions().size();
      }
      // A large edit's room goes back (as unplanned_'s does): a whole graph as one edit is
      // 24 bytes per edge that would stay resident. Below that, the room is kept for the next.
      if (pending_.memory_bytes() > (std::size_t{1} << 22)) pending_.release_room();
      else pending_.clear();
    }
    now_ = at;
    rep.log_bytes = log_.size() - step_log_before_;
    ++counters_.steps;
    counters_.deltas_applied += rep.applied;
    counters_.deltas_rejected += rep.rejected.size();
  }

  // ------------------------------------------------------------------ replay (replay_engine)

  /// Applies one delta at once, as a step would (same checks; no propagation until the next
  /// step event). The replay entry point.
  result<void> apply(const delta& d) {
    if (auto ok = check_shape(d); !ok) return ok;
    if (auto ok = check_row(d.page, d.at, d.offset, d.length); !ok) return ok;
    if (options_.keep_log) reserve_log(detail::record_bytes(d));
    if (auto ok = store_.apply(d); !ok) return ok;
    changed_.push_back(d.page);
    if (options_.keep_log) detail::encode_record(d, log_);
    return {};
  }

  /// Applies one engine event as the run that logged it did (see the file contract): a page
  /// created (errc::corrupt_data unless it gets the logged id and size), released, an edge
  /// inserted or removed, a step (propagation at its epoch). Errors leave the engine as it was.
  result<void> apply(const tlog_event& e) {
    if (auto ok = detail::check_event(e); !ok) return ok;
    if (e.at < now_) return unexpected(errc::epoch_regression, now_.value(), "event below the engine's epoch");
    switch (e.kind) {
      case tlog_event_kind::page_create: {
        auto id = create_page(e.aux);
        if (!id) return unexpected(id.error());
        if (*id != e.page) {
          pop_last_event();
          (void)graph_.remove_page(*id);
          (void)store_.release(*id);
          return unexpected(errc::corrupt_data, e.page.value(), "a replayed page got another id");
        }
        return {};
      }
      case tlog_event_kind::page_release: return release_page(e.page);
      case tlog_event_kind::edge_insert: {
        graph_edge<W> edge{e.page, e.child, static_cast<edge_kind>(e.aux), W{}};
        std::memcpy(&edge.weight, &e.weight, sizeof(W));
        {
          edit_type one;
          one.add_edge(edge);
          if (auto sizes = check_sizes(one); !sizes.ok()) return unexpected(errc::invalid_argument, e.page.value(), sizes.err.message);
        }
        reserve_log(detail::tlog_record_header_bytes + detail::tlog_event_body_bytes);
        reserve_one_unplanned();
        if (auto ok = graph_.add_edge(edge); !ok) return ok;
        log_event({tlog_event_kind::edge_insert, e.at, e.page, e.child, e.aux, e.weight, 0});
        forced_.push_back(e.child);
        unplanned_.push_back({edge.parent, edge.child, edge.weight, edge.kind, true});
        return {};
      }
      case tlog_event_kind::edge_remove: {
        reserve_log(detail::tlog_record_header_bytes + detail::tlog_event_body_bytes);
        reserve_one_unplanned();
        if (auto ok = graph_.remove_edge(e.page, e.child); !ok) return ok;
        log_event({tlog_event_kind::edge_remove, e.at, e.page, e.child, 0, 0, 0});
        forced_.push_back(e.child);
        unplanned_.push_back({e.page, e.child, W{}, edge_kind::data, false});
        return {};
      }
      case tlog_event_kind::step: {
        reserve_log(detail::tlog_record_header_bytes + detail::tlog_event_body_bytes);
        (void)propagate(e.at);
        log_event({tlog_event_kind::step, e.at, {}, {}, 0, 0, 0});
        now_ = e.at;
        ++counters_.steps;
        return {};
      }
    }
    return unexpected(errc::corrupt_data, static_cast<std::uint64_t>(e.kind), "unknown event kind");
  }

  /// A snapshot of the engine's state (not its ingest lanes nor its log).
  [[nodiscard]] snapshot_type snapshot() const { return snapshot_type{store_.snapshot(), graph_, now_.value(), pending_, changed_, forced_}; }

  /// Replaces the engine's state with a snapshot's.
  result<void> restore(const snapshot_type& s) {
    page_store fresh;
    if (auto ok = fresh.restore(s.store); !ok) return ok;
    store_ = std::move(fresh);
    graph_ = s.graph;
    now_ = epoch{s.at};
    pending_ = s.pending;
    changed_ = s.changed;
    forced_ = s.forced;
    replan_ = true;
    return {};
  }

  /// The store's digest combined with the graph's edges and the engine's epoch (see the file contract).
  [[nodiscard]] std::uint64_t digest() const {
    digest64 h;
    h.u64(store_.digest());
    auto edges = graph_.edge_list();
    std::sort(edges.begin(), edges.end(), [](const graph_edge<W>& a, const graph_edge<W>& b) {
      return a.parent != b.parent ? a.parent < b.parent : a.child < b.child;
    });
    for (const auto& e : edges) {
      h.u64(e.parent.value());
      h.u64(e.child.value());
      h.u64(static_cast<std::uint64_t>(e.kind));
      h.u64(weight_bits(e.weight));
    }
    h.u64(now_.value());
    return h.value();
  }

  /// Calls f(id, bytes, epoch) for every page, in id order.
  template <class F>
  void for_each_page(F&& f) const {
    store_.for_each_page(std::forward<F>(f));
  }

  // ------------------------------------------------------------------ observers

  /// The epoch of the last step (0 before the first).
  [[nodiscard]] epoch current_epoch() const noexcept { return now_; }

  // ------------------------------------------------------------------ GC

  /// Whether a GC slice is due: the store's fragmentation passed options.gc_fragmentation, or
  /// the last slice left work undone.
  [[nodiscard]] bool gc_wanted() const noexcept {
    if (gc_unfinished_ || cold_due()) return true;
    const auto m = store_.memory();
    return m.slab_bytes != 0 && static_cast<double>(m.fragmentation_bytes()) > options_.gc_fragmentation * static_cast<double>(m.slab_bytes);
  }
  /// One GC slice, until about `deadline` or options.gc_max_pause from now, whichever comes
  /// first: slab compaction (page_store::compact), resumed by the
  /// next slice. Pages keep their ids, bytes and epochs; the propagation plan follows each move
  /// (propagator::repoint, O(degree) per page), so a slice never costs a rebuild. A slice given
  /// no time does nothing (had_time false).
  page_store::compact_result gc_slice(std::chrono::steady_clock::time_point deadline) {
    if (options_.gc_max_pause.count() > 0) deadline = std::min(deadline, std::chrono::steady_clock::now() + options_.gc_max_pause);
    const auto stop = [&] { return std::chrono::steady_clock::now() >= deadline; };
    // The plan points into the slabs: it follows each move (unless a rebuild is due anyway).
    auto r = store_.compact(stop, [&](page_id id, std::byte* to) noexcept {
      if (!replan_) prop_.repoint(id, to);
    });
    if (r.had_time) gc_unfinished_ = !r.done;
    if (r.had_time && cold_due()) {
      // Pages without edges, not written since now - cold_after. The plan does not read them
      // (see propagate.hpp), so it stays as it is.
      const auto f = store_.freeze_cold(epoch{now_.value() - options_.cold_after}, stop, [&](page_id id) { return !graph_.linked(id); });
      if (f.had_time) {
        freeze_unfinished_ = !f.done;
        if (f.done) last_freeze_walk_ = now_;
      }
      counters_.pages_frozen += f.frozen;
    }
    ++counters_.gc_slices;
    counters_.gc_pages_moved += r.moved;
    counters_.gc_bytes_freed += r.freed_bytes;
    return r;
  }

  /// What the engine's memory holds (engine/memory.hpp); `log` is the writer its log goes to,
  /// if any (its buffer and file length are counted). No scan: counters and capacities.
  [[nodiscard]] memory_report memory(const tlog_writer* log = nullptr, bool with_rss = true) const {
    memory_report m;
    const auto s = store_.memory();
    m.pages = s.pages;
    m.payload_bytes = s.payload_bytes;
    m.slab_bytes = s.slab_bytes;
    m.slot_bytes = s.slot_bytes;
    m.table_bytes = s.table_bytes;
    m.free_list_bytes = s.free_list_bytes;
    m.graph_bytes = graph_.memory_bytes();
    m.ingest_bytes = ingest_.memory_bytes();
    m.log_buffer_bytes = log_.capacity() + (log != nullptr ? log->buffer_capacity() : 0);
    m.scratch_bytes = batch_.memory_bytes() + filtered_.memory_bytes() + applier_.memory_bytes() + prop_.memory_bytes() +
                      bad_.capacity() + check_bytes() + (changed_.capacity() + forced_.capacity()) * sizeof(page_id) +
                      unplanned_.capacity() * sizeof(plan_edit<W>) + (plan_added_.capacity() + plan_removed_.capacity()) * sizeof(page_id) +
                      pending_.memory_bytes();
    m.log_disk_bytes = log != nullptr ? log->file_bytes() : 0;
    m.rss_bytes = with_rss ? read_rss_bytes() : 0;
    m.cold_pages = s.cold_pages;
    m.cold_bytes = s.cold_bytes;
    m.cold_tier_bytes = s.cold_tier_bytes;
    return m;
  }
  /// The same, with a segmented log (every segment's bytes on disk, and the newest's buffer).
  [[nodiscard]] memory_report memory(const segmented_tlog& log, bool with_rss = true) const {
    memory_report m = memory(nullptr, with_rss);
    m.log_buffer_bytes += log.buffer_capacity();
    m.log_disk_bytes = log.file_bytes();
    return m;
  }
  /// The page store (read-only).
  [[nodiscard]] const page_store& store() const noexcept { return store_; }
  /// The page graph (read-only: edits go through edit_graph).
  [[nodiscard]] const page_graph<W>& graph() const noexcept { return graph_; }

  // Inspection (validate/inspect.hpp): what the validators read of an engine.
  /// A page's bytes (errc::not_found for an unknown or released page; a cold page's packed
  /// bytes are read in place).
  [[nodiscard]] result<std::span<const std::byte>> page_bytes(page_id id) const noexcept { return store_.bytes(id); }
  /// A page's epoch (errc::not_found as above).
  [[nodiscard]] result<epoch> page_epoch(page_id id) const noexcept { return store_.epoch_of(id); }
  /// A page's parents in the committed graph, with their edges, by increasing page id (the
  /// order propagation combines them in). Edits committed by the last step are in it; they
  /// reach the derived values at the next step.
  template <class F>
  void for_each_in_edge(page_id child, F&& f) const {
    graph_.for_each_in_edge(child, std::forward<F>(f));
  }
  /// How many parents a page has in the committed graph.
  [[nodiscard]] std::size_t parent_count(page_id id) const noexcept { return graph_.in_degree(id); }
  /// The last step's cut as taken, rejected rows included, in the canonical order; valid until
  /// the next step_apply.
  [[nodiscard]] const delta_batch& last_cut() const noexcept { return batch_; }
  /// Totals since construction.
  [[nodiscard]] const engine_counters& counters() const noexcept { return counters_; }
  /// The executor the engine runs its parallel work on.
  [[nodiscard]] Executor& executor_ref() noexcept { return ex_; }
  /// The log's records (everything after its header; see the file contract).
  [[nodiscard]] std::span<const std::byte> log_records() const noexcept {
    return std::span<const std::byte>(log_).subspan(detail::tlog_header_bytes);
  }
  /// The whole log image, header included.
  [[nodiscard]] std::span<const std::byte> log_image() const noexcept { return log_; }
  /// The propagator's knobs (cone_sequential_limit, block).
  [[nodiscard]] propagator<T, W, Kernel>& propagation() noexcept { return prop_; }

 private:
  static std::uint64_t weight_bits(const W& w) noexcept {
    std::uint64_t bits = 0;
    std::memcpy(&bits, &w, sizeof(W));
    return bits;
  }

  // The checks of a row against the engine, in the contract's order.
  result<void> check_row(page_id page, epoch at, std::uint32_t offset, std::uint32_t length) const noexcept {
    const auto size = store_.page_size(page);
    if (!size) return unexpected(errc::not_found, page.value(), "delta to an unknown page");
    if (std::uint64_t{offset} + length > *size) return unexpected(errc::out_of_range, std::uint64_t{offset} + length, "window past the end of the page");
    if (const auto src = graph_.is_source(page); src && !*src) return unexpected(errc::derived_target, page.value(), "delta to a derived page");
    if (at < now_) return unexpected(errc::epoch_regression, now_.value(), "late delta: epoch below the engine's");
    if (const epoch pe = *store_.epoch_of(page); at < pe) return unexpected(errc::epoch_regression, pe.value(), "delta epoch below the page's");
    return {};
  }

  // An edge joins pages of one size (the plan's rule): checked before the commit, so that a
  // committed graph always plans.
  edit_report check_sizes(const edit_type& edit) const {
    edit_report r;
    for (std::size_t i = 0; i < edit.additions().size(); ++i) {
      const auto& a = edit.additions()[i];
      const auto p = store_.page_size(a.parent), c = store_.page_size(a.child);
      if (p && c && *p != *c) {
        r.err = error{errc::invalid_argument, i, "an edge joins pages of different sizes"};
        r.part = edit_part::insertions;
        return r;
      }
    }
    return r;
  }

  // A page created or released while the plan is current: the next propagation takes it in or
  // out (propagator::add_pages, remove_pages) instead of rebuilding the plan. If the note cannot
  // be allocated, the plan is rebuilt instead.
  void note_for_plan(std::vector<page_id>& list, page_id id) noexcept {
    if (replan_) return;
    try {
      list.push_back(id);
    } catch (const std::bad_alloc&) {
      replan_ = true;
    }
  }
  void clear_plan_notes() noexcept {
    plan_added_.clear();
    plan_removed_.clear();
    if (plan_added_.capacity() > (std::size_t{1} << 16)) std::vector<page_id>().swap(plan_added_);
    if (plan_removed_.capacity() > (std::size_t{1} << 16)) std::vector<page_id>().swap(plan_removed_);
  }

  propagate_stats propagate(epoch at) {
    // Pages created since the plan last followed the graph join it first (edits may link them),
    // then the edge edits, then the released pages leave (the edits unlinked them). If the plan
    // cannot follow (see propagator::add_pages, update, remove_pages), it is rebuilt.
    // std::bad_alloc leaves the plan, the notes and the edits as they were, and propagates.
    if (!replan_ && !plan_added_.empty() && !prop_.add_pages(store_, graph_, plan_added_)) replan_ = true;
    if (!replan_ && !unplanned_.empty()) {
      if (!prop_.update(store_, graph_, unplanned_, ex_)) replan_ = true;
      else graph_.clear_moved_positions();
      unplanned_.clear();
      if (unplanned_.capacity() > (std::size_t{1} << 16)) unplanned_.shrink_to_fit();  // a large edit's room goes back
    }
    if (!replan_ && !plan_removed_.empty() && !prop_.remove_pages(graph_, plan_removed_)) replan_ = true;
    clear_plan_notes();
    const bool rebuilt = replan_;
    if (replan_) {
      // Cannot fail on a graph this engine built (pages alive, whole Ts, edges between pages of
      // one size) but for std::bad_alloc, which propagates.
      const auto ok = prop_.rebuild(store_, graph_);
      ++counters_.plan_rebuilds;
      TICKFLOW_ASSERT(ok, "the engine's graph did not plan");
      replan_ = !ok;
      if (ok) {
        graph_.clear_moved_positions();
        unplanned_.clear();
        if (unplanned_.capacity() > (std::size_t{1} << 16)) unplanned_.shrink_to_fit();
      }
    }
    propagate_stats s{};
    if (!replan_) s = prop_.run(changed_, at, ex_, forced_);
    // The step's lists are kept for the next step's, unless they are large (past 4 MiB: a whole
    // graph as one edit forces every child, 8 bytes each), whose room goes back.
    for (auto* list : {&changed_, &forced_}) {
      if (list->capacity() * sizeof(page_id) > (std::size_t{1} << 22)) std::vector<page_id>().swap(*list);
      else list->clear();
    }
#if defined(__GLIBC__)
    // After the build's temporaries and the first run's large lists are freed.
    if (rebuilt && options_.trim_heap_after_rebuild) (void)::malloc_trim(0);
#endif
    return s;
  }

  // Room for one more edit before it is made (so that a failed allocation changes nothing), grown
  // geometrically: a replay applies edge events one by one, and an exact reserve per event
  // would copy the list again each time (quadratic in the edges replayed between steps).
  void reserve_one_unplanned() {
    if (unplanned_.size() == unplanned_.capacity()) unplanned_.reserve(std::max<std::size_t>(16, 2 * unplanned_.capacity()));
  }
  void reserve_log(std::size_t bytes) {
    if (options_.keep_log && log_.size() + bytes > log_.capacity()) log_.reserve(std::max(log_.size() + bytes, 2 * log_.capacity()));
  }
  void log_event(const tlog_event& e) {
    if (!options_.keep_log) return;
    last_event_at_ = log_.size();
    detail::encode_event(e, log_);
  }
  void pop_last_event() {
    if (options_.keep_log) log_.resize(last_event_at_);
  }
  void encode_row(const delta_batch& b, std::size_t i) {
    b.copy_row(i, scratch_delta_);  // reuses the scratch delta's storage
    detail::encode_record(scratch_delta_, log_);
  }
  void drop_pending(page_id id) {
    std::erase(changed_, id);
    std::erase(forced_, id);
  }

  engine_options options_;
  Executor ex_;
  page_store store_;
  page_graph<W> graph_;
  propagator<T, W, Kernel> prop_;
  batch_applier applier_;
  ingest ingest_;
  std::optional<ingest::producer> own_;  // after ingest_: destroyed before it
  delta_batch batch_, filtered_;
  std::size_t step_log_before_ = 0;  // the log's size when the step began
  std::vector<std::uint8_t> bad_;  // per cut row: rejected
  // Per chunk of a cut's checks (step_apply): its rejections, in row order, and its newest epoch.
  struct chunk_checks {
    std::vector<rejected_delta> rejected;
    std::uint32_t top = 0;
  };
  static constexpr std::size_t check_chunk_rows = 2048;  // the fewest rows a chunk of checks gets (4 per worker)
  std::vector<chunk_checks> check_out_;
  [[nodiscard]] std::size_t check_bytes() const noexcept {
    std::size_t b = check_out_.capacity() * sizeof(chunk_checks);
    for (const auto& c : check_out_) b += c.rejected.capacity() * sizeof(rejected_delta);
    return b;
  }
  edit_type pending_;
  std::vector<page_id> changed_, forced_;
  std::vector<plan_edit<W>> unplanned_;  // edge edits committed since the plan last took edits in
  std::vector<page_id> plan_added_, plan_removed_;  // pages created / released since then (see note_for_plan)
  epoch now_{0};
  bool replan_ = true;
  bool gc_unfinished_ = false;  // the last GC slice ran out of time
  bool freeze_unfinished_ = false;  // the last freeze walk ran out of time
  epoch last_freeze_walk_{0};       // when the last freeze walk finished
  // A freeze walk is due: one is unfinished, or cold_after epochs passed since the last.
  [[nodiscard]] bool cold_due() const noexcept {
    return options_.cold_after != 0 && now_.value() > options_.cold_after &&
           (freeze_unfinished_ || now_.value() - last_freeze_walk_.value() >= options_.cold_after);
  }
  std::vector<std::byte> log_;
  std::size_t last_event_at_ = 0;
  delta scratch_delta_;
  engine_counters counters_;
};

}  // namespace tickflow
