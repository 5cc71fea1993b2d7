/// @file
/// tickflow/page/tlog.hpp — the append-only transaction log of applied deltas.
///
/// Contract
///   * File format (little-endian):
///       header  : "TFLOGv1\0" (8 bytes), format version u32 (2 is written; 1 and 2 are read),
///                 reserved u32 (= 0; any other value is errc::corrupt_data at offset 12)
///       record* : body length u32, CRC-32C of the body u32, body
///       body    : page u64, epoch u32, delta id u64, offset u32, length u32, kind u8,
///                 mask (ceil(length/64) u64 words), payload length u32, payload bytes
///                 (a delta: kind 0 dense, 1 sparse), or
///                 page u64, epoch u32, child u64, aux u32, reserved u32 (= 0), kind u8,
///                 weight u64 (an engine event, 37 bytes: kind 2 page created, aux = its size;
///                 3 page released; 4 edge inserted, page -> child, aux = edge kind, weight =
///                 the weight's bytes; 5 edge removed; 6 step: propagation at the epoch). An
///                 event's unused fields are 0. Version 1 logs hold deltas only.
///     Records are grouped by epoch: tlog_writer::append refuses a delta whose epoch is below the
///     last appended one (errc::epoch_regression), so epochs never decrease along the file.
///   * Recovery (read_tlog): reads the header, then records until the first one that is torn
///     (file ends inside it) or damaged (length over max_record_bytes, CRC mismatch, a body that
///     does not parse exactly or holds an ill-formed delta). It returns every record before that
///     point, the byte offset where the intact prefix ends, and why it stopped; it never returns a
///     damaged record. A length is checked against the bytes remaining and max_record_bytes
///     before anything is allocated from it. A bad header is an error (errc::corrupt_data).
///   * A file shorter than the header whose bytes are a prefix of it (a crash while creating the
///     log) recovers as an empty torn log (intact_bytes 0); tlog_writer::open then writes the
///     header again, and its recovered() says the same as parse_tlog: torn, 0 bytes.
///   * tlog_writer::open creates the file or recovers it and cuts it back to its intact prefix,
///     then appends. fsync policy: never (the OS decides), per_epoch (data is flushed and synced
///     when an append starts a new epoch, and by flush()), per_record (every append is written and
///     synced before it returns: an acknowledged record survives a crash of the process or the
///     machine). With `never` and `per_epoch`, records are buffered (1 MiB) until flush(), a sync
///     point, or destruction.
///   * append_records(bytes) appends frames already in this format (an engine's in-memory log),
///     all or none, after checking each frame's length and CRC and that epochs do not decrease;
///     commit() writes and syncs the buffer whatever the policy (a durability point).
///   * append has the strong guarantee: when it returns an error or throws (std::bad_alloc while
///     the buffer grows), the record is not in the log and the writer is as before, so the
///     records appended after it are intact and recover in order. A failed write(2) is undone
///     (the file is cut back to its last complete write) and the buffered records stay buffered
///     for the next flush. A failed fdatasync, or a failed undo, leaves the file's tail unknown
///     (the kernel may have dropped the dirty pages): the writer is then failed, and every later
///     call returns errc::io_error; reopening recovers the intact prefix.
///   * I/O errors are errc::io_error with errno in the detail.
///
/// Thread-safety: a writer is used by one thread at a time; read_tlog is reentrant.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "tickflow/core/crc32c.hpp"
#include "tickflow/core/result.hpp"
#include "tickflow/page/delta.hpp"

