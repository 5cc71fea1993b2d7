/// @file
/// tickflow/engine/tick.hpp — the tick orchestrator: a phased engine run in ticks, every phase
/// timed against its budget, every tick recorded.
///
/// Contract
///   * tick_orchestrator<Engine, Gc> drives an engine that satisfies phased_engine (engine.hpp)
///     through five phases per tick, always all of them and always in this order:
///       1. apply      Engine::step_apply: the cut, the checks and the apply;
///       2. propagate  Engine::step_propagate;
///       3. graph      Engine::step_graph: the queued edits, validated, committed or rejected;
///       4. gc         Gc::gc_slice(deadline), only when Gc::gc_wanted() says a threshold was
///                     crossed or work is unfinished; the deadline is the end of the tick's total
///                     budget (the time left in the tick), and the collector resumes next tick;
///       5. log        the records the engine appended this tick go to the tlog_writer or the
///                     segmented_tlog (page/tlog_segments.hpp), if one was given (not both:
///                     errc::invalid_argument from make()), per the durability policy: none (buffered; the OS decides),
///                     every_tick (written and synced before tick() returns) or group_commit
///                     (written and synced every `group` ticks, and by flush_log()).
///   * Budgets (tick_budgets): apply + propagate 10 ms, graph 4 ms, gc 2 ms, total 16 ms by
///     default. A budget of zero or below is errc::invalid_argument from make(), as is a total
///     below the sum of the others, a zero period or record count, or group commit every 0 ticks.
///   * An overrun (a budget exceeded) is recorded in the tick's record with its excess, counted,
///     and passed to the on_overrun callback if one is set, with the phase that took the most of
///     that budget. No phase is ever skipped or cut short to make time.
///   * Each tick leaves a tick_record (phase durations, deltas applied and rejected, pages
///     recomputed and changed, edits, log bytes, overrun excesses, start lateness and missed
///     frames in fixed-rate mode) in a ring of the last `keep_records` ticks, allocated once at
///     make(). Each phase, and the whole tick, also has a log_linear_histogram (core/histogram.hpp):
///     fixed memory, quantiles within 1 %.
///   * Time is std::chrono::steady_clock. measure_clock() measures its resolution (the smallest
///     non-zero step seen between consecutive reads) and the cost of one read; the suite 06 bench
///     prints both, and docs/decisions.md states what this machine gives.
///   * Modes: tick() runs one tick at once (as fast as possible when called in a loop);
///     run(n) runs n ticks, back to back in as_fast_as_possible mode, or in fixed_rate mode on a
///     grid of frame starts first_start + k * period (60 Hz by default), so the deadlines never
///     drift: a tick never starts before its frame, and a tick that ends after one or more frame
///     starts makes the next tick wait for the next frame start ahead; the frames passed over are
///     counted as missed (tick_record::missed_frames, totals in missed_frames()).
///   * Allocation: make() allocates the ring and the histograms; tick() allocates only what the
///     engine's phases allocate (engine.hpp) and the writer's buffer growth.
///
/// Thread-safety: an orchestrator and its engine are driven by one thread; producers submit to the
/// engine from any thread meanwhile (engine.hpp).
#pragma once

#include <array>
#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <thread>
#include <utility>
#include <vector>

#include "tickflow/core/histogram.hpp"
#include "tickflow/core/result.hpp"
#include "tickflow/engine/engine.hpp"
#include "tickflow/page/tlog.hpp"
#include "tickflow/page/tlog_segments.hpp"

