/// @file
/// tickflow/validate/replay.hpp — recording a run, replaying it from checkpoints, comparing.
///
/// Contract
///   * replay_engine<E>: what the validator needs of an engine: a snapshot value
///     (E::snapshot_type, snapshot(), restore()), apply(delta) -> result<void>, digest(), and
///     for_each_page(f(page_id, bytes, epoch)) in id order. page_store satisfies it.
///   * replay_validator<E, T> records a run: construction takes checkpoint 0 of the engine;
///     record(d) appends d to an in-memory transaction log (page/tlog.hpp format, CRC per
///     record); checkpoint(e) snapshots the engine at the current log position.
///   * replay(k, scratch, reference) restores checkpoint k into `scratch`, applies the log records
///     after it (the intact prefix of the log: a damaged record stops the replay and is
///     reported), and compares the result with `reference` (the engine as the run left it):
///     digest bit for bit, the L2 norm of the difference of the pages read as arrays of T (pages
///     in both; NaN against anything else counts as infinite), pages whose epochs differ, pages
///     missing from the replay and extra pages in it. report.ok() holds iff all of those match
///     and every record applied. No I/O.
///   * Engines that take engine events (apply(const tlog_event&), e.g. reference_engine) get the
///     log's deltas and events in file order; record(event) and record_log(records) put them in
///     the log. apply_error's detail is then the index of the failing record counting both.
///   * For page_store the records are applied straight from the log image with
///     apply_log_records (page/log_apply.hpp: all or nothing, so a record that fails to apply
///     leaves the replay at its checkpoint state); other engines get the records one at a time
///     through apply(), up to the first failure.
///
/// Thread-safety: a validator is used by one thread at a time.
#pragma once

#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <span>
#include <type_traits>
#include <vector>

#include "tickflow/core/ids.hpp"
#include "tickflow/core/result.hpp"
#include "tickflow/page/delta.hpp"
#include "tickflow/page/log_apply.hpp"
#include "tickflow/page/page_store.hpp"
#include "tickflow/page/tlog.hpp"