namespace tickflow {

/// When a tlog_writer makes its appends durable: never (the OS decides), per_epoch (when an append starts a new epoch, and at flush()), per_record (every append).
enum class fsync_policy : std::uint8_t { never, per_epoch, per_record };

/// Why recovery stopped.
enum class tlog_stop : std::uint8_t {
  end_of_file,  ///< the whole file was intact
  torn,         ///< the file ends inside a record (an interrupted append)
  damaged,      ///< a record failed its length, checksum or parse checks
};

/// The records of an engine run that are not deltas (see the file contract).
enum class tlog_event_kind : std::uint8_t { page_create = 2, page_release = 3, edge_insert = 4, edge_remove = 5, step = 6 };

/// An engine event record (see the file contract).
struct tlog_event {
  tlog_event_kind kind = tlog_event_kind::step;  ///< what happened
  epoch at{0};  ///< the epoch it happened at
  page_id page{};             ///< the page created or released; an edge's parent
  page_id child{};            ///< an edge's child
  std::uint32_t aux = 0;      ///< page_create: the page's size; edge_insert: the edge kind
  std::uint64_t weight = 0;   ///< edge_insert: the weight's bytes (little-endian)
  std::uint64_t position = 0;  ///< in a recovered log: how many delta records come before it
  /// Events compare field by field.
  friend bool operator==(const tlog_event&, const tlog_event&) = default;
};

/// What parse_tlog (or a writer's open) recovered of a log: the intact prefix's records and events, where it ends and why.
struct recovered_tlog {
  std::vector<delta> records;     ///< every intact delta record, in file order
  std::vector<tlog_event> events;  ///< every intact engine event, in file order (see position)
  std::uint64_t intact_bytes = 0;  ///< offset where the intact prefix ends
  tlog_stop stop = tlog_stop::end_of_file;  ///< why the intact prefix ended
  errc reason = errc::ok;          ///< for `damaged`: corrupt_data, payload_mismatch, ...
};

namespace detail {

inline constexpr char tlog_magic[8] = {'T', 'F', 'L', 'O', 'G', 'v', '1', '\0'};
inline constexpr std::uint32_t tlog_version = 2;      // written
inline constexpr std::uint32_t tlog_min_version = 1;  // oldest read
inline constexpr std::size_t tlog_header_bytes = 16;
inline constexpr std::size_t tlog_record_header_bytes = 8;

inline std::byte* store_le(std::byte* p, std::uint64_t v, int n) noexcept {
  if constexpr (std::endian::native == std::endian::little) {
    // One store once inlined with a constant n (a byte loop stays a byte loop at -O2, and the
    // bytes then cannot be forwarded to a wider load of the same record).
    std::memcpy(p, &v, static_cast<std::size_t>(n));
  } else {
    for (int i = 0; i < n; ++i) p[i] = static_cast<std::byte>(v >> (8 * i));
  }
  return p + n;
}
inline void put_u32(std::vector<std::byte>& out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<std::byte>(v >> (8 * i)));
}
inline void put_u64(std::vector<std::byte>& out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<std::byte>(v >> (8 * i)));
}
inline std::uint64_t get_le(const std::byte* p, int n) noexcept {
  if constexpr (std::endian::native == std::endian::little) {
    std::uint64_t v = 0;
    std::memcpy(&v, p, static_cast<std::size_t>(n));
    return v;
  } else {
    std::uint64_t v = 0;
    for (int i = n - 1; i >= 0; --i) v = (v << 8) | static_cast<std::uint64_t>(p[i]);
    return v;
  }
}

/// Bytes of a record body before the mask: page, epoch, delta id, offset, length, kind.
inline constexpr std::size_t tlog_body_fixed_bytes = 8 + 4 + 8 + 4 + 4 + 1;

/// Bytes of the whole record (header and body) of a well-formed delta.
[[nodiscard]] inline std::size_t record_bytes(const delta& d) noexcept {
  return tlog_record_header_bytes + tlog_body_fixed_bytes + 8 * d.mask.size() + 4 + d.payload.size();
}

/// Appends the record (length, crc, body) of a well-formed delta to `out`. Strong guarantee: the
/// one allocation comes first, so if it throws `out` is unchanged.
inline void encode_record(const delta& d, std::vector<std::byte>& out) {
  const std::size_t start = out.size();
  const std::size_t need = start + record_bytes(d);
  if (need > out.capacity()) out.reserve(std::max(need, 2 * out.capacity()));  // geometric; may throw
  out.resize(need);  // within capacity: cannot throw
  std::byte* const body = out.data() + start + tlog_record_header_bytes;
  std::byte* p = body;
  p = store_le(p, d.page.value(), 8);
  p = store_le(p, d.at.value(), 4);
  p = store_le(p, d.id.value(), 8);
  p = store_le(p, d.offset, 4);
  p = store_le(p, d.length, 4);
  *p++ = static_cast<std::byte>(d.kind);
  for (auto w : d.mask) p = store_le(p, w, 8);
  p = store_le(p, d.payload.size(), 4);
  if (!d.payload.empty()) std::memcpy(p, d.payload.data(), d.payload.size());
  const auto body_len = static_cast<std::uint32_t>(need - start - tlog_record_header_bytes);
  store_le(out.data() + start, body_len, 4);
  store_le(out.data() + start + 4, crc32c(std::span<const std::byte>(body, body_len)), 4);
}