namespace tickflow {

/// The clock ticks are timed with.
using tick_clock = std::chrono::steady_clock;

/// The five phases of a tick, in the order they run.
enum class tick_phase : std::uint8_t { apply, propagate, graph, gc, log };
/// The number of phases.
inline constexpr std::size_t tick_phase_count = 5;
/// The phase's name, as reports print it.
[[nodiscard]] constexpr const char* name_of(tick_phase p) noexcept {
  constexpr const char* names[] = {"apply", "propagate", "graph", "gc", "log"};
  return names[static_cast<std::size_t>(p)];
}

/// What a budget covers.
enum class tick_budget : std::uint8_t { apply_propagate, graph, gc, total };
/// The number of budgets.
inline constexpr std::size_t tick_budget_count = 4;
/// The budget's name, as reports print it.
[[nodiscard]] constexpr const char* name_of(tick_budget b) noexcept {
  constexpr const char* names[] = {"apply+propagate", "graph", "gc", "total"};
  return names[static_cast<std::size_t>(b)];
}

/// The time each phase group may take in one tick; an overrun is recorded, never cut short.
struct tick_budgets {
  std::chrono::nanoseconds apply_propagate = std::chrono::milliseconds(10);  ///< phases 1 and 2: apply and propagate
  std::chrono::nanoseconds graph = std::chrono::milliseconds(4);  ///< phase 3: graph edits
  std::chrono::nanoseconds gc = std::chrono::milliseconds(2);  ///< phase 4: GC
  std::chrono::nanoseconds total = std::chrono::milliseconds(16);  ///< the whole tick
  /// The budget `b`.
  [[nodiscard]] std::chrono::nanoseconds of(tick_budget b) const noexcept {
    switch (b) {
      case tick_budget::apply_propagate: return apply_propagate;
      case tick_budget::graph: return graph;
      case tick_budget::gc: return gc;
      case tick_budget::total: return total;
    }
    return total;
  }
};

/// How run(n) paces ticks: back to back, or on a fixed grid of frame starts.
enum class tick_mode : std::uint8_t { as_fast_as_possible, fixed_rate };
/// When phase 5 makes the tick's log records durable: never (buffered), every tick, or every `group` ticks.
enum class durability : std::uint8_t { none, every_tick, group_commit };

/// How a tick_orchestrator runs its ticks.
struct tick_options {
  tick_budgets budgets{};  ///< the budgets
  tick_mode mode = tick_mode::as_fast_as_possible;  ///< how run(n) paces ticks
  std::chrono::nanoseconds period = std::chrono::nanoseconds(16'666'667);  ///< fixed_rate: 60 Hz
  std::size_t keep_records = 1024;                                         ///< ticks kept in the ring
  durability log_durability = durability::every_tick;  ///< when phase 5 makes the log durable
  std::size_t group = 8;          ///< group_commit: sync every this many ticks
  tlog_writer* log = nullptr;     ///< where phase 5 appends the tick's records (none: phase 5 is empty)
  segmented_tlog* segmented_log = nullptr;  ///< or a segmented log (not both)
};

/// One tick, as it ran.
struct tick_record {
  std::uint64_t tick = 0;  ///< 0-based
  epoch at{0};             ///< the step's epoch
  tick_clock::time_point start{};  ///< when phase 1 began (the phases follow one another from here)
  std::array<std::uint64_t, tick_phase_count> phase_ns{};  ///< each phase's duration, in ns
  std::uint64_t total_ns = 0;  ///< the tick's duration, in ns
  std::size_t deltas = 0;      ///< deltas applied in the cut
  std::size_t rejected = 0;    ///< deltas rejected in the cut
  std::size_t recomputed = 0;  ///< derived pages recomputed
  std::size_t changed = 0;     ///< of those, pages whose value changed
  std::size_t edits = 0;                    ///< edge edits committed
  bool gc_ran = false;  ///< whether phase 4 ran
  std::size_t log_bytes = 0;  ///< bytes the tick appended to the engine's log
  /// Per budget: by how much the tick exceeded it (0: within).
  std::array<std::uint64_t, tick_budget_count> excess_ns{};
  /// Per budget exceeded: the phase that took the most of it (as in tick_overrun).
  std::array<tick_phase, tick_budget_count> overrun_phase{};
  std::uint64_t frame = 0;          ///< fixed_rate: its frame on the grid; otherwise the tick
  std::int64_t late_ns = 0;         ///< fixed_rate: start minus the frame start (never negative)
  std::uint32_t missed_frames = 0;  ///< fixed_rate: frame starts passed over before this tick
  /// Whether any budget was exceeded.
  [[nodiscard]] bool overran() const noexcept {
    for (const auto e : excess_ns)
      if (e != 0) return true;
    return false;
  }
};

/// One budget exceeded in one tick, as on_overrun reports it.
struct tick_overrun {
  std::uint64_t tick = 0;  ///< the tick (0-based)
  tick_budget budget{};  ///< the budget exceeded
  tick_phase phase{};  ///< the phase that took the most of the budget
  std::chrono::nanoseconds took{};     ///< what the budget's phases took
  std::chrono::nanoseconds allowed{};  ///< the budget
  std::chrono::nanoseconds excess{};   ///< took - allowed
};

/// A collector the orchestrator gives time to (phase 4). gc_wanted(): a threshold was crossed or
/// work is unfinished; gc_slice(deadline): work until about `deadline`, then stop resumably.
template <class G>
concept gc_participant = requires(G& g, tick_clock::time_point deadline) {
  { g.gc_wanted() } -> std::convertible_to<bool>;
  g.gc_slice(deadline);
};

/// No collector: phase 4 never runs.
struct no_gc {
  /// Never.
  [[nodiscard]] bool gc_wanted() const noexcept { return false; }
  /// Does nothing.
  void gc_slice(tick_clock::time_point) noexcept {}
};

/// An engine that collects its own garbage (gc_wanted, gc_slice), as a gc_participant; with a
/// segmented log, it also drops the log segments the newest checkpoint covers (note_checkpoint
/// says which that is: call it once a checkpoint is safely saved). A slice compacts first (if the
/// engine wants it), then drops segments until the deadline.
template <class E>
struct engine_collector {
  engine_collector() = default;
  /// A collector for engine `e` and, if given, its segmented log.
  explicit engine_collector(E* e, segmented_tlog* segments = nullptr) noexcept : engine(e), log(segments) {}
  E* engine = nullptr;  ///< the engine collected
  segmented_tlog* log = nullptr;  ///< its segmented log (null: none)
  std::optional<epoch> checkpoint;  ///< the newest checkpoint's epoch, if any
  std::uint64_t slices = 0;                 ///< slices run
  std::uint64_t slices_without_time = 0;    ///< slices that ran out of time before their work was done
  std::uint64_t segments_dropped = 0;       ///< log segments deleted
  std::uint64_t segment_bytes_dropped = 0;  ///< their bytes
  errc last_error = errc::ok;  ///< the last segment drop's error (ok: none)
  /// Notes that a checkpoint at `at` is safely saved: the segments it covers may be dropped.
  void note_checkpoint(epoch at) noexcept {
    if (!checkpoint || *checkpoint < at) checkpoint = at;
  }
  /// Whether a saved checkpoint covers a log segment that can be dropped.
  [[nodiscard]] bool segments_droppable() const { return log != nullptr && checkpoint && log->droppable(*checkpoint); }
  /// Whether the engine wants a GC slice or a segment can be dropped.
  [[nodiscard]] bool gc_wanted() const { return engine->gc_wanted() || segments_droppable(); }
  /// Compacts (if the engine wants it), then drops covered segments, until `deadline`.
  void gc_slice(tick_clock::time_point deadline) {
    bool had_time = true;
    if (engine->gc_wanted()) had_time = engine->gc_slice(deadline).had_time;
    if (segments_droppable()) {
      const auto dropped = log->drop_covered(*checkpoint, [&] { return tick_clock::now() >= deadline; });
      if (dropped) {
        segments_dropped += dropped->segments;
        segment_bytes_dropped += dropped->bytes;
        had_time = had_time && (dropped->segments != 0 || !dropped->more);
      } else {
        last_error = dropped.error().code;
      }
    }
    ++slices;
    if (!had_time) ++slices_without_time;
  }
};

/// steady_clock as measured here: see the contract.
struct clock_facts {
  std::chrono::nanoseconds resolution{};  ///< smallest non-zero step between consecutive reads
  double read_ns = 0;                     ///< mean cost of one now()
  bool steady = tick_clock::is_steady;  ///< whether the clock is steady (it is: steady_clock)
};
/// Measures the clock's resolution and the cost of one read over `reads` reads.
[[nodiscard]] inline clock_facts measure_clock(std::size_t reads = 200'000) {
  clock_facts f;
  auto smallest = tick_clock::duration::max();
  const auto t0 = tick_clock::now();
  auto prev = t0;
  for (std::size_t i = 0; i < reads; ++i) {
    const auto t = tick_clock::now();
    if (t != prev && t - prev < smallest) smallest = t - prev;
    prev = t;
  }
  f.read_ns = static_cast<double>(std::chrono::duration_cast<std::chrono::nanoseconds>(prev - t0).count()) / static_cast<double>(reads);
  f.resolution = smallest == tick_clock::duration::max() ? std::chrono::nanoseconds(0) : std::chrono::duration_cast<std::chrono::nanoseconds>(smallest);
  return f;
}

/// Drives a phased engine through its five phases per tick, timing each against its budget and recording every tick (see the file contract).
template <phased_engine Engine, gc_participant Gc = no_gc>
class tick_orchestrator {
 public:
  /// What on_overrun calls, once per overrun.
  using overrun_callback = std::function<void(const tick_overrun&)>;

