/// @file
/// tickflow/page/checkpoint.hpp — snapshots of a page store, and replay from a snapshot + log.
///
/// Contract
///   * File format (little-endian), version 2:
///       "TFCKPTv2" (8 bytes), version u32 (= 2), checkpoint epoch u32,
///       table size u64 (n), free-list length u64 (k), page count u64 (m),
///       n x generation u32, k x free index u32 (the store's id table: page_store.hpp),
///       m x page (in id order): id u64, size u32, epoch u32, bytes;
///       the store digest u64 (page_store::digest) and a CRC-32C u32 of everything before it.
///     The id table makes a loaded store hand out the same ids as the saved one (replay of page
///     creations after the checkpoint depends on it). Version 1 files (no id table) are rejected as
///     unsupported (errc::corrupt_data, detail 8).
///   * save_checkpoint writes `path`.tmp, syncs it, renames it over `path` and syncs the folder:
///     a crash leaves either the old checkpoint or the new one, never a torn one.
///   * load_checkpoint / decode_checkpoint verify the CRC before parsing, and parse strictly: every
///     count is checked against the bytes left before anything is allocated from it, so no
///     allocation exceeds a small multiple of the file's length (the id table costs 20 bytes of
///     memory per 4 bytes of file; pages cost their size rounded up to 64 bytes, plus chunk
///     slack). Then they rebuild the store (page_store::rebuild: ids checked against the table)
///     and check that its digest equals the recorded one. Any failure is errc::corrupt_data
///     (detail: an offset, or for a rebuild failure the offset of the pages section) or the I/O
///     error; nothing partial is returned. A failure to allocate throws std::bad_alloc and
///     leaves nothing behind.
///   * A checkpoint at epoch E is the state after every log record with epoch <= E. replay()
///     loads a checkpoint and applies, in order, the intact records of a log whose epoch is
///     above E. Deltas are the only logged events: pages created or released after the checkpoint
///     are not in the log (a later log format adds them).
///
/// Thread-safety: functions over values; concurrent calls on different paths are fine.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "tickflow/core/crc32c.hpp"
#include "tickflow/core/result.hpp"
#include "tickflow/page/page_store.hpp"
#include "tickflow/page/tlog.hpp"

