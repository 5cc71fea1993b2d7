/// @file
/// tickflow/page/log_apply.hpp — applying the records of a log image to a page store, atomically,
/// without building a delta per record.
///
/// Contract
///   * apply_log_records(store, records) takes the bytes that follow a log header (page/tlog.hpp
///     format; e.g. the tail of a log from a checkpoint's position). It reads the intact prefix
///     exactly as parse_tlog would (same stop rules: torn, or damaged by length, CRC, parse or
///     shape), validates every record of it against the store as page_store::apply would in
///     order (unknown page, window past the page, epoch below the page's as the earlier records
///     leave it), and applies them all only if every one is valid. Otherwise the store is
///     unchanged and the error's detail is the index of the first invalid record.
///   * The result says how many records were applied and where and why reading stopped.
///   * A page store replays deltas only: an intact engine event (a page created or released, a
///     graph edit, a step; page/tlog.hpp) is errc::invalid_argument with the number of delta
///     records before it as the detail, and the store is unchanged.
///   * Bytes that start with the log header (the whole image, header included, passed by
///     mistake) are errc::invalid_argument (detail 0), and the store is unchanged: no record can
///     start with the magic, so such input would otherwise read as "damaged, 0 records".
///   * Two passes over the bytes: check (CRC-32C, four records at a time where possible), then
///     write. Per-page state lives in a table built once per call, one entry per table index.
///
/// Thread-safety: the store must not be used concurrently.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <vector>

#include "tickflow/core/crc32c.hpp"
#include "tickflow/core/result.hpp"
#include "tickflow/page/delta.hpp"
#include "tickflow/page/page_store.hpp"
#include "tickflow/page/tlog.hpp"

namespace tickflow {

/// What apply_log_records did.
struct log_apply_result {
  std::uint64_t records = 0;       ///< records applied (the whole intact prefix)
  std::uint64_t intact_bytes = 0;  ///< where the intact prefix ends, from the start of `records`
  tlog_stop stop = tlog_stop::end_of_file;  ///< why the intact prefix ended: the end of the records, or a torn or damaged record
  errc reason = errc::ok;          ///< for damaged: why
};

/// Applies a log's records to a page store, all or nothing, reusing its scratch between calls (see the file contract).
class page_log_applier {
 public:
  /// Applies the records (the bytes after a log header) to `store`: all of them, or none (see the file contract).
  result<log_apply_result> apply(page_store& store, std::span<const std::byte> records) {
    if (detail::starts_with_tlog_magic(records))
      return unexpected(errc::invalid_argument, 0, "records start with a log header: pass the bytes after it");
    store.thaw_all();  // the records may write any page (nothing if none is cold)
    const std::size_t table = store.entries_.size();
    pages_.resize(table);
    for (std::size_t i = 0; i < table; ++i) {
      const auto& e = store.entries_[i];
      pages_[i] = state{e.live ? store.class_of(e).page(e.slot) : nullptr, e.live ? store.generations_[i] : 0, e.bytes, e.at.value()};
    }
    log_apply_result res;
    // Pass 1: read and check.
    tlog_record_reader reader(records);
    std::uint64_t mask_buf[16];
    std::vector<std::uint64_t> big_mask;
    while (auto body = reader.next()) {
      {  // the pages of the records whose CRCs are already done: fetch their states now
        std::span<const std::byte> soon[4];
        const int n = reader.upcoming(soon);
        for (int k = 0; k < n; ++k) {
          if (soon[k].size() < 8) continue;
          const std::uint64_t idx = detail::get_le(soon[k].data(), 8) >> 32;
          if (idx < table) __builtin_prefetch(&pages_[idx], 1, 3);
        }
      }
      const std::byte* p = body->data();
      if (detail::is_event_body(*body) && detail::decode_event(*body))
        return unexpected(errc::invalid_argument, res.records, "an engine event (page, graph or step record): replay this log with an engine");
      const auto f = fields::parse(p, static_cast<std::uint32_t>(body->size()));
      if (!f) {
        reader.reject(errc::corrupt_data);
        break;
      }
      std::uint64_t* mask = mask_buf;
      if (f->words > 16) {
        big_mask.resize(f->words);
        mask = big_mask.data();
      }
      for (std::size_t w = 0; w < f->words; ++w) mask[w] = detail::get_le(p + fields::fixed + 8 * w, 8);
      if (auto ok = check_shape(f->offset, f->length, f->kind, std::span<const std::uint64_t>(mask, f->words), f->payload_bytes); !ok) {
        reader.reject(ok.error().code);
        break;
      }
      // The record is intact: now the rules against the store, in order.
      const std::uint64_t index = f->page >> 32;
      const auto gen = static_cast<std::uint32_t>(f->page);
      if (index >= table || gen == 0 || pages_[index].generation != gen) return unexpected(errc::not_found, res.records, "delta to an unknown page");
      state& pg = pages_[index];
      if (std::uint64_t{f->offset} + f->length > pg.bytes) return unexpected(errc::out_of_range, res.records, "window past the end of the page");
      if (f->at < pg.running) return unexpected(errc::epoch_regression, res.records, "delta epoch below the page's");
      pg.running = f->at;
      ++res.records;
      reader.accept();
    }
    res.intact_bytes = reader.position();
    res.stop = reader.stop();
    res.reason = reader.reason();
    // Pass 2: write the intact prefix (every record of it was checked: its page is alive),
    // fetching the page bytes of the record `lookahead` ahead.
    constexpr int lookahead = 8;
    std::size_t pf = 0;
    for (int k = 0; k < lookahead && pf < res.intact_bytes; ++k)
      pf += detail::tlog_record_header_bytes + static_cast<std::uint32_t>(detail::get_le(records.data() + pf, 4));
    for (std::size_t q = 0; q < res.intact_bytes;) {
      if (pf < res.intact_bytes) {
        const std::byte* ap = records.data() + pf + detail::tlog_record_header_bytes;
        __builtin_prefetch(pages_[detail::get_le(ap, 8) >> 32].base + detail::get_le(ap + 20, 4), 1, 3);
        pf += detail::tlog_record_header_bytes + static_cast<std::uint32_t>(detail::get_le(records.data() + pf, 4));
      }
      const auto len = static_cast<std::uint32_t>(detail::get_le(records.data() + q, 4));
      const std::byte* p = records.data() + q + detail::tlog_record_header_bytes;
      const auto f = *fields::parse(p, len);
      const std::byte* mask_bytes = p + fields::fixed;
      write_masked(pages_[f.page >> 32].base + f.offset, f.kind, f.words,
                   [&](std::size_t w) { return detail::get_le(mask_bytes + 8 * w, 8); }, p + fields::fixed + 8 * f.words + 4);
      q += detail::tlog_record_header_bytes + len;
    }
    for (std::size_t i = 0; i < table; ++i) store.entries_[i].at = epoch{pages_[i].running};
    return res;
  }

