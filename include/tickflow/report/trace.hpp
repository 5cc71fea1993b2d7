/// @file
/// tickflow/report/trace.hpp — ticks as Chrome Trace Event JSON (the format chrome://tracing and
/// Perfetto UI open): phases, the workers' tasks, overruns.
///
/// Contract
///   * traced_executor<Ex> wraps an executor (executor.hpp) and satisfies the same concept; an
///     engine takes it as its Executor (reference_engine<T, K, traced_executor<thread_pool>>),
///     constructed from the same arguments as Ex. Each parallel_for is one task per worker that
///     ran any of its indices: the span from the worker's first index's start to its last index's
///     end, with the number of indices. Tracing costs two clock reads per index. The spans go
///     into a ring of fixed capacity (the constructor's `spans`, default 16384): the oldest are
///     overwritten, and memory never grows after construction. A parallel_for is traced only when
///     called from outside the pool (a nested one runs inline inside a traced task).
///   * write_chrome_trace(out, ticks, tasks) appends one JSON object to `out`:
///       {"displayTimeUnit":"ms","otherData":{...},"traceEvents":[...]}
///     built from the orchestrator's ring of the last N ticks (tick_options::keep_records, so the
///     trace is bounded by it) and the task spans that began inside those ticks:
///       - metadata events ("ph":"M") naming the process and one track per thread: tid 0 for the
///         ticks, tid 1 + w for worker w (worker 0 is the thread that calls parallel_for);
///       - per tick a complete event ("ph":"X") "tick <n>" on tid 0 with its counts in args, and
///         inside it one complete event per phase, back to back (they nest exactly: a tick's
///         phases are consecutive intervals from its start, and sum to its total);
///       - per task a complete event on its worker's track, named after the phase it began in;
///       - per budget exceeded an instant event ("ph":"i", "s":"t") "overrun <budget>" at the
///         tick's end, with the phase that took the most of the budget and the excess.
///     Timestamps are microseconds (with nanosecond decimals) from the first kept tick's start.
///   * Allocation: write_chrome_trace grows `out` only. The executor's wrapper allocates nothing
///     per call.
///
/// Thread-safety: traced_executor::parallel_for as its Ex's (serialized); its spans may be read
/// (spans(), write_chrome_trace) only between fork-joins, from the thread that calls them.
#pragma once

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tickflow/core/cache_padded.hpp"
#include "tickflow/engine/executor.hpp"
#include "tickflow/engine/tick.hpp"

namespace tickflow {

/// One worker's share of one parallel_for.
struct task_span {
  std::uint64_t fork_join = 0;  ///< the parallel_for's sequence number (from 0)
  std::uint32_t worker = 0;  ///< the worker that ran them (0: the caller)
  std::uint32_t indices = 0;  ///< indices the worker ran (saturates at 2^32 - 1)
  tick_clock::time_point begin{};  ///< when the worker began its share
  tick_clock::time_point end{};    ///< when it finished
};

/// Tag for traced_executor's constructor that sets the ring's size.
struct ring_tag {};

/// An executor adapter that records one span per worker per fork-join into a fixed ring (see the file contract).
template <executor Ex>
class traced_executor {
 public:
  /// The wrapped executor is built from `args`; the span ring holds `spans` entries.
  template <class... Args>
  explicit traced_executor(Args&&... args) : traced_executor(std::size_t{16384}, ring_tag{}, std::forward<Args>(args)...) {}
  /// The wrapped executor is built from `args`; the span ring holds `spans` entries.
  template <class... Args>
  traced_executor(std::size_t spans, ring_tag, Args&&... args)
      : ex_(std::forward<Args>(args)...),
        ring_(std::max<std::size_t>(spans, 1)),
        now_(std::make_unique<cache_padded<worker_now>[]>(ex_.concurrency())) {}

  /// The wrapped executor's concurrency.
  [[nodiscard]] std::size_t concurrency() const noexcept { return ex_.concurrency(); }

  /// Runs fn over [0, count) on the wrapped executor, recording each worker's span.
  template <class F>
  void parallel_for(std::size_t count, F&& fn) {
    if (count == 0) return;
    if (depth_ != 0) {  // nested: part of the traced task that runs it
      ex_.parallel_for(count, fn);
      return;
    }
    const std::size_t n = ex_.concurrency();
    for (std::size_t w = 0; w < n; ++w) now_[w].value = worker_now{};
    ++depth_;
    struct guard {
      int& d;
      ~guard() { --d; }
    } g{depth_};
    ex_.parallel_for(count, [&](std::size_t i, std::size_t w) {
      worker_now& s = now_[w].value;
      const auto t0 = tick_clock::now();
      if (s.indices == 0) s.begin = t0;
      fn(i, w);
      s.end = tick_clock::now();
      if (s.indices != UINT32_MAX) ++s.indices;
    });
    for (std::size_t w = 0; w < n; ++w) {
      const worker_now& s = now_[w].value;
      if (s.indices == 0) continue;
      ring_[written_ % ring_.size()] = task_span{fork_joins_, static_cast<std::uint32_t>(w), s.indices, s.begin, s.end};
      ++written_;
    }
    ++fork_joins_;
  }