/// Bytes of an event's body.
inline constexpr std::size_t tlog_event_body_bytes = 37;

/// Whether a body that passed its CRC holds an engine event rather than a delta (its kind byte).
[[nodiscard]] inline bool is_event_body(std::span<const std::byte> body) noexcept {
  return body.size() > 28 && static_cast<std::uint8_t>(body[28]) >= 2;
}

/// Appends the record of an event (see the file contract). Strong guarantee.
inline void encode_event(const tlog_event& e, std::vector<std::byte>& out) {
  const std::size_t start = out.size();
  const std::size_t need = start + tlog_record_header_bytes + tlog_event_body_bytes;
  if (need > out.capacity()) out.reserve(std::max(need, 2 * out.capacity()));  // may throw
  out.resize(need);
  std::byte* const body = out.data() + start + tlog_record_header_bytes;
  std::byte* p = body;
  p = store_le(p, e.page.value(), 8);
  p = store_le(p, e.at.value(), 4);
  p = store_le(p, e.child.value(), 8);
  p = store_le(p, e.aux, 4);
  p = store_le(p, 0, 4);
  *p++ = static_cast<std::byte>(e.kind);
  store_le(p, e.weight, 8);
  store_le(out.data() + start, tlog_event_body_bytes, 4);
  store_le(out.data() + start + 4, crc32c(std::span<const std::byte>(body, tlog_event_body_bytes)), 4);
}

/// Checks an event's fields: a known kind, unused fields 0, a page size or edge kind in range.
[[nodiscard]] inline result<void> check_event(const tlog_event& e) noexcept {
  using k = tlog_event_kind;
  const auto kind = static_cast<std::uint8_t>(e.kind);
  if (kind < 2 || kind > 6) return unexpected(errc::corrupt_data, kind, "unknown event kind");
  const bool edge = e.kind == k::edge_insert || e.kind == k::edge_remove;
  if (!edge && e.child != page_id{}) return unexpected(errc::corrupt_data, kind, "event with a child that is not an edge");
  if (e.kind == k::step && e.page != page_id{}) return unexpected(errc::corrupt_data, kind, "step event with a page");
  if (e.kind == k::page_create && (e.aux == 0 || e.aux > (1U << 24))) return unexpected(errc::corrupt_data, e.aux, "page size out of range");
  if (e.kind == k::edge_insert && e.aux > 1) return unexpected(errc::corrupt_data, e.aux, "unknown edge kind");
  if (e.kind != k::page_create && e.kind != k::edge_insert && e.aux != 0) return unexpected(errc::corrupt_data, e.aux, "unused event field set");
  if (e.kind != k::edge_insert && e.weight != 0) return unexpected(errc::corrupt_data, kind, "weight on an event that is not an insertion");
  return {};
}

/// Parses an event body that passed its CRC. Fails unless it is exactly one valid event.
inline result<tlog_event> decode_event(std::span<const std::byte> body) noexcept {
  if (body.size() != tlog_event_body_bytes) return unexpected(errc::corrupt_data, body.size(), "event body of the wrong length");
  const std::byte* p = body.data();
  if (get_le(p + 24, 4) != 0) return unexpected(errc::corrupt_data, 24, "reserved event field is not 0");
  tlog_event e;
  e.page = page_id{get_le(p, 8)};
  e.at = epoch{static_cast<std::uint32_t>(get_le(p + 8, 4))};
  e.child = page_id{get_le(p + 12, 8)};
  e.aux = static_cast<std::uint32_t>(get_le(p + 20, 4));
  e.kind = static_cast<tlog_event_kind>(p[28]);
  e.weight = get_le(p + 29, 8);
  if (auto ok = check_event(e); !ok) return unexpected(ok.error());
  return e;
}

