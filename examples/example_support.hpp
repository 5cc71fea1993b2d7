// What the three application examples share: command-line options, one-element deltas, and the
// self-check every example ends with (the run replayed from its checkpoints on an engine with
// another worker count, compared bit for bit; the built-in invariants over the final state).
#pragma once

#include <tickflow/engine/engine.hpp>
#include <tickflow/page/tlog.hpp>
#include <tickflow/validate/invariants.hpp>
#include <tickflow/validate/replay.hpp>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <span>
#include <string_view>
#include <type_traits>
#include <vector>

namespace tickflow::examples {

/// A numeric option `--name N` with its accepted range.
struct number_option {
  std::string_view name;
  unsigned long* value;
  unsigned long lo, hi;
};

/// Parses argv: `--short` (sets *short_mode, if given) and `--name N` for the listed options.
/// Returns false on anything else (unknown name, missing or malformed value, out of range).
/// The short mode's values are applied by the caller *before* explicit options, so that
/// `--short --agents 5` means what it says: call once to find --short, set the defaults, call
/// again for the values.
inline bool parse_options(int argc, char** argv, std::initializer_list<number_option> options, bool* short_mode) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--short" && short_mode != nullptr) {
      *short_mode = true;
      continue;
    }
    const number_option* match = nullptr;
    for (const auto& o : options)
      if (a == o.name) match = &o;
    if (match == nullptr || i + 1 >= argc) return false;
    const char* s = argv[++i];
    if (*s == '\0' || *s == '-') return false;
    char* end = nullptr;
    errno = 0;
    const unsigned long v = std::strtoul(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < match->lo || v > match->hi) return false;
    *match->value = v;
  }
  return true;
}

/// Whether argv holds `--short` (looked for before the defaults are set).
inline bool wants_short(int argc, char** argv) {
  for (int i = 1; i < argc; ++i)
    if (std::string_view(argv[i]) == "--short") return true;
  return false;
}

/// A delta that writes element `element` of a page of T: one element's bytes, all masked in.
template <class T>
  requires std::is_trivially_copyable_v<T> && (sizeof(T) <= 64)
[[nodiscard]] delta element_delta(page_id page, epoch at, std::uint64_t id, std::uint32_t element, const T& value) {
  delta d;
  d.page = page;
  d.at = at;
  d.id = delta_id{id};
  d.offset = static_cast<std::uint32_t>(element * sizeof(T));
  d.length = static_cast<std::uint32_t>(sizeof(T));
  d.mask.assign(1, sizeof(T) == 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << sizeof(T)) - 1);
  d.payload.resize(sizeof(T));
  std::memcpy(d.payload.data(), &value, sizeof(T));
  return d;
}

/// Records an engine's log as it runs (from when it was constructed: checkpoint 0), takes
/// checkpoints, and at the end replays from each of them and checks the invariants.
template <class E>
class self_check {
 public:
  explicit self_check(const E& engine) : validator_(engine) {}

  /// Takes in what the engine logged since the last call.
  bool record(const E& engine) {
    const auto records = engine.log_records();
    if (!validator_.record_log(records.subspan(logged_))) return false;
    logged_ = records.size();
    return true;
  }
  /// Records, then checkpoints the engine as it is now.
  bool checkpoint(const E& engine) {
    if (!record(engine)) return false;
    validator_.checkpoint(engine);
    return true;
  }

  /// Replays from every checkpoint on an engine with `workers` workers and compares it with
  /// `engine`, bit for bit; prints one line per checkpoint. True iff every replay matched.
  bool replay(const E& engine, std::size_t workers) {
    if (!record(engine)) {
      std::printf("replay: the engine's log did not parse\n");
      return false;
    }
    bool all = true;
    for (std::size_t k = 0; k < validator_.checkpoints(); ++k) {
      E scratch({}, workers);
      const auto rep = validator_.replay(k, scratch, engine);
      const bool ok = rep.ok() && rep.l2_divergence == 0 && scratch.digest() == engine.digest();
      std::printf("replay from checkpoint %zu on %zu workers: %llu records, digest %016llx %s, L2 %g, %s\n", k, workers,
                  static_cast<unsigned long long>(rep.records_replayed), static_cast<unsigned long long>(scratch.digest()),
                  scratch.digest() == engine.digest() ? "equal" : "DIFFERENT", rep.l2_divergence, ok ? "ok" : "FAILED");
      if (!ok && rep.apply_error.code != errc::ok)
        std::printf("  record %llu: %s\n", static_cast<unsigned long long>(rep.apply_error.detail), rep.apply_error.message);
      all = all && ok;
    }
    return all;
  }

  /// The built-in invariants over the engine's final state and its whole log: `pages` are the
  /// pages the program believes it has; `graph` (a double-weighted engine's graph) or the
  /// canonical snapshot of any other.
  /// `max_epoch_step`: how far the log's epochs may advance from one delta to the next.
  bool invariants(const E& engine, std::span<const page_id> pages, std::uint32_t max_epoch_step = 1) {
    engine_context ctx;
    ctx.store = &engine.store();
    ctx.pages = pages;
    typename std::remove_cvref_t<decltype(engine.graph())>::snapshot_type snap;
    if constexpr (std::is_same_v<std::remove_cvref_t<decltype(engine.graph())>, page_graph<double>>) {
      ctx.graph = &engine.graph();
    } else {
      snap = engine.graph().snapshot();
      ctx.graph_snapshot = &snap.csr;
    }
    const auto log = parse_tlog(engine.log_image());
    if (!log) {
      std::printf("invariants: the engine's log did not parse\n");
      return false;
    }
    ctx.log = log->records;
    invariant_registry<engine_context> registry;  // the built-ins, with the caller's epoch step
    registry.add(epoch_monotonicity{});
    registry.add(page_consistency{});
    registry.add(graph_acyclicity{});
    registry.add(queue_accounting{});
    log_continuity continuity;
    continuity.max_epoch_step = max_epoch_step;
    registry.add(continuity);
    const auto rep = registry.check_all(ctx);
    std::printf("invariants: %llu checked over %zu pages and %zu logged deltas, %zu violations\n",
                static_cast<unsigned long long>(rep.checks), pages.size(), log->records.size(), rep.violations.size());
    for (const auto& v : rep.violations)
      std::printf("  %.*s: %.*s (%llu)\n", static_cast<int>(v.invariant.size()), v.invariant.data(), static_cast<int>(v.message.size()),
                  v.message.data(), static_cast<unsigned long long>(v.detail));
    return rep.ok();
  }

 private:
  replay_validator<E, typename E::value_type> validator_;
  std::size_t logged_ = 0;
};

}  // namespace tickflow::examples
