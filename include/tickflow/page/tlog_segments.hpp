/// @file
/// tickflow/page/tlog_segments.hpp — the log as a folder of segments, so that GC can drop the old ones.
///
/// Contract
///   * A segmented log is a folder of segment files, each a complete log in the tlog.hpp format
///     (header, then records). A segment is named "seg-<sequence>-<first epoch>.tflog", both
///     numbers in fixed-width decimal (16 and 10 digits), so that names sort in log order and
///     the name alone says from which epoch the segment starts. Other files in the folder are
///     ignored.
///   * Appends go to the newest segment. A new segment is started when a batch (append,
///     append_records) begins with an epoch above the last one appended and the newest segment
///     holds segment_bytes or more (bytes written and buffered); the old segment is first written
///     and synced whole (a durability point), then the new file is created and the folder synced.
///     A batch never straddles two segments, and every record of a segment has an epoch below
///     the first epoch of the next one: a segment whose successor starts at or below C + 1 holds
///     only records at or below C.
///   * drop_covered(C, stop): a checkpoint at epoch C (the state after every record at or below
///     C) makes those segments redundant. They are deleted oldest first, asking stop() before each
///     (a GC slice's deadline); the newest segment is never deleted. Returns the segments and
///     bytes dropped, and whether any droppable one is left.
///   * Recovery: open() lists the segments, recovers the newest one as tlog_writer::open does
///     (cutting a torn or damaged tail) and appends after it; the older ones were synced whole
///     when the log moved past them. read_tlog_segments() reads every segment in order into one
///     recovered_tlog (events' positions count the delta records of all earlier segments), and
///     stops at the first torn or damaged record, in any segment; what follows it is not read.
///     An empty folder (or one without segments) is an empty log. Segments whose sequence
///     numbers are not consecutive (one deleted by hand in the middle) are errc::corrupt_data
///     (detail: the sequence number expected), except before the first: dropped segments leave
///     a gap at the start only.
///   * Errors: I/O errors are errc::io_error with errno in the detail; the rules of tlog_writer
///     (epochs never decrease, strong guarantee of append, a failed writer) hold across segments.
///
/// Thread-safety: one thread at a time per log; read_tlog_segments is reentrant.
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "tickflow/core/result.hpp"
#include "tickflow/page/tlog.hpp"

namespace tickflow {

/// One segment of a segmented log.
struct tlog_segment {
  std::uint64_t sequence = 0;  ///< its number, increasing from 1 (from its name)
  epoch first{0};           ///< the epoch its first record was appended at (from its name)
  std::string path;  ///< its file
  std::uint64_t bytes = 0;  ///< its length on disk (the newest: as its writer left it)
};

/// What drop_covered did.
struct tlog_drop_result {
  std::size_t segments = 0;   ///< segments deleted
  std::uint64_t bytes = 0;    ///< their bytes
  bool more = false;          ///< droppable segments are left (stop() said stop)
};

namespace detail {
inline std::string segment_name(std::uint64_t sequence, epoch first) {
  char name[64];
  std::snprintf(name, sizeof name, "seg-%016" PRIu64 "-%010" PRIu32 ".tflog", sequence, first.value());
  return name;
}
// Parses a segment file name; nullopt for any other name.
inline std::optional<std::pair<std::uint64_t, epoch>> parse_segment_name(const char* name) {
  const std::string s(name);
  if (s.size() != 4 + 16 + 1 + 10 + 6 || s.compare(0, 4, "seg-") != 0 || s[20] != '-' || s.compare(31, 6, ".tflog") != 0) return std::nullopt;
  std::uint64_t seq = 0, first = 0;
  for (int i = 4; i < 20; ++i) {
    if (s[i] < '0' || s[i] > '9') return std::nullopt;
    seq = seq * 10 + static_cast<std::uint64_t>(s[i] - '0');
  }
  for (int i = 21; i < 31; ++i) {
    if (s[i] < '0' || s[i] > '9') return std::nullopt;
    first = first * 10 + static_cast<std::uint64_t>(s[i] - '0');
  }
  if (first > 0xFFFFFFFFULL) return std::nullopt;
  return std::pair{seq, epoch{static_cast<std::uint32_t>(first)}};
}
// The segments in `dir`, by sequence; errc::corrupt_data on a gap after the first.
inline result<std::vector<tlog_segment>> list_segments(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return unexpected(errno == ENOENT ? errc::not_found : errc::io_error, static_cast<std::uint64_t>(errno), "cannot open the log folder");
  std::vector<tlog_segment> out;
  while (const dirent* e = ::readdir(d)) {
    const auto parsed = parse_segment_name(e->d_name);
    if (!parsed) continue;
    tlog_segment s{parsed->first, parsed->second, dir + "/" + e->d_name, 0};
    struct stat st {};
    if (::stat(s.path.c_str(), &st) == 0) s.bytes = static_cast<std::uint64_t>(st.st_size);
    out.push_back(std::move(s));
  }
  ::closedir(d);
  std::sort(out.begin(), out.end(), [](const tlog_segment& a, const tlog_segment& b) { return a.sequence < b.sequence; });
  for (std::size_t i = 1; i < out.size(); ++i)
    if (out[i].sequence != out[i - 1].sequence + 1) return unexpected(errc::corrupt_data, out[i - 1].sequence + 1, "a segment is missing from the log");
  return out;
}
inline result<void> sync_folder(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return unexpected(errc::io_error, static_cast<std::uint64_t>(errno), "cannot open the log folder");
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) return unexpected(errc::io_error, static_cast<std::uint64_t>(err), "fsync of the log folder failed");
  return {};
}
}  // namespace detail