  /// The kept spans, oldest first: i in [0, spans_kept()).
  [[nodiscard]] std::size_t spans_kept() const noexcept { return static_cast<std::size_t>(std::min<std::uint64_t>(written_, ring_.size())); }
  /// Kept span `i`, oldest first.
  [[nodiscard]] const task_span& span(std::size_t i) const noexcept { return ring_[(written_ - spans_kept() + i) % ring_.size()]; }
  /// Spans recorded since construction (the ring keeps the last spans_kept()).
  [[nodiscard]] std::uint64_t spans_written() const noexcept { return written_; }
  /// Fork-joins run (parallel_for calls with work).
  [[nodiscard]] std::uint64_t fork_joins() const noexcept { return fork_joins_; }
  /// The wrapped executor.
  [[nodiscard]] Ex& inner() noexcept { return ex_; }

 private:
  struct worker_now {
    tick_clock::time_point begin{}, end{};
    std::uint32_t indices = 0;
  };

  Ex ex_;
  std::vector<task_span> ring_;
  std::unique_ptr<cache_padded<worker_now>[]> now_;
  std::uint64_t written_ = 0;
  std::uint64_t fork_joins_ = 0;
  int depth_ = 0;
};

namespace detail {

inline void trace_number(std::string& out, std::uint64_t v) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}
// Nanoseconds as microseconds with three decimals, exactly (no floating point).
inline void trace_us(std::string& out, std::int64_t ns) {
  if (ns < 0) {
    out.push_back('-');
    ns = -ns;
  }
  trace_number(out, static_cast<std::uint64_t>(ns) / 1000);
  const auto frac = static_cast<unsigned>(static_cast<std::uint64_t>(ns) % 1000);
  out.push_back('.');
  out.push_back(static_cast<char>('0' + frac / 100));
  out.push_back(static_cast<char>('0' + frac / 10 % 10));
  out.push_back(static_cast<char>('0' + frac % 10));
}

}  // namespace detail

/// How write_chrome_trace names the process its tracks belong to.
struct trace_options {
  std::string_view process_name = "tickflow engine";  ///< the process name the trace shows
  std::uint32_t pid = 1;  ///< the process id the trace's events carry
};