  /// Checks the options (see the contract) and sets up the ring and histograms.
  [[nodiscard]] static result<tick_orchestrator> make(Engine& engine, tick_options options = {}, Gc gc = Gc{}) {
    const auto& b = options.budgets;
    using ns = std::chrono::nanoseconds;
    if (b.apply_propagate <= ns::zero() || b.graph <= ns::zero() || b.gc <= ns::zero() || b.total <= ns::zero())
      return unexpected(errc::invalid_argument, 0, "every tick budget must be positive");
    if (b.total < b.apply_propagate + b.graph + b.gc)
      return unexpected(errc::invalid_argument, 0, "the total budget is below the sum of the phase budgets");
    if (options.period <= ns::zero()) return unexpected(errc::invalid_argument, 0, "the fixed-rate period must be positive");
    if (options.log != nullptr && options.segmented_log != nullptr)
      return unexpected(errc::invalid_argument, 0, "phase 5 writes to one log: a tlog_writer or a segmented_tlog");
    if (options.keep_records == 0) return unexpected(errc::invalid_argument, 0, "the record ring needs room for one tick");
    if (options.log_durability == durability::group_commit && options.group == 0)
      return unexpected(errc::invalid_argument, 0, "group commit needs a group of at least one tick");
    return tick_orchestrator(engine, std::move(options), std::move(gc));
  }

