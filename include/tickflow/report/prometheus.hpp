/// @file
/// tickflow/report/prometheus.hpp — an engine's metrics in the Prometheus text exposition format
/// (version 0.0.4: `# HELP`, `# TYPE`, one sample per line).
///
/// Contract
///   * text_writer appends to a caller's std::string. It writes families: family() writes the
///     HELP and TYPE lines, then sample(), or histogram() for a histogram family, writes its series.
///     The caller keeps a family's series together (the format asks for it); the writer checks
///     names and label names against the format's grammar ([a-zA-Z_:][a-zA-Z0-9_:]* for metric
///     names, [a-zA-Z_][a-zA-Z0-9_]* for label names, no leading "__") and returns
///     errc::invalid_argument (detail: the bad label's position; the message says which rule
///     broke), without writing anything for that call.
///     Label values and HELP text are escaped (backslash, double quote in values, newline).
///   * Values: integers print exactly; doubles in the shortest form that reads back to the same
///     double (std::to_chars), with +Inf, -Inf and NaN spelled as the format spells them.
///   * histogram() turns a log_linear_histogram (core/histogram.hpp) of nanoseconds into the
///     format's cumulative `_bucket{le="..."}` series (in seconds), then `_sum` and `_count`.
///     A bucket with upper bound `le` counts the values whose histogram bucket lies wholly at or
///     below le: a value within 1/128 of its size under le may be counted in the next bucket up,
///     never in a lower one. The `+Inf` bucket equals `_count`. Bounds must rise strictly.
///   * write_engine_metrics(w, engine, ticks) writes tickflow's standard families (names below,
///     prefixed by options::prefix, default "tickflow"):
///       counters   <p>_ticks_total, <p>_deltas_applied_total, <p>_deltas_rejected_total,
///                  <p>_edits_committed_total, <p>_edits_rejected_total, <p>_gc_slices_total,
///                  <p>_missed_frames_total, <p>_tick_overruns_total{budget, phase} (phase: the
///                  phase that took the most of the budget; every pair is written, zeros too)
///       gauges     <p>_pages, <p>_payload_bytes, <p>_memory_bytes{part} (slab, table,
///                  free_lists, graph, ingest, log_buffer, scratch, cold_tier),
///                  <p>_fragmentation_ratio, <p>_resident_bytes (process RSS; 0 if unknown)
///       histograms <p>_tick_phase_seconds{phase}, <p>_tick_seconds
///     The engine's counters count since its construction, the orchestrator's since its own.
///   * No allocation beyond the string's growth: a caller that clears and reuses one string
///     allocates only while the output grows past its capacity. No I/O, no server: serving the
///     text (HTTP or a file for node_exporter's textfile collector) is the caller's (see
///     examples/metrics_server.cpp).
///
/// Thread-safety: a text_writer is a value over one string. write_engine_metrics reads the engine
/// and the orchestrator without locking: call it from the thread that ticks, between ticks (the
/// example copies the text under a mutex for its server thread).
#pragma once

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "tickflow/core/histogram.hpp"
#include "tickflow/core/result.hpp"
#include "tickflow/engine/memory.hpp"
#include "tickflow/engine/tick.hpp"

namespace tickflow::prometheus {

/// A family's TYPE line.
enum class metric_type : std::uint8_t { counter, gauge, histogram };

/// One label: name and (unescaped) value.
struct label {
  std::string_view name;  ///< the label's name ([a-zA-Z_][a-zA-Z0-9_]*, not starting with __)
  std::string_view value;  ///< its value, escaped on output
};

/// Whether `s` is a valid metric name.
[[nodiscard]] constexpr bool valid_metric_name(std::string_view s) noexcept {
  if (s.empty()) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
    const bool digit = c >= '0' && c <= '9';
    if (!(alpha || (i > 0 && digit))) return false;
  }
  return true;
}
/// Whether `s` is a valid label name (no ':' and no reserved "__" prefix).
[[nodiscard]] constexpr bool valid_label_name(std::string_view s) noexcept {
  if (s.empty() || s.starts_with("__")) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    const bool digit = c >= '0' && c <= '9';
    if (!(alpha || (i > 0 && digit))) return false;
  }
  return true;
}