/// Parses a record body that passed its CRC. Fails unless it is exactly one well-formed delta.
inline result<delta> decode_body(std::span<const std::byte> body) {
  constexpr std::size_t fixed = tlog_body_fixed_bytes;
  if (body.size() < fixed + 4) return unexpected(errc::corrupt_data, body.size(), "record body too short");
  const std::byte* p = body.data();
  delta d;
  d.page = page_id{get_le(p, 8)};
  d.at = epoch{static_cast<std::uint32_t>(get_le(p + 8, 4))};
  d.id = delta_id{get_le(p + 12, 8)};
  d.offset = static_cast<std::uint32_t>(get_le(p + 20, 4));
  d.length = static_cast<std::uint32_t>(get_le(p + 24, 4));
  const auto kind = static_cast<std::uint8_t>(p[28]);
  if (kind > 1) return unexpected(errc::corrupt_data, kind, "unknown delta kind");
  d.kind = static_cast<delta_kind>(kind);
  const std::size_t words = mask_words(d.length);
  // Sizes are checked against the body before anything is allocated from them.
  if (words > (body.size() - fixed - 4) / 8) return unexpected(errc::corrupt_data, words, "mask longer than the record");
  std::size_t at = fixed;
  d.mask.resize(words);
  for (std::size_t w = 0; w < words; ++w, at += 8) d.mask[w] = get_le(p + at, 8);
  const std::uint64_t payload = get_le(p + at, 4);
  at += 4;
  if (payload != body.size() - at) return unexpected(errc::corrupt_data, payload, "payload length does not match the record");
  d.payload.assign(body.begin() + static_cast<std::ptrdiff_t>(at), body.end());
  if (auto ok = check_shape(d); !ok) return unexpected(ok.error());
  return d;
}

/// The 16 bytes every log starts with.
[[nodiscard]] inline std::array<std::byte, tlog_header_bytes> tlog_header() noexcept {
  std::array<std::byte, tlog_header_bytes> h{};
  std::memcpy(h.data(), tlog_magic, 8);
  store_le(h.data() + 8, tlog_version, 4);
  return h;  // reserved word: 0
}

/// Checks a log image's header: true if it is complete and valid, false if the image is shorter
/// than a header and is a prefix of one (a torn creation), errc::corrupt_data otherwise (detail:
/// the offset of the bad field).
[[nodiscard]] inline result<bool> check_tlog_header(std::span<const std::byte> file) noexcept {
  const auto expect = tlog_header();
  if (file.size() < tlog_header_bytes) {
    if (!file.empty() && std::memcmp(file.data(), expect.data(), file.size()) != 0)
      return unexpected(errc::corrupt_data, 0, "not a tickflow log (bad header prefix)");
    return false;
  }
  if (std::memcmp(file.data(), tlog_magic, 8) != 0) return unexpected(errc::corrupt_data, 0, "not a tickflow log (bad magic)");
  if (const auto v = get_le(file.data() + 8, 4); v < tlog_min_version || v > tlog_version)
    return unexpected(errc::corrupt_data, 8, "unsupported log version");
  if (get_le(file.data() + 12, 4) != 0) return unexpected(errc::corrupt_data, 12, "reserved header word is not 0");
  return true;
}

/// Whether `records` (bytes meant to follow a header) start with the log magic: a caller passed
/// the whole image. No record can start so: its length word would exceed max_record_bytes.
[[nodiscard]] inline bool starts_with_tlog_magic(std::span<const std::byte> records) noexcept {
  return records.size() >= 8 && std::memcmp(records.data(), tlog_magic, 8) == 0;
}

}  // namespace detail

/// Largest record body read_tlog accepts (a defence against corrupt lengths).
inline constexpr std::uint32_t max_record_bytes = 64U << 20;

/// Walks the records that follow a log header and yields each record body whose length and
/// CRC-32C are intact (four CRCs at a time where four whole records lie ahead). The caller parses
/// the body and calls accept() or reject(reason); reading stops at the first torn or damaged
/// record, and position() is then the end of the intact prefix (relative to `records`).
class tlog_record_reader {
 public:
  /// Reads the records in `records` (the bytes after a log header).
  explicit tlog_record_reader(std::span<const std::byte> records) noexcept : data_(records) {}