/// Reads every segment of the log in `dir`, in order (see the file contract).
[[nodiscard]] inline result<recovered_tlog> read_tlog_segments(const std::string& dir) {
  auto segs = detail::list_segments(dir);
  if (!segs) return unexpected(segs.error());
  recovered_tlog out;
  for (const tlog_segment& s : *segs) {
    auto one = read_tlog(s.path);
    if (!one) return unexpected(one.error());
    const std::uint64_t before = out.records.size();
    for (auto& ev : one->events) {
      ev.position += before;
      out.events.push_back(ev);
    }
    for (auto& d : one->records) out.records.push_back(std::move(d));
    out.intact_bytes = one->intact_bytes;  // within the last segment read
    out.stop = one->stop;
    out.reason = one->reason;
    if (one->stop != tlog_stop::end_of_file) break;
  }
  return out;
}

/// A log written as segments (see the file contract).
class segmented_tlog {
 public:
  static constexpr std::uint64_t default_segment_bytes = std::uint64_t{64} << 20;  ///< Segment size at which a new one is started (64 MiB).

  /// Opens (creating the folder's first segment on the first append) the log in `dir`, which
  /// must exist.
  [[nodiscard]] static result<segmented_tlog> open(const std::string& dir, fsync_policy policy, std::uint64_t segment_bytes = default_segment_bytes) {
    if (segment_bytes == 0) return unexpected(errc::invalid_argument, 0, "segment_bytes must be positive");
    auto segs = detail::list_segments(dir);
    if (!segs) return unexpected(segs.error());
    segmented_tlog log(dir, policy, segment_bytes);
    log.segments_ = std::move(*segs);
    if (!log.segments_.empty()) {
      auto w = tlog_writer::open(log.segments_.back().path, policy);
      if (!w) return unexpected(w.error());
      log.writer_.emplace(std::move(*w));
      log.recovered_ = log.writer_->recovered();
      // The newest epoch recovered; a segment left without records still takes no epoch below
      // its name's (the older segments' records are below it).
      log.last_ = std::max(log.writer_->last_epoch(), log.segments_.back().first);
      log.any_ = true;
      log.segments_.back().bytes = log.writer_->file_bytes();
    }
    return log;
  }

  /// Appends a delta to the newest segment, starting a new one first when it is full (see the file contract).
  result<void> append(const delta& d) {
    if (auto ok = start(d.at); !ok) return ok;
    return done(d.at, writer_->append(d));
  }
  /// Appends an engine event, as append(delta) does.
  result<void> append(const tlog_event& e) {
    if (auto ok = start(e.at); !ok) return ok;
    return done(e.at, writer_->append(e));
  }
  /// Appends framed records (see tlog_writer::append_records), all to one segment.
  result<void> append_records(std::span<const std::byte> records) {
    if (records.empty()) return {};
    tlog_record_reader reader(records);
    const auto body = reader.next();
    if (!body || body->size() < 12) return unexpected(errc::corrupt_data, 0, "not a whole, intact log record");
    const epoch first{static_cast<std::uint32_t>(detail::get_le(body->data() + 8, 4))};
    if (auto ok = start(first); !ok) return ok;
    if (auto ok = writer_->append_records(records); !ok) return ok;
    // The batch's last epoch: the writer checked the order, so it is the writer's last.
    any_ = true;
    last_ = writer_->last_epoch();
    return {};
  }
  /// Writes and syncs the newest segment (a durability point).
  result<void> commit() { return writer_ ? writer_->commit() : result<void>{}; }
  /// Writes the newest segment's buffer to its file (no sync).
  result<void> flush() { return writer_ ? writer_->flush() : result<void>{}; }