/// Default histogram bounds, in seconds: 50 us to 64 ms, around the 16 ms frame.
inline constexpr std::array<double, 12> default_bounds_s = {50e-6, 100e-6, 250e-6, 500e-6, 1e-3,  2e-3,
                                                            4e-3,  8e-3,   16e-3,  32e-3,  64e-3, 128e-3};

/// No labels.
inline constexpr std::span<const label> no_labels{};

/// Writes the Prometheus text exposition format into a string, family by family (see the file contract).
class text_writer {
 public:
  /// Appends to `out`; nothing else is kept.
  explicit text_writer(std::string& out) noexcept : out_(&out) {}

  /// `# HELP name help` and `# TYPE name type`.
  result<void> family(std::string_view name, metric_type type, std::string_view help) {
    if (!valid_metric_name(name)) return unexpected(errc::invalid_argument, 0, "not a valid Prometheus metric name");
    out_->append("# HELP ").append(name).push_back(' ');
    for (const char c : help) {
      if (c == '\\') out_->append("\\\\");
      else if (c == '\n') out_->append("\\n");
      else out_->push_back(c);
    }
    out_->append("\n# TYPE ").append(name).push_back(' ');
    out_->append(type == metric_type::counter ? "counter" : type == metric_type::gauge ? "gauge" : "histogram");
    out_->push_back('\n');
    return {};
  }

  /// One sample line: `name{labels} value`.
  result<void> sample(std::string_view name, std::span<const label> labels, double value) {
    if (auto ok = check(name, labels); !ok) return ok;
    head(name, labels, {});
    number(value);
    out_->push_back('\n');
    return {};
  }
  /// One sample line of an integer value.
  result<void> sample(std::string_view name, std::span<const label> labels, std::uint64_t value) {
    if (auto ok = check(name, labels); !ok) return ok;
    head(name, labels, {});
    integer(value);
    out_->push_back('\n');
    return {};
  }
  /// One sample line of an integer value, labels given inline.
  result<void> sample(std::string_view name, std::initializer_list<label> labels, std::uint64_t value) {
    return sample(name, std::span<const label>(labels.begin(), labels.size()), value);
  }
  /// One sample line, labels given inline.
  result<void> sample(std::string_view name, std::initializer_list<label> labels, double value) {
    return sample(name, std::span<const label>(labels.begin(), labels.size()), value);
  }

  /// The `_bucket`, `_sum` and `_count` series of one histogram of nanoseconds (see the contract).
  result<void> histogram(std::string_view name, std::span<const label> labels, const log_linear_histogram& h,
                         std::span<const double> bounds_s = default_bounds_s) {
    if (auto ok = check(name, labels); !ok) return ok;
    for (std::size_t i = 0; i < bounds_s.size(); ++i)
      if (!(bounds_s[i] >= 0.0) || !std::isfinite(bounds_s[i]) || (i > 0 && !(bounds_s[i] > bounds_s[i - 1])))
        return unexpected(errc::invalid_argument, i, "histogram bounds must be finite, non-negative and rising");
    // Cumulative counts: walk the histogram's buckets once, in order.
    std::size_t bucket = 0;
    std::uint64_t below = 0;
    for (const double le : bounds_s) {
      const double le_ns = le * 1e9;
      while (bucket < log_linear_histogram::buckets && static_cast<double>(log_linear_histogram::highest_in(bucket)) <= le_ns) {
        below += h.count_in(bucket);
        ++bucket;
      }
      head_suffixed(name, "_bucket", labels, le);
      integer(below);
      out_->push_back('\n');
    }
    head_suffixed(name, "_bucket", labels, std::numeric_limits<double>::infinity());
    integer(h.count());
    out_->push_back('\n');
    head_suffixed(name, "_sum", labels, std::nullopt);
    number(static_cast<double>(h.sum()) * 1e-9);
    out_->push_back('\n');
    head_suffixed(name, "_count", labels, std::nullopt);
    integer(h.count());
    out_->push_back('\n');
    return {};
  }
  /// The histogram series, labels given inline.
  result<void> histogram(std::string_view name, std::initializer_list<label> labels, const log_linear_histogram& h,
                         std::span<const double> bounds_s = default_bounds_s) {
    return histogram(name, std::span<const label>(labels.begin(), labels.size()), h, bounds_s);
  }