  /// The next body, or an empty optional once reading has stopped (see stop()).
  [[nodiscard]] std::optional<std::span<const std::byte>> next() noexcept {
    if (done_ || pos_ == data_.size()) {
      done_ = true;
      return std::nullopt;
    }
    const std::size_t left = data_.size() - pos_;
    if (left < detail::tlog_record_header_bytes) return halt(tlog_stop::torn, errc::ok);
    const auto len = static_cast<std::uint32_t>(detail::get_le(data_.data() + pos_, 4));
    const auto crc = static_cast<std::uint32_t>(detail::get_le(data_.data() + pos_ + 4, 4));
    if (len > max_record_bytes) return halt(tlog_stop::damaged, errc::corrupt_data);
    if (len > left - detail::tlog_record_header_bytes) return halt(tlog_stop::torn, errc::ok);
    const std::span<const std::byte> body(data_.data() + pos_ + detail::tlog_record_header_bytes, len);
    if (used_ == ahead_) look_ahead();
    const std::uint32_t actual = used_ < ahead_ && ahead_pos_[used_] == pos_ ? ahead_crc_[used_++] : crc32c(body);
    if (actual != crc) return halt(tlog_stop::damaged, errc::corrupt_data);
    pending_ = pos_ + detail::tlog_record_header_bytes + len;
    return body;
  }
  /// The body last returned was well-formed: it joins the intact prefix.
  void accept() noexcept { pos_ = pending_; }
  /// The body last returned does not parse (or holds an ill-formed delta): reading stops before it.
  void reject(errc reason) noexcept { (void)halt(tlog_stop::damaged, reason); }

  /// Where the intact prefix ends so far, relative to the records.
  [[nodiscard]] std::size_t position() const noexcept { return pos_; }
  /// Why reading stopped (end_of_file while it has not).
  [[nodiscard]] tlog_stop stop() const noexcept { return stop_; }
  /// For a damaged record: why.
  [[nodiscard]] errc reason() const noexcept { return reason_; }
  /// The bodies of up to four records after the current one whose CRCs are already computed
  /// (so a caller can fetch what they will need): their count, and the bodies in `out`.
  [[nodiscard]] int upcoming(std::span<const std::byte>* out) const noexcept {
    int n = 0;
    for (int k = used_; k < ahead_; ++k) out[n++] = ahead_body_[k];
    return n;
  }

 private:
  std::nullopt_t halt(tlog_stop why, errc reason) noexcept {
    done_ = true;
    stop_ = why;
    reason_ = reason;
    return std::nullopt;
  }
  void look_ahead() noexcept {
    ahead_ = used_ = 0;
    for (std::size_t q = pos_; ahead_ < 4 && data_.size() - q >= detail::tlog_record_header_bytes; ++ahead_) {
      const auto l = static_cast<std::uint32_t>(detail::get_le(data_.data() + q, 4));
      if (l > max_record_bytes || l > data_.size() - q - detail::tlog_record_header_bytes) break;
      ahead_pos_[ahead_] = q;
      ahead_body_[ahead_] = std::span<const std::byte>(data_.data() + q + detail::tlog_record_header_bytes, l);
      q += detail::tlog_record_header_bytes + l;
    }
    if (ahead_ == 4) {
      crc32c_x4(ahead_body_, ahead_crc_);
    } else {
      ahead_ = 0;
    }
  }

  std::span<const std::byte> data_;
  std::size_t pos_ = 0, pending_ = 0;
  bool done_ = false;
  tlog_stop stop_ = tlog_stop::end_of_file;
  errc reason_ = errc::ok;
  std::span<const std::byte> ahead_body_[4];
  std::size_t ahead_pos_[4] = {};
  std::uint32_t ahead_crc_[4] = {};
  int ahead_ = 0, used_ = 0;
};