namespace tickflow {

template <class E>
concept replay_engine = requires(E& e, const E& ce, const typename E::snapshot_type& s, const delta& d) {
  { ce.snapshot() } -> std::convertible_to<typename E::snapshot_type>;
  { e.restore(s) } -> std::same_as<result<void>>;
  { e.apply(d) } -> std::same_as<result<void>>;
  { ce.digest() } -> std::convertible_to<std::uint64_t>;
  ce.for_each_page([](page_id, std::span<const std::byte>, epoch) {});
};

/// The outcome of one replay: what was replayed, how it stopped, and how the replayed engine differs from the reference.
struct replay_report {
  std::size_t checkpoint = 0;  ///< the checkpoint replayed from
  std::uint64_t records_replayed = 0;  ///< log records applied after it
  tlog_stop log_stop = tlog_stop::end_of_file;  ///< damaged / torn: the log was cut short
  error apply_error{};                          ///< the first record that failed to apply (detail: its index)
  std::uint64_t expected_digest = 0;  ///< the reference engine's digest
  std::uint64_t replayed_digest = 0;  ///< the replayed engine's digest
  double l2_divergence = 0;  ///< the L2 norm of the difference of the pages read as arrays of T
  std::uint64_t differing_bytes = 0;  ///< bytes that differ in pages present in both
  std::vector<page_id> epoch_mismatches;  ///< pages in both whose epochs differ
  std::vector<page_id> missing_pages;     ///< pages of the reference missing from the replay
  std::vector<page_id> extra_pages;       ///< pages only in the replay
  /// Whether everything matched: the whole log applied, equal digests, no divergence, no page or epoch difference.
  [[nodiscard]] bool ok() const noexcept {
    return log_stop == tlog_stop::end_of_file && apply_error.code == errc::ok && expected_digest == replayed_digest &&
           l2_divergence == 0 && differing_bytes == 0 && epoch_mismatches.empty() && missing_pages.empty() &&
           extra_pages.empty();
  }
};

/// Compares two engines page by page (the comparison part of replay).
template <class E, class T = double>
void compare_engines(const E& reference, const E& replayed, replay_report& rep) {
  static_assert(std::is_trivially_copyable_v<T>);
  struct page_view {
    std::uint64_t id;
    std::span<const std::byte> bytes;
    epoch at;
  };
  std::vector<page_view> a, b;
  reference.for_each_page([&](page_id id, std::span<const std::byte> bytes, epoch at) { a.push_back({id.value(), bytes, at}); });
  replayed.for_each_page([&](page_id id, std::span<const std::byte> bytes, epoch at) { b.push_back({id.value(), bytes, at}); });
  rep.expected_digest = reference.digest();
  rep.replayed_digest = replayed.digest();
  double sum = 0;
  std::size_t i = 0, j = 0;
  while (i < a.size() || j < b.size()) {
    if (j == b.size() || (i < a.size() && a[i].id < b[j].id)) {
      rep.missing_pages.push_back(page_id{a[i++].id});
      continue;
    }
    if (i == a.size() || b[j].id < a[i].id) {
      rep.extra_pages.push_back(page_id{b[j++].id});
      continue;
    }
    const page_view& x = a[i++];
    const page_view& y = b[j++];
    if (x.at != y.at) rep.epoch_mismatches.push_back(page_id{x.id});
    if (x.bytes.size() == y.bytes.size() && std::memcmp(x.bytes.data(), y.bytes.data(), x.bytes.size()) == 0) continue;
    const std::size_t n = std::min(x.bytes.size(), y.bytes.size());
    for (std::size_t k = 0; k < n; ++k) rep.differing_bytes += x.bytes[k] != y.bytes[k] ? 1 : 0;
    rep.differing_bytes += std::max(x.bytes.size(), y.bytes.size()) - n;
    for (std::size_t k = 0; k + sizeof(T) <= n; k += sizeof(T)) {
      T u, v;
      std::memcpy(&u, x.bytes.data() + k, sizeof(T));
      std::memcpy(&v, y.bytes.data() + k, sizeof(T));
      if (std::memcmp(&u, &v, sizeof(T)) == 0) continue;
      if constexpr (std::is_floating_point_v<T>) {
        if (std::isnan(u) || std::isnan(v)) {
          sum = std::numeric_limits<double>::infinity();
          continue;
        }
      }
      const double d = static_cast<double>(u) - static_cast<double>(v);
      sum += d * d;
    }
  }
  rep.l2_divergence = std::sqrt(sum);
}

/// Records a run (its log and checkpoints) and replays it from any checkpoint onto a scratch engine, comparing with the run's result (see the file contract).
template <replay_engine E, class T = double>
class replay_validator {
 public:
  /// Starts recording: checkpoint 0 is the engine as it is now.
  explicit replay_validator(const E& engine) {
    for (char c : detail::tlog_magic) log_.push_back(static_cast<std::byte>(c));  // header: magic, version, reserved
    detail::put_u32(log_, detail::tlog_version);
    detail::put_u32(log_, 0);
    checkpoint(engine);
  }

  /// Appends a (well-formed) delta to the log; errc::invalid_argument otherwise, nothing recorded.
  result<void> record(const delta& d) {
    if (auto ok = check_shape(d); !ok) return unexpected(errc::invalid_argument, d.id.value(), "ill-formed delta not recorded");
    detail::encode_record(d, log_);
    ++records_;
    return {};
  }
  /// Appends an engine event (page/tlog.hpp) to the log; errc::invalid_argument if its fields
  /// are invalid, nothing recorded.
  result<void> record(const tlog_event& e) {
    if (auto ok = detail::check_event(e); !ok) return unexpected(errc::invalid_argument, ok.error().detail, "invalid event not recorded");
    detail::encode_event(e, log_);
    ++records_;
    return {};
  }
  /// Appends records an engine logged (the bytes after a log header: reference_engine's
  /// log_records() from where the last call stopped). They must be whole, intact records:
  /// errc::invalid_argument otherwise (detail: the offset of the first bad byte), nothing
  /// recorded.
  result<void> record_log(std::span<const std::byte> records) {
    std::vector<std::byte> image(log_.begin(), log_.begin() + static_cast<std::ptrdiff_t>(detail::tlog_header_bytes));
    image.insert(image.end(), records.begin(), records.end());
    auto parsed = parse_tlog(image);
    if (!parsed) return unexpected(errc::invalid_argument, 0, "records do not parse");
    if (parsed->stop != tlog_stop::end_of_file)
      return unexpected(errc::invalid_argument, parsed->intact_bytes - detail::tlog_header_bytes, "records are not whole and intact");
    log_.insert(log_.end(), records.begin(), records.end());
    records_ += parsed->records.size() + parsed->events.size();
    return {};
  }
  /// Snapshots the engine at the current end of the log.
  void checkpoint(const E& engine) { points_.push_back(point{engine.snapshot(), log_.size(), records_}); }