  /// The string written to.
  [[nodiscard]] std::string& out() noexcept { return *out_; }

 private:
  static result<void> check(std::string_view name, std::span<const label> labels) {
    if (!valid_metric_name(name)) return unexpected(errc::invalid_argument, 0, "not a valid Prometheus metric name");
    for (std::size_t i = 0; i < labels.size(); ++i)
      if (!valid_label_name(labels[i].name)) return unexpected(errc::invalid_argument, i, "not a valid Prometheus label name");
    return {};
  }
  void head(std::string_view name, std::span<const label> labels, std::optional<double> le) {
    out_->append(name);
    open_labels(labels, le);
  }
  void head_suffixed(std::string_view name, std::string_view suffix, std::span<const label> labels, std::optional<double> le) {
    out_->append(name).append(suffix);
    open_labels(labels, le);
  }
  void open_labels(std::span<const label> labels, std::optional<double> le) {
    if (!labels.empty() || le) {
      out_->push_back('{');
      bool first = true;
      for (const auto& l : labels) {
        if (!first) out_->push_back(',');
        first = false;
        out_->append(l.name).append("=\"");
        for (const char c : l.value) {
          if (c == '\\') out_->append("\\\\");
          else if (c == '"') out_->append("\\\"");
          else if (c == '\n') out_->append("\\n");
          else out_->push_back(c);
        }
        out_->push_back('"');
      }
      if (le) {
        if (!first) out_->push_back(',');
        out_->append("le=\"");
        number(*le);
        out_->push_back('"');
      }
      out_->push_back('}');
    }
    out_->push_back(' ');
  }
  void integer(std::uint64_t v) {
    char buf[24];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    out_->append(buf, r.ptr);
  }
  void number(double v) {
    if (std::isnan(v)) {
      out_->append("NaN");
      return;
    }
    if (std::isinf(v)) {
      out_->append(v > 0 ? "+Inf" : "-Inf");
      return;
    }
    char buf[32];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    out_->append(buf, r.ptr);
  }

  std::string* out_;
};

/// How write_engine_metrics names and buckets its families.
struct options {
  std::string_view prefix = "tickflow";                  ///< every family's name starts with it and '_'
  std::span<const double> bounds_s = default_bounds_s;   ///< the histograms' bucket bounds, in seconds
};

/// What write_engine_metrics reads of an engine: its counters and its memory report.
template <class E>
concept metered_engine = requires(const E& e) {
  { e.counters() } -> std::convertible_to<const engine_counters&>;
  { e.memory() } -> std::convertible_to<memory_report>;
};

namespace detail {
/// `prefix` + `_` + `name`, into a small fixed buffer (names are short; no allocation).
class metric_name {
 public:
  metric_name(std::string_view prefix, std::string_view name) noexcept {
    const std::size_t n = std::min(prefix.size(), sizeof buf_ - 1);
    std::copy_n(prefix.data(), n, buf_);
    std::size_t at = n;
    if (at < sizeof buf_) buf_[at++] = '_';
    const std::size_t m = std::min(name.size(), sizeof buf_ - at);
    std::copy_n(name.data(), m, buf_ + at);
    size_ = at + m;
    truncated_ = n < prefix.size() || m < name.size();
  }
  [[nodiscard]] std::string_view view() const noexcept { return truncated_ ? std::string_view{} : std::string_view(buf_, size_); }

 private:
  char buf_[128];
  std::size_t size_ = 0;
  bool truncated_ = false;
};
}  // namespace detail

