/// @file
/// tickflow/columnar/tlog_batch.hpp — recovering a transaction log straight into a delta_batch.
///
/// Contract
///   * recover_into(file, out) reads an in-memory log image (page/tlog.hpp format) exactly as
///     parse_tlog does: the same header checks, the same stop rules (torn, damaged: length over
///     max_record_bytes, CRC mismatch, a body that does not parse exactly or holds an ill-formed
///     delta), never a damaged record. The intact records are appended to `out` (which is not
///     cleared) as rows, with no allocation per record; the returned tlog_scan says where and why
///     it stopped and how many records it appended. On a bad header nothing is appended.
///   * recover_records_into(records, out) does the same for the records that follow a header
///     (a log read from a known record boundary, e.g. a checkpoint's position). Bytes that start
///     with the log header (the whole image passed by mistake) are errc::invalid_argument.
///   * This is the fast path of replay: no delta objects are built. It reads deltas only: an
///     intact engine event (page/tlog.hpp) is errc::invalid_argument (detail: the number of
///     records before it), and `out` is left as it was.
///
/// Thread-safety: a function over values.
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

/// What a columnar scan of a log recovered.
struct tlog_scan {
  std::size_t records = 0;         ///< records appended
  std::uint64_t intact_bytes = 0;  ///< offset where the intact prefix ends
  tlog_stop stop = tlog_stop::end_of_file;  ///< why the intact prefix ended
  errc reason = errc::ok;          ///< for damaged: why
};

/// The records part alone (everything after the header), appended to `out`; offsets in the
/// result count from the start of `records`.
[[nodiscard]] inline result<tlog_scan> recover_records_into(std::span<const std::byte> records, delta_batch& out) {
  if (detail::starts_with_tlog_magic(records))
    return unexpected(errc::invalid_argument, 0, "records start with a log header: pass the bytes after it");
  tlog_scan scan;
  tlog_record_reader reader(records);
  constexpr std::size_t fixed = detail::tlog_body_fixed_bytes;
  const std::size_t rows_before = out.size();
  while (auto body = reader.next()) {
    const std::byte* p = body->data();
    const std::size_t len = body->size();
    if (detail::is_event_body(*body) && detail::decode_event(*body)) {
      while (out.size() > rows_before) out.pop_back();  // nothing appended
      return unexpected(errc::invalid_argument, scan.records, "an engine event (page, graph or step record): read this log with parse_tlog");
    }
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

/// Recovers a whole log file (header included) into `out`: the intact prefix's records, appended as rows.
[[nodiscard]] inline result<tlog_scan> recover_into(std::span<const std::byte> file, delta_batch& out) {
  const auto header = detail::check_tlog_header(file);  // parse_tlog's header rules
  if (!header) return unexpected(header.error());
  if (!*header) return tlog_scan{0, 0, tlog_stop::torn, errc::ok};
  // A record can never start with the magic (its length would be too large): no error here.
  tlog_scan scan{};
  const auto rest = file.subspan(detail::tlog_header_bytes);
  if (detail::starts_with_tlog_magic(rest)) {
    scan = tlog_scan{0, 0, tlog_stop::damaged, errc::corrupt_data};
  } else {
    auto got = recover_records_into(rest, out);
    if (!got) return unexpected(got.error());  // an engine event (see the contract)
    scan = *got;
  }
  scan.intact_bytes += detail::tlog_header_bytes;
  return scan;
}

}  // namespace tickflow