  /// Checkpoints taken, checkpoint 0 (the construction) included.
  [[nodiscard]] std::size_t checkpoints() const noexcept { return points_.size(); }
  /// Records in the log.
  [[nodiscard]] std::uint64_t records() const noexcept { return records_; }
  /// The log image (header + records); tests tamper with it to check detection.
  [[nodiscard]] std::vector<std::byte>& log_image() noexcept { return log_; }
  /// Where checkpoint k's records start in the log image.
  [[nodiscard]] std::size_t log_offset(std::size_t k) const noexcept { return points_[k].log_offset; }

  /// Restores checkpoint k into `scratch`, replays the log after it, compares with `reference`.
  replay_report replay(std::size_t k, E& scratch, const E& reference) {
    replay_report rep;
    rep.checkpoint = k;
    if (k >= points_.size()) {
      rep.apply_error = error{errc::out_of_range, k, "no such checkpoint"};
      return rep;
    }
    if (auto ok = scratch.restore(points_[k].snapshot); !ok) {
      rep.apply_error = ok.error();
      return rep;
    }
    // The records after the checkpoint: the log image from the checkpoint's offset on.
    const std::span<const std::byte> tail(log_.data() + points_[k].log_offset, log_.size() - points_[k].log_offset);
    if constexpr (std::is_same_v<E, page_store>) {
      auto applied = log_applier_.apply(scratch, tail);
      if (!applied) {
        rep.apply_error = applied.error();
      } else {
        rep.records_replayed = applied->records;
        rep.log_stop = applied->stop;
      }
    } else {
      std::vector<std::byte> image(log_.begin(), log_.begin() + static_cast<std::ptrdiff_t>(detail::tlog_header_bytes));
      image.insert(image.end(), tail.begin(), tail.end());
      auto log = parse_tlog(image);
      if (!log) {
        rep.apply_error = log.error();
        return rep;
      }
      rep.log_stop = log->stop;
      // Deltas and engine events in file order (an event's position counts the deltas before it).
      std::size_t next_event = 0;
      const auto apply_events_before = [&](std::size_t position) -> bool {
        for (; next_event < log->events.size() && log->events[next_event].position <= position; ++next_event) {
          result<void> ok = unexpected(errc::invalid_argument, 0, "the log holds engine events this engine does not replay");
          if constexpr (requires(E& e, const tlog_event& ev) { { e.apply(ev) } -> std::same_as<result<void>>; })
            ok = scratch.apply(log->events[next_event]);
          if (!ok) {
            rep.apply_error = error{ok.error().code, rep.records_replayed, ok.error().message};
            return false;
          }
          ++rep.records_replayed;
        }
        return true;
      };
      bool going = true;
      for (std::size_t i = 0; going && i < log->records.size(); ++i) {
        if (!apply_events_before(i)) break;
        if (auto ok = scratch.apply(log->records[i]); !ok) {
          rep.apply_error = error{ok.error().code, rep.records_replayed, ok.error().message};
          going = false;
          break;
        }
        ++rep.records_replayed;
      }
      if (going && rep.apply_error.code == errc::ok) (void)apply_events_before(log->records.size());
    }
    compare_engines<E, T>(reference, scratch, rep);
    return rep;
  }

 private:
  struct point {
    typename E::snapshot_type snapshot;
    std::size_t log_offset;
    std::uint64_t records;
  };
  std::vector<std::byte> log_;
  std::vector<point> points_;
  std::uint64_t records_ = 0;
  page_log_applier log_applier_;
};

}  // namespace tickflow