  /// Called with every overrun, after the tick that had it (may be empty).
  void on_overrun(overrun_callback cb) { callback_ = std::move(cb); }

  /// Runs one tick now; returns its record.
  result<tick_record> tick() { return run_tick(tick_clock::now(), ticks_, 0, 0); }

  /// Runs `n` ticks in the configured mode (see the contract). Stops at the first log error.
  result<void> run(std::size_t n) {
    if (options_.mode == tick_mode::as_fast_as_possible) {
      for (std::size_t i = 0; i < n; ++i)
        if (auto r = tick(); !r) return unexpected(r.error());
      return {};
    }
    if (!grid_started_) {
      grid_start_ = tick_clock::now();
      next_frame_ = 0;
      grid_started_ = true;
    }
    for (std::size_t i = 0; i < n; ++i) {
      const auto frame = grid_start_ + options_.period * static_cast<std::int64_t>(next_frame_);
      std::this_thread::sleep_until(frame);
      auto now = tick_clock::now();
      while (now < frame) now = tick_clock::now();  // sleep_until may wake a little early on some systems
      const std::uint32_t missed = missed_pending_;
      missed_pending_ = 0;
      auto r = run_tick(now, next_frame_, std::chrono::duration_cast<std::chrono::nanoseconds>(now - frame).count(), missed);
      if (!r) return unexpected(r.error());
      // The next frame start ahead of now; the ones passed over are missed.
      const auto end = tick_clock::now();
      std::uint64_t next = next_frame_ + 1;
      const auto since = end - grid_start_;
      const auto due = static_cast<std::uint64_t>(since / options_.period);  // frames started by `end`
      if (due >= next) {
        missed_pending_ = static_cast<std::uint32_t>(due - next + 1);
        missed_frames_ += missed_pending_;
        next = due + 1;
      }
      next_frame_ = next;
    }
    return {};
  }