/// Writes tickflow's standard families for `engine` ticked by `ticks` (see the contract).
/// A bad prefix or bounds: errc::invalid_argument, and the string is left as it was.
template <metered_engine E, class T>
result<void> write_engine_metrics(std::string& out, const E& engine, const T& ticks, const options& o = {}) {
  const std::size_t mark = out.size();
  text_writer w(out);
  auto fail = [&](result<void> r) {
    out.resize(mark);
    return r;
  };
  const auto name = [&](std::string_view n) { return detail::metric_name(o.prefix, n); };
  const engine_counters& c = engine.counters();
  const memory_report m = engine.memory();

  struct counter_row {
    const char* name;
    const char* help;
    std::uint64_t value;
  };
  const counter_row counters[] = {
      {"ticks_total", "Ticks run by the orchestrator.", ticks.ticks()},
      {"deltas_applied_total", "Deltas applied by the engine's steps.", c.deltas_applied},
      {"deltas_rejected_total", "Deltas rejected at apply (typed errors in the step report).", c.deltas_rejected},
      {"edits_committed_total", "Graph edges inserted or removed by committed edits.", c.edits_committed},
      {"edits_rejected_total", "Graph edges in edits rejected as a whole.", c.edits_rejected},
      {"gc_slices_total", "GC slices run.", c.gc_slices},
      {"missed_frames_total", "Fixed-rate frame starts passed over.", ticks.missed_frames()},
  };
  for (const auto& row : counters) {
    const auto n = name(row.name);
    if (auto ok = w.family(n.view(), metric_type::counter, row.help); !ok) return fail(ok);
    if (auto ok = w.sample(n.view(), no_labels, row.value); !ok) return fail(ok);
  }
  {
    const auto n = name("tick_overruns_total");
    if (auto ok = w.family(n.view(), metric_type::counter, "Ticks over a budget, by budget and by the phase that took the most of it."); !ok)
      return fail(ok);
    for (std::size_t b = 0; b < tick_budget_count; ++b)
      for (std::size_t p = 0; p < tick_phase_count; ++p) {
        const auto budget = static_cast<tick_budget>(b);
        const auto phase = static_cast<tick_phase>(p);
        if (auto ok = w.sample(n.view(), {{"budget", name_of(budget)}, {"phase", name_of(phase)}}, ticks.overruns(budget, phase)); !ok)
          return fail(ok);
      }
  }

  const counter_row gauges[] = {
      {"pages", "Live pages (hot and cold).", m.pages},
      {"payload_bytes", "Bytes of the live pages' payloads.", m.payload_bytes},
      {"resident_bytes", "The process's resident set (0 if unknown).", m.rss_bytes},
  };
  for (const auto& row : gauges) {
    const auto n = name(row.name);
    if (auto ok = w.family(n.view(), metric_type::gauge, row.help); !ok) return fail(ok);
    if (auto ok = w.sample(n.view(), no_labels, row.value); !ok) return fail(ok);
  }
  {
    const auto n = name("memory_bytes");
    if (auto ok = w.family(n.view(), metric_type::gauge, "The engine's memory by part (capacities)."); !ok) return fail(ok);
    const std::pair<const char*, std::uint64_t> parts[] = {
        {"slab", m.slab_bytes},         {"table", m.table_bytes},   {"free_lists", m.free_list_bytes},
        {"graph", m.graph_bytes},       {"ingest", m.ingest_bytes}, {"log_buffer", m.log_buffer_bytes},
        {"scratch", m.scratch_bytes},   {"cold_tier", m.cold_tier_bytes}};
    for (const auto& [part, bytes] : parts)
      if (auto ok = w.sample(n.view(), {{"part", part}}, bytes); !ok) return fail(ok);
  }
  {
    const auto n = name("fragmentation_ratio");
    if (auto ok = w.family(n.view(), metric_type::gauge, "Slab bytes not in live pages' slots, as a share of the slab bytes."); !ok)
      return fail(ok);
    if (auto ok = w.sample(n.view(), {}, m.fragmentation()); !ok) return fail(ok);
  }
  {
    const auto n = name("tick_phase_seconds");
    if (auto ok = w.family(n.view(), metric_type::histogram, "Tick phase durations."); !ok) return fail(ok);
    for (std::size_t p = 0; p < tick_phase_count; ++p) {
      const auto phase = static_cast<tick_phase>(p);
      if (auto ok = w.histogram(n.view(), {{"phase", name_of(phase)}}, ticks.histogram(phase), o.bounds_s); !ok) return fail(ok);
    }
  }
  {
    const auto n = name("tick_seconds");
    if (auto ok = w.family(n.view(), metric_type::histogram, "Whole tick durations."); !ok) return fail(ok);
    if (auto ok = w.histogram(n.view(), no_labels, ticks.total_histogram(), o.bounds_s); !ok) return fail(ok);
  }
  return {};
}

}  // namespace tickflow::prometheus