namespace tickflow {

/// A page store as of an epoch, with its digest (what save_checkpoint writes and load_checkpoint reads).
struct checkpoint {
  epoch at{0};  ///< the epoch the checkpoint was taken at
  page_store store;  ///< the pages, bytes and epochs
  std::uint64_t digest = 0;  ///< the store's digest, checked on load
};

namespace detail {
inline constexpr char checkpoint_magic[8] = {'T', 'F', 'C', 'K', 'P', 'T', 'v', '2'};
inline constexpr std::uint32_t checkpoint_version = 2;
inline constexpr std::size_t checkpoint_head_bytes = 8 + 4 + 4 + 8 + 8 + 8;
inline constexpr std::size_t checkpoint_tail_bytes = 8 + 4;
}  // namespace detail

/// Serializes `store` as a checkpoint at epoch `at` (in memory).
[[nodiscard]] inline std::vector<std::byte> encode_checkpoint(const page_store& store, epoch at) {
  const auto generations = store.id_generations();
  const auto free_ids = store.id_free_list();
  std::vector<std::byte> out;
  for (char c : detail::checkpoint_magic) out.push_back(static_cast<std::byte>(c));
  detail::put_u32(out, detail::checkpoint_version);
  detail::put_u32(out, at.value());
  detail::put_u64(out, generations.size());
  detail::put_u64(out, free_ids.size());
  detail::put_u64(out, store.size());
  for (auto g : generations) detail::put_u32(out, g);
  for (auto i : free_ids) detail::put_u32(out, i);
  store.for_each_page([&](page_id id, std::span<const std::byte> b, epoch e) {
    detail::put_u64(out, id.value());
    detail::put_u32(out, static_cast<std::uint32_t>(b.size()));
    detail::put_u32(out, e.value());
    out.insert(out.end(), b.begin(), b.end());
  });
  detail::put_u64(out, store.digest());
  detail::put_u32(out, crc32c(out));
  return out;
}

/// Parses and verifies a checkpoint image (see the file contract).
[[nodiscard]] inline result<checkpoint> decode_checkpoint(std::span<const std::byte> file) {
  constexpr std::size_t head = detail::checkpoint_head_bytes, tail = detail::checkpoint_tail_bytes;
  if (file.size() < head + tail || std::memcmp(file.data(), detail::checkpoint_magic, 6) != 0)
    return unexpected(errc::corrupt_data, 0, "not a tickflow checkpoint");
  const std::size_t body = file.size() - 4;
  if (crc32c(file.first(body)) != static_cast<std::uint32_t>(detail::get_le(file.data() + body, 4)))
    return unexpected(errc::corrupt_data, body, "checkpoint checksum mismatch");
  if (std::memcmp(file.data(), detail::checkpoint_magic, 8) != 0 || detail::get_le(file.data() + 8, 4) != detail::checkpoint_version)
    return unexpected(errc::corrupt_data, 8, "unsupported checkpoint version");
  const std::byte* p = file.data();
  const epoch at{static_cast<std::uint32_t>(detail::get_le(p + 12, 4))};
  const std::uint64_t n = detail::get_le(p + 16, 8), k = detail::get_le(p + 24, 8), m = detail::get_le(p + 32, 8);
  const std::size_t end = file.size() - tail;
  // Counts against the bytes they claim, before any allocation: n + k words, then m page headers.
  std::size_t pos = head;
  if (n > (end - pos) / 4 || k > (end - pos) / 4 - n) return unexpected(errc::corrupt_data, 16, "id table longer than the file");
  pos += 4 * (n + k);
  if (m > (end - pos) / 16) return unexpected(errc::corrupt_data, 32, "page count larger than the file");
  // The page records must tile the rest exactly; checked here so the rebuild below cannot run off.
  const std::size_t pages_at = pos;
  for (std::uint64_t i = 0; i < m; ++i) {
    if (end - pos < 16) return unexpected(errc::corrupt_data, pos, "page header past the end");
    const std::size_t size = detail::get_le(p + pos + 8, 4);
    pos += 16;
    if (size > end - pos) return unexpected(errc::corrupt_data, pos, "page bytes past the end");
    pos += size;
  }
  if (pos != end) return unexpected(errc::corrupt_data, pos, "trailing bytes after the pages");
  std::vector<std::uint32_t> generations(n), free_ids(k);
  for (std::size_t i = 0; i < n; ++i) generations[i] = static_cast<std::uint32_t>(detail::get_le(p + head + 4 * i, 4));
  for (std::size_t i = 0; i < k; ++i) free_ids[i] = static_cast<std::uint32_t>(detail::get_le(p + head + 4 * (n + i), 4));
  checkpoint cp;
  cp.at = at;
  pos = pages_at;
  auto built = cp.store.rebuild(generations, free_ids, m, [&](std::size_t) {
    const page_store::page_record r{page_id{detail::get_le(p + pos, 8)},
                                    file.subspan(pos + 16, static_cast<std::size_t>(detail::get_le(p + pos + 8, 4))),
                                    epoch{static_cast<std::uint32_t>(detail::get_le(p + pos + 12, 4))}};
    pos += 16 + r.bytes.size();
    return r;
  });
  if (!built) return unexpected(errc::corrupt_data, pages_at, "pages do not match the id table");
  cp.digest = detail::get_le(p + end, 8);
  if (cp.store.digest() != cp.digest) return unexpected(errc::corrupt_data, end, "rebuilt store does not match the recorded digest");
  return cp;
}

/// Writes a checkpoint of `store` at epoch `at` to `path`, atomically (see the file contract).
/// Strong guarantee: every allocation (the image, the two paths) happens before the file is
/// touched, so an exception leaves the old checkpoint in place.
inline result<void> save_checkpoint(const page_store& store, epoch at, const std::string& path) {
  const auto image = encode_checkpoint(store, at);
  const std::string tmp = path + ".tmp";
  const std::string dir = path.find('/') == std::string::npos ? "." : path.substr(0, path.rfind('/') + 1);
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return unexpected(errc::io_error, static_cast<std::uint64_t>(errno), "open failed");
  auto ok = detail::write_all(fd, image.data(), image.size());
  if (ok && ::fsync(fd) != 0) ok = unexpected(errc::io_error, static_cast<std::uint64_t>(errno), "fsync failed");
  ::close(fd);
  if (!ok) return ok;
  if (::rename(tmp.c_str(), path.c_str()) != 0) return unexpected(errc::io_error, static_cast<std::uint64_t>(errno), "rename failed");
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    (void)::fsync(dfd);
    ::close(dfd);
  }
  return {};
}

/// Loads and verifies a checkpoint file.
[[nodiscard]] inline result<checkpoint> load_checkpoint(const std::string& path) {
  auto data = detail::read_file(path);
  if (!data) return unexpected(data.error());
  return decode_checkpoint(*data);
}

/// The store a checkpoint plus the records of a log after it describe. An invalid record is an
/// error whose detail is its index in the log.
[[nodiscard]] inline result<checkpoint> replay(checkpoint cp, const recovered_tlog& log) {
  for (std::size_t i = 0; i < log.records.size(); ++i) {
    const delta& d = log.records[i];
    if (d.at <= cp.at) continue;
    if (auto ok = cp.store.apply(d); !ok) return unexpected(ok.error().code, i, ok.error().message);
  }
  if (!log.records.empty() && log.records.back().at > cp.at) cp.at = log.records.back().at;
  cp.digest = cp.store.digest();
  return cp;
}

}  // namespace tickflow