  /// group_commit: writes and syncs what the last ticks appended (also right for the other policies).
  result<void> flush_log() {
    if (options_.log != nullptr) return options_.log->commit();
    if (options_.segmented_log != nullptr) return options_.segmented_log->commit();
    return {};
  }

  // ------------------------------------------------------------------ what the ticks left
  /// Ticks run.
  [[nodiscard]] std::uint64_t ticks() const noexcept { return ticks_; }
  /// Records kept (at most keep_records); i = 0 is the oldest kept.
  [[nodiscard]] std::size_t records_kept() const noexcept { return static_cast<std::size_t>(std::min<std::uint64_t>(ticks_, ring_.size())); }
  /// Record `i` of those kept, oldest first (i < records_kept()).
  [[nodiscard]] const tick_record& record(std::size_t i) const noexcept {
    const std::uint64_t first = ticks_ - records_kept();
    return ring_[(first + i) % ring_.size()];
  }
  /// The newest record (at least one tick must have run).
  [[nodiscard]] const tick_record& last() const noexcept { return ring_[(ticks_ - 1) % ring_.size()]; }
  /// The histogram of phase `p`'s durations, in ns.
  [[nodiscard]] const log_linear_histogram& histogram(tick_phase p) const noexcept { return hist_->phase[static_cast<std::size_t>(p)]; }
  /// The histogram of whole ticks' durations, in ns.
  [[nodiscard]] const log_linear_histogram& total_histogram() const noexcept { return hist_->total; }
  /// Overruns of budget `b` since make().
  [[nodiscard]] std::uint64_t overruns(tick_budget b) const noexcept { return overruns_[static_cast<std::size_t>(b)]; }
  /// Overruns of budget `b` in which `p` was the phase that took the most of it (they sum, over
  /// the phases, to overruns(b)).
  [[nodiscard]] std::uint64_t overruns(tick_budget b, tick_phase p) const noexcept {
    return overruns_by_phase_[static_cast<std::size_t>(b)][static_cast<std::size_t>(p)];
  }
  /// Fixed-rate mode: frame starts passed over, in all.
  [[nodiscard]] std::uint64_t missed_frames() const noexcept { return missed_frames_; }
  /// The last tick's step report (its rejections, propagation, graph verdict).
  [[nodiscard]] const step_report& last_report() const noexcept { return report_; }
  /// The options made with.
  [[nodiscard]] const tick_options& options() const noexcept { return options_; }
  /// The collector.
  [[nodiscard]] Gc& gc() noexcept { return gc_; }
  /// The engine driven.
  [[nodiscard]] Engine& engine() noexcept { return *engine_; }

 private:
  struct histograms {
    std::array<log_linear_histogram, tick_phase_count> phase;
    log_linear_histogram total;
  };

  tick_orchestrator(Engine& e, tick_options o, Gc gc)
      : engine_(&e), options_(std::move(o)), gc_(std::move(gc)), ring_(options_.keep_records), hist_(std::make_unique<histograms>()) {
    log_pos_ = engine_->log_records().size();
  }

  static std::uint64_t ns_between(tick_clock::time_point a, tick_clock::time_point b) noexcept {
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(b - a).count());
  }