  /// Deletes the segments a checkpoint at `checkpoint_at` covers (see the file contract).
  template <class Stop>
  result<tlog_drop_result> drop_covered(epoch checkpoint_at, Stop&& stop) {
    tlog_drop_result r;
    while (droppable(checkpoint_at)) {
      if (stop()) {
        r.more = true;
        return r;
      }
      if (::unlink(segments_.front().path.c_str()) != 0 && errno != ENOENT)
        return unexpected(errc::io_error, static_cast<std::uint64_t>(errno), "cannot delete a log segment");
      r.bytes += segments_.front().bytes;
      ++r.segments;
      segments_.erase(segments_.begin());
    }
    return r;
  }
  /// drop_covered(checkpoint_at, stop) that never stops early.
  result<tlog_drop_result> drop_covered(epoch checkpoint_at) {
    return drop_covered(checkpoint_at, [] { return false; });
  }
  /// Whether drop_covered(checkpoint_at) would delete a segment.
  [[nodiscard]] bool droppable(epoch checkpoint_at) const noexcept {
    return segments_.size() >= 2 && std::uint64_t{segments_[1].first.value()} <= std::uint64_t{checkpoint_at.value()} + 1;
  }

  /// Bytes of every segment on disk (the newest as its writer's complete writes left it).
  [[nodiscard]] std::uint64_t file_bytes() const noexcept {
    std::uint64_t b = 0;
    for (const auto& s : segments_) b += s.bytes;
    if (writer_) b += writer_->file_bytes() - segments_.back().bytes;
    return b;
  }
  /// The newest segment's writer buffer capacity, in bytes (0 before the first append).
  [[nodiscard]] std::size_t buffer_capacity() const noexcept { return writer_ ? writer_->buffer_capacity() : 0; }
  /// The segments, oldest first.
  [[nodiscard]] const std::vector<tlog_segment>& segments() const noexcept { return segments_; }
  /// What open() recovered of the newest segment (empty for a new log).
  [[nodiscard]] const recovered_tlog& recovered() const noexcept { return recovered_; }
  /// Whether the newest segment's writer failed (its appends are refused until reopened).
  [[nodiscard]] bool is_failed() const noexcept { return writer_ && writer_->is_failed(); }

 private:
  segmented_tlog(std::string dir, fsync_policy policy, std::uint64_t segment_bytes) : dir_(std::move(dir)), policy_(policy), segment_bytes_(segment_bytes) {}

  // Before a batch at epoch `at`: a first segment, or a new one if the newest is full and the
  // batch starts a new epoch.
  result<void> start(epoch at) {
    if (writer_ && writer_->is_failed()) return writer_->commit();  // the writer's own error
    if (any_ && at < last_) return unexpected(errc::epoch_regression, last_.value(), "log epochs must not decrease");
    const bool full = writer_ && writer_->file_bytes() + writer_->buffered_bytes() >= segment_bytes_;
    if (writer_ && !(full && any_ && last_ < at)) return {};
    if (writer_) {
      if (auto ok = writer_->commit(); !ok) return ok;
      segments_.back().bytes = writer_->file_bytes();
    }
    const std::uint64_t seq = segments_.empty() ? 0 : segments_.back().sequence + 1;
    tlog_segment s{seq, at, dir_ + "/" + detail::segment_name(seq, at), 0};
    auto w = tlog_writer::open(s.path, policy_);
    if (!w) return unexpected(w.error());
    if (auto ok = detail::sync_folder(dir_); !ok) return ok;
    s.bytes = w->file_bytes();
    segments_.push_back(std::move(s));
    writer_.emplace(std::move(*w));
    return {};
  }
  result<void> done(epoch at, result<void> r) {
    if (r) {
      last_ = at;
      any_ = true;
    }
    if (writer_) segments_.back().bytes = writer_->file_bytes();
    return r;
  }

  std::string dir_;
  fsync_policy policy_;
  std::uint64_t segment_bytes_;
  std::vector<tlog_segment> segments_;
  std::optional<tlog_writer> writer_;  // the newest segment's
  epoch last_{0};
  bool any_ = false;
  recovered_tlog recovered_;
};

}  // namespace tickflow
