// tickflow/columnar/tlog_batch.hpp — recovering a transaction log straight into a delta_batch.
//
// Contract
//   * recover_into(file, out) reads an in-memory log image (page/tlog.hpp format) exactly as
//     parse_tlog does: the same header checks, the same stop rules (torn, damaged: length over
//     max_record_bytes, CRC mismatch, a body that does not parse exactly or holds an ill-formed
//     delta), never a damaged record. The intact records are appended to `out` (which is not
//     cleared) as rows, with no allocation per record; the returned tlog_scan says where and why
//     it stopped and how many records it appended. On a bad header nothing is appended.
//   * recover_records_into(records, out) does the same for the records that follow a header
//     (a log read from a known record boundary, e.g. a checkpoint's position).
//   * This is the fast path of replay: no delta objects are built.
//
// Thread-safety: a function over values.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

#include "tickflow/columnar/delta_batch.hpp"
#include "tickflow/core/crc32c.hpp"
#include "tickflow/core/result.hpp"
#include "tickflow/page/tlog.hpp"

namespace tickflow {

struct tlog_scan {
  std::size_t records = 0;         ///< records appended
  std::uint64_t intact_bytes = 0;  ///< offset where the intact prefix ends
  tlog_stop stop = tlog_stop::end_of_file;
  errc reason = errc::ok;          ///< for damaged: why
};

/// The records part alone (everything after the header), appended to `out`; offsets in the
/// result count from the start of `records`.
[[nodiscard]] inline tlog_scan recover_records_into(std::span<const std::byte> records, delta_batch& out) {
  tlog_scan scan;
  tlog_record_reader reader(records);
  constexpr std::size_t fixed = 8 + 4 + 8 + 4 + 4 + 1;
  while (auto body = reader.next()) {
    const std::byte* p = body->data();
    const std::size_t len = body->size();
    if (len < fixed + 4 || static_cast<std::uint8_t>(p[28]) > 1) {
      reader.reject(errc::corrupt_data);
      break;
    }
    const auto length = static_cast<std::uint32_t>(detail::get_le(p + 24, 4));
    const std::size_t words = mask_words(length);
    if (words > (len - fixed - 4) / 8) {
      reader.reject(errc::corrupt_data);
      break;
    }
    const std::size_t at = fixed + 8 * words;
    const std::uint64_t payload = detail::get_le(p + at, 4);
    if (payload != len - at - 4) {
      reader.reject(errc::corrupt_data);
      break;
    }
    const errc shape = out.push_back_encoded(page_id{detail::get_le(p, 8)}, epoch{static_cast<std::uint32_t>(detail::get_le(p + 8, 4))},
                                             delta_id{detail::get_le(p + 12, 8)}, static_cast<std::uint32_t>(detail::get_le(p + 20, 4)),
                                             length, static_cast<delta_kind>(p[28]), p + fixed, words,
                                             std::span<const std::byte>(p + at + 4, static_cast<std::size_t>(payload)));
    if (shape != errc::ok) {
      out.pop_back();  // a damaged record is never returned
      reader.reject(shape);
      break;
    }
    ++scan.records;
    reader.accept();
  }
  scan.intact_bytes = reader.position();
  scan.stop = reader.stop();
  scan.reason = reader.reason();
  return scan;
}

[[nodiscard]] inline result<tlog_scan> recover_into(std::span<const std::byte> file, delta_batch& out) {
  // The header rules are parse_tlog's; an image without records goes through it whole.
  if (file.size() <= detail::tlog_header_bytes) {
    auto r = parse_tlog(file);
    if (!r) return unexpected(r.error());
    return tlog_scan{0, r->intact_bytes, r->stop, r->reason};
  }
  if (std::memcmp(file.data(), detail::tlog_magic, 8) != 0) return unexpected(errc::corrupt_data, 0, "not a tickflow log (bad magic)");
  if (detail::get_le(file.data() + 8, 4) != detail::tlog_version) return unexpected(errc::corrupt_data, 8, "unsupported log version");
  tlog_scan scan = recover_records_into(file.subspan(detail::tlog_header_bytes), out);
  scan.intact_bytes += detail::tlog_header_bytes;
  return scan;
}

}  // namespace tickflow