/// Recovers the intact prefix of an in-memory log image (see the file contract).
[[nodiscard]] inline result<recovered_tlog> parse_tlog(std::span<const std::byte> file) {
  const auto header = detail::check_tlog_header(file);
  if (!header) return unexpected(header.error());
  recovered_tlog out;
  if (!*header) {  // a header cut short by a crash while the log was being created
    out.stop = tlog_stop::torn;
    return out;
  }
  // A record is at least 49 bytes; reserving for ~100-byte records avoids most regrowth.
  out.records.reserve(file.size() / 100);
  tlog_record_reader reader(file.subspan(detail::tlog_header_bytes));
  while (auto body = reader.next()) {
    if (detail::is_event_body(*body)) {
      auto e = detail::decode_event(*body);
      if (!e) {
        reader.reject(e.error().code);
        break;
      }
      e->position = out.records.size();
      out.events.push_back(*e);
      reader.accept();
      continue;
    }
    auto d = detail::decode_body(*body);
    if (!d) {
      reader.reject(d.error().code);
      break;
    }
    out.records.push_back(std::move(*d));
    reader.accept();
  }
  out.intact_bytes = detail::tlog_header_bytes + reader.position();
  out.stop = reader.stop();
  out.reason = reader.reason();
  return out;
}

namespace detail {
inline result<std::vector<std::byte>> read_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return unexpected(errno == ENOENT ? errc::not_found : errc::io_error, static_cast<std::uint64_t>(errno), "open failed");
  std::vector<std::byte> data;
  struct stat st {};
  if (::fstat(fd, &st) == 0 && st.st_size > 0) data.reserve(static_cast<std::size_t>(st.st_size));
  std::byte buf[1 << 16];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int e = errno;
      ::close(fd);
      return unexpected(errc::io_error, static_cast<std::uint64_t>(e), "read failed");
    }
    if (n == 0) break;
    data.insert(data.end(), buf, buf + n);
  }
  ::close(fd);
  return data;
}
inline result<void> write_all(int fd, const std::byte* p, std::size_t n) noexcept {
  while (n != 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return unexpected(errc::io_error, static_cast<std::uint64_t>(errno), "write failed");
    }
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  return {};
}
}  // namespace detail

/// Reads and recovers a log file.
[[nodiscard]] inline result<recovered_tlog> read_tlog(const std::string& path) {
  auto data = detail::read_file(path);
  if (!data) return unexpected(data.error());
  return parse_tlog(*data);
}

/// Appends records to a log file. See the file contract.
class tlog_writer {
 public:
  tlog_writer(const tlog_writer&) = delete;
  tlog_writer& operator=(const tlog_writer&) = delete;
  /// Takes over the other writer's file; the other is left closed.
  tlog_writer(tlog_writer&& o) noexcept
      : fd_(std::exchange(o.fd_, -1)), policy_(o.policy_), buffer_(std::move(o.buffer_)), last_(o.last_),
        any_(o.any_), appended_(o.appended_), file_bytes_(o.file_bytes_), failed_errno_(o.failed_errno_),
        recovered_(std::move(o.recovered_)) {}
  ~tlog_writer() {
    if (fd_ >= 0) {
      (void)flush();
      ::close(fd_);
    }
  }

  /// Creates `path` (or recovers it and cuts off a torn or damaged tail) and opens it for
  /// appending. The recovered state is available through recovered().
  [[nodiscard]] static result<tlog_writer> open(const std::string& path, fsync_policy policy) {
    recovered_tlog rec;
    auto existing = read_tlog(path);
    const bool fresh = !existing && existing.error().code == errc::not_found;
    if (!existing && !fresh) return unexpected(existing.error());
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return unexpected(errc::io_error, static_cast<std::uint64_t>(errno), "open for append failed");
    tlog_writer w(fd, policy);
    if (!fresh) rec = std::move(*existing);
    if (!fresh && rec.intact_bytes == 0) {
      // Only a torn header: start over.
      if (::ftruncate(fd, 0) != 0) return unexpected(errc::io_error, static_cast<std::uint64_t>(errno), "truncate failed");
    }
    if (fresh || rec.intact_bytes == 0) {
      const auto header = detail::tlog_header();
      if (auto ok = detail::write_all(fd, header.data(), header.size()); !ok) return unexpected(ok.error());
      if (::fsync(fd) != 0) return unexpected(errc::io_error, static_cast<std::uint64_t>(errno), "fsync failed");
      w.file_bytes_ = detail::tlog_header_bytes;
    } else {
      w.file_bytes_ = rec.intact_bytes;
      if (::ftruncate(fd, static_cast<off_t>(rec.intact_bytes)) != 0)
        return unexpected(errc::io_error, static_cast<std::uint64_t>(errno), "truncate failed");
      if (::lseek(fd, static_cast<off_t>(rec.intact_bytes), SEEK_SET) < 0)
        return unexpected(errc::io_error, static_cast<std::uint64_t>(errno), "seek failed");
      // Epochs never decrease along the file: the later of the last delta and the last event.
      if (!rec.records.empty()) {
        w.last_ = rec.records.back().at;
        w.any_ = true;
      }
      if (!rec.events.empty() && (!w.any_ || w.last_ < rec.events.back().at)) {
        w.last_ = rec.events.back().at;
        w.any_ = true;
      }
    }
    w.recovered_ = std::move(rec);
    return w;
  }