  result<tick_record> run_tick(tick_clock::time_point start, std::uint64_t frame, std::int64_t late_ns, std::uint32_t missed) {
    tick_record rec;
    rec.tick = ticks_;
    rec.start = start;
    rec.frame = frame;
    rec.late_ns = late_ns;
    rec.missed_frames = missed;
    {  // a fresh report that keeps the rejection list's room
      auto room = std::move(report_.rejected);
      room.clear();
      report_ = step_report{};
      report_.rejected = std::move(room);
    }
    std::array<tick_clock::time_point, tick_phase_count + 1> t{};
    t[0] = start;
    engine_->step_apply(report_);
    t[1] = tick_clock::now();
    engine_->step_propagate(report_);
    t[2] = tick_clock::now();
    engine_->step_graph(report_);
    t[3] = tick_clock::now();
    if (gc_.gc_wanted()) {
      rec.gc_ran = true;
      gc_.gc_slice(start + options_.budgets.total);
    }
    t[4] = tick_clock::now();
    auto logged = write_log();
    t[5] = tick_clock::now();

    for (std::size_t p = 0; p < tick_phase_count; ++p) rec.phase_ns[p] = ns_between(t[p], t[p + 1]);
    rec.total_ns = ns_between(t[0], t[5]);
    rec.at = report_.at;
    rec.deltas = report_.applied;
    rec.rejected = report_.rejected.size();
    rec.recomputed = report_.propagation.recomputed;
    rec.changed = report_.propagation.changed;
    rec.edits = report_.edits_committed;
    rec.log_bytes = report_.log_bytes;
    check(rec, tick_budget::apply_propagate, rec.phase_ns[0] + rec.phase_ns[1], rec.phase_ns[0] >= rec.phase_ns[1] ? tick_phase::apply : tick_phase::propagate);
    check(rec, tick_budget::graph, rec.phase_ns[2], tick_phase::graph);
    check(rec, tick_budget::gc, rec.phase_ns[3], tick_phase::gc);
    std::size_t slowest = 0;
    for (std::size_t p = 1; p < tick_phase_count; ++p)
      if (rec.phase_ns[p] > rec.phase_ns[slowest]) slowest = p;
    check(rec, tick_budget::total, rec.total_ns, static_cast<tick_phase>(slowest));

    for (std::size_t p = 0; p < tick_phase_count; ++p) hist_->phase[p].record(rec.phase_ns[p]);
    hist_->total.record(rec.total_ns);
    ring_[ticks_ % ring_.size()] = rec;
    ++ticks_;
    if (callback_)
      for (std::size_t b = 0; b < tick_budget_count; ++b)
        if (rec.excess_ns[b] != 0) callback_(pending_[b]);
    if (!logged) return unexpected(logged.error());
    return rec;
  }

  void check(tick_record& rec, tick_budget b, std::uint64_t took_ns, tick_phase phase) noexcept {
    const auto allowed = static_cast<std::uint64_t>(options_.budgets.of(b).count());
    if (took_ns <= allowed) return;
    const auto i = static_cast<std::size_t>(b);
    rec.excess_ns[i] = took_ns - allowed;
    rec.overrun_phase[i] = phase;
    ++overruns_[i];
    ++overruns_by_phase_[i][static_cast<std::size_t>(phase)];
    pending_[i] = tick_overrun{rec.tick, b, phase, std::chrono::nanoseconds(took_ns), std::chrono::nanoseconds(allowed),
                               std::chrono::nanoseconds(took_ns - allowed)};
  }

  // Phase 5: the engine's records since the last tick, to the writer, per the policy.
  result<void> write_log() {
    if (options_.log != nullptr) return write_to(*options_.log);
    if (options_.segmented_log != nullptr) return write_to(*options_.segmented_log);
    log_pos_ = engine_->log_records().size();
    return {};
  }
  template <class Log>
  result<void> write_to(Log& log) {
    const auto records = engine_->log_records();
    const auto fresh = records.subspan(log_pos_);
    if (auto ok = log.append_records(fresh); !ok) return ok;
    log_pos_ = records.size();
    switch (options_.log_durability) {
      case durability::none: return {};
      case durability::every_tick: return log.commit();
      case durability::group_commit:
        if ((ticks_ + 1) % options_.group == 0) return log.commit();
        return {};
    }
    return {};
  }

  Engine* engine_;
  tick_options options_;
  Gc gc_;
  std::vector<tick_record> ring_;
  std::unique_ptr<histograms> hist_;  // ~350 KiB: on the heap, so an orchestrator moves cheaply
  step_report report_;
  std::uint64_t ticks_ = 0;
  std::array<std::uint64_t, tick_budget_count> overruns_{};
  std::array<std::array<std::uint64_t, tick_phase_count>, tick_budget_count> overruns_by_phase_{};
  std::array<tick_overrun, tick_budget_count> pending_{};
  overrun_callback callback_;
  std::size_t log_pos_ = 0;
  // fixed_rate
  bool grid_started_ = false;
  tick_clock::time_point grid_start_{};
  std::uint64_t next_frame_ = 0;
  std::uint32_t missed_pending_ = 0;
  std::uint64_t missed_frames_ = 0;
};

}  // namespace tickflow