 private:
  struct state {
    std::byte* base;           // the page's bytes (null if dead)
    std::uint32_t generation;  // 0 if dead
    std::uint32_t bytes;
    std::uint32_t running;     // its epoch as the records so far leave it
  };
  // The fixed part of a record body, checked against the body's length.
  struct fields {
    static constexpr std::size_t fixed = detail::tlog_body_fixed_bytes;
    std::uint64_t page;
    std::uint32_t at, offset, length;
    delta_kind kind;
    std::size_t words, payload_bytes;
    static std::optional<fields> parse(const std::byte* p, std::uint32_t len) noexcept {
      if (len < fixed + 4) return std::nullopt;
      fields f;
      f.page = detail::get_le(p, 8);
      f.at = static_cast<std::uint32_t>(detail::get_le(p + 8, 4));
      f.offset = static_cast<std::uint32_t>(detail::get_le(p + 20, 4));
      f.length = static_cast<std::uint32_t>(detail::get_le(p + 24, 4));
      const auto kind = static_cast<std::uint8_t>(p[28]);
      if (kind > 1) return std::nullopt;
      f.kind = static_cast<delta_kind>(kind);
      f.words = mask_words(f.length);
      if (f.words > (len - fixed - 4) / 8) return std::nullopt;
      const std::size_t at = fixed + 8 * f.words;
      f.payload_bytes = static_cast<std::size_t>(detail::get_le(p + at, 4));
      if (f.payload_bytes != len - at - 4) return std::nullopt;
      return f;
    }
  };
  std::vector<state> pages_;
};

/// See the file contract.
[[nodiscard]] inline result<log_apply_result> apply_log_records(page_store& store, std::span<const std::byte> records) {
  page_log_applier a;
  return a.apply(store, records);
}

}  // namespace tickflow