/// Appends the trace of the orchestrator's kept ticks and of `tasks`' spans that began in them
/// (see the contract). `tasks` may be null (no worker tracks). T: a tick_orchestrator.
template <class T, class TracedEx = traced_executor<thread_pool>>
void write_chrome_trace(std::string& out, const T& ticks, const TracedEx* tasks = nullptr, const trace_options& o = {}) {
  const std::size_t kept = ticks.records_kept();
  const tick_clock::time_point origin = kept != 0 ? ticks.record(0).start : tick_clock::time_point{};
  const auto at = [&](tick_clock::time_point t) { return std::chrono::duration_cast<std::chrono::nanoseconds>(t - origin).count(); };
  const auto common = [&](std::string_view name, std::string_view cat, char ph, std::uint64_t tid, std::int64_t ts_ns) {
    out.append("{\"name\":\"").append(name).append("\",\"cat\":\"").append(cat).append("\",\"ph\":\"");
    out.push_back(ph);
    out.append("\",\"pid\":");
    detail::trace_number(out, o.pid);
    out.append(",\"tid\":");
    detail::trace_number(out, tid);
    out.append(",\"ts\":");
    detail::trace_us(out, ts_ns);
  };
  // The pairs as args (after `opened` ones already written), then the event's end.
  const auto args = [&](std::span<const std::pair<const char*, std::uint64_t>> kv, bool opened) {
    if (!opened) out.append(",\"args\":{");
    for (const auto& [key, value] : kv) {
      if (opened) out.push_back(',');
      opened = true;
      out.push_back('"');
      out.append(key).append("\":");
      detail::trace_number(out, value);
    }
    out.append("}}");
  };
  bool first = true;
  const auto next = [&] {
    if (!first) out.append(",\n");
    first = false;
  };

  out.append("{\"displayTimeUnit\":\"ms\",\"otherData\":{\"producer\":\"tickflow\",\"ticks\":");
  detail::trace_number(out, kept);
  out.append(",\"ticks_run\":");
  detail::trace_number(out, ticks.ticks());
  out.append("},\"traceEvents\":[\n");

  // Tracks.
  next();
  out.append("{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":");
  detail::trace_number(out, o.pid);
  out.append(",\"tid\":0,\"args\":{\"name\":\"");
  for (const char c : o.process_name)
    if (c != '"' && c != '\\' && static_cast<unsigned char>(c) >= 0x20) out.push_back(c);
  out.append("\"}}");
  const std::size_t workers = tasks != nullptr ? tasks->concurrency() : 0;
  for (std::size_t tid = 0; tid <= workers; ++tid) {
    next();
    out.append("{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":");
    detail::trace_number(out, o.pid);
    out.append(",\"tid\":");
    detail::trace_number(out, tid);
    out.append(",\"args\":{\"name\":\"");
    if (tid == 0) {
      out.append("ticks");
    } else {
      out.append("worker ");
      detail::trace_number(out, tid - 1);
      if (tid == 1) out.append(" (caller)");
    }
    out.append("\"}}");
    next();
    out.append("{\"name\":\"thread_sort_index\",\"ph\":\"M\",\"pid\":");
    detail::trace_number(out, o.pid);
    out.append(",\"tid\":");
    detail::trace_number(out, tid);
    out.append(",\"args\":{\"sort_index\":");
    detail::trace_number(out, tid);
    out.append("}}");
  }

  // Ticks, their phases and overruns.
  char name[48];
  for (std::size_t i = 0; i < kept; ++i) {
    const tick_record& r = ticks.record(i);
    const std::int64_t start = at(r.start);
    next();
    const int len = std::snprintf(name, sizeof name, "tick %llu", static_cast<unsigned long long>(r.tick));
    common(std::string_view(name, static_cast<std::size_t>(len)), "tick", 'X', 0, start);
    out.append(",\"dur\":");
    detail::trace_us(out, static_cast<std::int64_t>(r.total_ns));
    out.append(",\"args\":{\"gc_ran\":").append(r.gc_ran ? "true" : "false");
    const std::pair<const char*, std::uint64_t> counts[] = {{"epoch", r.at.value()}, {"deltas", r.deltas},   {"rejected", r.rejected},
                                                            {"recomputed", r.recomputed}, {"changed", r.changed}, {"edits", r.edits},
                                                            {"log_bytes", r.log_bytes}};
    args(counts, true);
    std::int64_t t = start;
    for (std::size_t p = 0; p < tick_phase_count; ++p) {
      next();
      common(name_of(static_cast<tick_phase>(p)), "phase", 'X', 0, t);
      out.append(",\"dur\":");
      detail::trace_us(out, static_cast<std::int64_t>(r.phase_ns[p]));
      out.append("}");
      t += static_cast<std::int64_t>(r.phase_ns[p]);
    }
    for (std::size_t b = 0; b < tick_budget_count; ++b) {
      if (r.excess_ns[b] == 0) continue;
      const auto budget = static_cast<tick_budget>(b);
      next();
      const int n = std::snprintf(name, sizeof name, "overrun %s", name_of(budget));
      common(std::string_view(name, static_cast<std::size_t>(n)), "overrun", 'i', 0, start + static_cast<std::int64_t>(r.total_ns));
      out.append(",\"s\":\"t\",\"args\":{\"budget\":\"").append(name_of(budget)).append("\",\"phase\":\"");
      out.append(name_of(r.overrun_phase[b])).append("\",\"excess_us\":");
      detail::trace_us(out, static_cast<std::int64_t>(r.excess_ns[b]));
      out.append("}}");
    }
  }

  // Tasks that began inside a kept tick, named after the phase they began in.
  if (tasks != nullptr && kept != 0) {
    std::size_t tick = 0;
    for (std::size_t i = 0; i < tasks->spans_kept(); ++i) {
      const task_span& s = tasks->span(i);
      const std::int64_t b = at(s.begin);
      while (tick < kept && at(ticks.record(tick).start) + static_cast<std::int64_t>(ticks.record(tick).total_ns) < b) ++tick;
      if (tick == kept) break;
      const tick_record& r = ticks.record(tick);
      std::int64_t t = at(r.start);
      if (b < t) continue;  // between ticks (or before the first kept one)
      const char* phase = "task";
      for (std::size_t p = 0; p < tick_phase_count; ++p) {
        if (b < t + static_cast<std::int64_t>(r.phase_ns[p])) {
          phase = name_of(static_cast<tick_phase>(p));
          break;
        }
        t += static_cast<std::int64_t>(r.phase_ns[p]);
      }
      next();
      common(phase, "task", 'X', std::uint64_t{s.worker} + 1, b);
      out.append(",\"dur\":");
      detail::trace_us(out, std::chrono::duration_cast<std::chrono::nanoseconds>(s.end - s.begin).count());
      const std::pair<const char*, std::uint64_t> counts[] = {{"fork_join", s.fork_join}, {"indices", s.indices}, {"tick", r.tick}};
      args(counts, false);
    }
  }
  out.append("\n]}\n");
}

}  // namespace tickflow