  /// Appends a well-formed delta whose epoch is not below the last one appended. Strong
  /// guarantee (see the file contract): on an error or an exception the record is not appended.
  result<void> append(const delta& d) {
    if (failed_errno_ != 0) return failed();
    if (auto ok = check_shape(d); !ok) return ok;
    return append_encoded(d.at, [&] { detail::encode_record(d, buffer_); });
  }
  /// Appends an engine event (see the file contract), under the same rules as a delta; an event
  /// whose fields are invalid is errc::invalid_argument and is not appended.
  result<void> append(const tlog_event& e) {
    if (failed_errno_ != 0) return failed();
    if (auto ok = detail::check_event(e); !ok) return unexpected(errc::invalid_argument, ok.error().detail, ok.error().message);
    return append_encoded(e.at, [&] { detail::encode_event(e, buffer_); });
  }

 private:
  template <class Encode>
  result<void> append_encoded(epoch at, Encode&& encode) {
    if (any_ && at < last_) return unexpected(errc::epoch_regression, last_.value(), "log epochs must not decrease");
    const bool new_epoch = any_ && at != last_;
    if (new_epoch && policy_ == fsync_policy::per_epoch)
      if (auto ok = sync(); !ok) return ok;
    const std::size_t start = buffer_.size();
    encode();  // strong guarantee
    if (policy_ == fsync_policy::per_record || buffer_.size() >= buffer_limit) {
      if (auto ok = write_buffer(); !ok) {
        buffer_.resize(start);  // the failed write was undone and left the buffer as it was
        return ok;
      }
      if (policy_ == fsync_policy::per_record)
        if (auto ok = data_sync(); !ok) return ok;  // the writer is failed now
    }
    last_ = at;
    any_ = true;
    ++appended_;
    return {};
  }

 public:
  /// Appends records already framed in the file's format (length, CRC-32C, body), as an
  /// engine's in-memory log holds them: each frame must be intact and its epoch not below the
  /// previous one's (the last appended, then each other). All or nothing: on errc::corrupt_data
  /// (detail: the byte offset of the bad frame), errc::epoch_regression or an I/O error none of
  /// them is appended. The buffer is written once it passes the writer's limit, and synced per
  /// the policy (per_record: once, after all of them).
  result<void> append_records(std::span<const std::byte> records) {
    if (failed_errno_ != 0) return failed();
    if (records.empty()) return {};
    tlog_record_reader reader(records);
    epoch last = last_;
    bool any = any_, new_epoch = false;
    std::uint64_t count = 0;
    while (auto body = reader.next()) {
      if (body->size() < 12) {
        reader.reject(errc::corrupt_data);
        break;
      }
      const epoch at{static_cast<std::uint32_t>(detail::get_le(body->data() + 8, 4))};
      if (any && at < last) return unexpected(errc::epoch_regression, last.value(), "log epochs must not decrease");
      new_epoch = new_epoch || (any && at != last);
      last = at;
      any = true;
      ++count;
      reader.accept();
    }
    if (reader.position() != records.size()) return unexpected(errc::corrupt_data, reader.position(), "not a whole, intact log record");
    if (new_epoch && policy_ == fsync_policy::per_epoch)
      if (auto ok = sync(); !ok) return ok;
    const std::size_t start = buffer_.size();
    buffer_.insert(buffer_.end(), records.begin(), records.end());  // strong guarantee
    if (policy_ == fsync_policy::per_record || buffer_.size() >= buffer_limit) {
      if (auto ok = write_buffer(); !ok) {
        buffer_.resize(start);
        return ok;
      }
      if (policy_ == fsync_policy::per_record)
        if (auto ok = data_sync(); !ok) return ok;
    }
    last_ = last;
    any_ = any;
    appended_ += count;
    return {};
  }

  /// Writes the buffered records and syncs the file's data, whatever the policy: everything
  /// appended before it survives a crash once it returns.
  result<void> commit() {
    if (failed_errno_ != 0) return failed();
    return sync();
  }

  /// Writes buffered records to the file (no sync unless the policy syncs per epoch or record).
  /// On an error the records stay buffered (or the writer is failed; see the file contract).
  result<void> flush() {
    if (failed_errno_ != 0) return failed();
    if (policy_ == fsync_policy::never) return write_buffer();
    return sync();
  }

  /// Whether an I/O failure left the file's tail unknown; every call then fails (see the contract).
  [[nodiscard]] bool is_failed() const noexcept { return failed_errno_ != 0; }
  /// Bytes of the file known written (header and records), not counting the buffer.
  [[nodiscard]] std::uint64_t file_bytes() const noexcept { return file_bytes_; }
  /// Bytes the buffer holds (capacity).
  [[nodiscard]] std::size_t buffer_capacity() const noexcept { return buffer_.capacity(); }
  /// Bytes buffered, not yet written.
  [[nodiscard]] std::size_t buffered_bytes() const noexcept { return buffer_.size(); }

  /// Records appended through this writer.
  [[nodiscard]] std::uint64_t appended() const noexcept { return appended_; }
  /// The epoch of the last record appended or recovered (0 if none).
  [[nodiscard]] epoch last_epoch() const noexcept { return last_; }
  /// What open() recovered from an existing file (empty for a new one).
  [[nodiscard]] const recovered_tlog& recovered() const noexcept { return recovered_; }

 private:
  static constexpr std::size_t buffer_limit = std::size_t{1} << 20;
  tlog_writer(int fd, fsync_policy p) : fd_(fd), policy_(p) { buffer_.reserve(buffer_limit + 4096); }

  result<void> failed() const noexcept {
    return unexpected(errc::io_error, static_cast<std::uint64_t>(failed_errno_), "the log writer failed earlier");
  }
  // Writes the buffer; on failure cuts the file back to file_bytes_ and keeps the buffer, or
  // fails the writer if even that does not work.
  result<void> write_buffer() {
    if (buffer_.empty()) return {};
    auto ok = detail::write_all(fd_, buffer_.data(), buffer_.size());
    if (!ok) {
      if (::ftruncate(fd_, static_cast<off_t>(file_bytes_)) != 0 || ::lseek(fd_, static_cast<off_t>(file_bytes_), SEEK_SET) < 0)
        failed_errno_ = errno != 0 ? errno : EIO;
      return ok;
    }
    file_bytes_ += buffer_.size();
    buffer_.clear();
    return {};
  }
  result<void> data_sync() {
    if (::fdatasync(fd_) != 0) {
      failed_errno_ = errno != 0 ? errno : EIO;
      return unexpected(errc::io_error, static_cast<std::uint64_t>(failed_errno_), "fdatasync failed");
    }
    return {};
  }
  result<void> sync() {
    if (auto ok = write_buffer(); !ok) return ok;
    return data_sync();
  }

  int fd_ = -1;
  fsync_policy policy_;
  std::vector<std::byte> buffer_;
  epoch last_{0};
  bool any_ = false;
  std::uint64_t appended_ = 0;
  std::uint64_t file_bytes_ = 0;  // the file's length as this writer's complete writes left it
  int failed_errno_ = 0;          // non-zero: the writer is failed (see the file contract)
  recovered_tlog recovered_;
};

}  // namespace tickflow
