/// @file
/// tickflow/page/delta.hpp — bit-masked deltas over a window of a page: shape, encodings, merge.
///
/// Contract (DESIGN.md §1, "Deltas")
///   * A delta targets one page and writes the window [offset, offset + length) of it. Its mask
///     has one bit per byte of the window (bit i of word i/64 covers byte offset + i), packed in
///     ceil(length / 64) 64-bit words.
///       - dense:  payload.size() == length; byte i is written iff mask bit i is set (payload
///                 bytes under clear bits are ignored).
///       - sparse: payload.size() == popcount(mask); the k-th set bit takes payload[k].
///   * check_shape(d) checks what can be checked without the page, and returns the first rule
///     broken, in this order:
///       1. length > 0                                  errc::out_of_range, detail 0
///       2. offset + length fits in 32 bits              errc::out_of_range, detail = offset
///       3. ceil(length / 64) mask words                 errc::mask_length, detail = word count
///       4. no mask bit set past `length`                errc::stray_mask_bits, detail = length
///       5. kind is dense or sparse                      errc::invalid_argument, detail = kind
///       6. payload length matches the kind              errc::payload_mismatch, detail = payload size
///     The window against the page size, the page's existence and its epoch are checked by
///     page_store (page_store.hpp), after these.
///   * merge(a, b) = "a then b" as one dense delta on the union window: mask = OR, b wins on every
///     byte both write, epoch = max, id = b's. Defined for well-formed deltas to the same page;
///     otherwise a typed error (errc::page_mismatch, or the shape error). merge is associative,
///     and applying merge(a, b) equals applying a then b (tests check both on random deltas).
///   * to_dense / to_sparse re-encode a well-formed delta; both encodings write the same bytes.
///   * Deltas own their mask and payload (std::vector): constructing one allocates. The columnar
///     delta_batch (columnar/) is the allocation-free representation for hot paths.
///
/// Thread-safety: values.
#pragma once

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "tickflow/core/ids.hpp"
#include "tickflow/core/result.hpp"

namespace tickflow {

/// How a delta's payload holds its bytes: every byte of the window (dense) or only the masked ones, in order (sparse).
enum class delta_kind : std::uint8_t { dense = 0, sparse = 1 };

/// A change to one page: a window of bytes, a mask of which bytes are written, the payload, the epoch and an id (see the file contract).
struct delta {
  page_id page;  ///< the page it writes
  epoch at;  ///< the epoch it belongs to (never below its page's epoch)
  delta_id id;  ///< its id, unique in a run
  std::uint32_t offset = 0;  ///< the window's first byte in the page
  std::uint32_t length = 0;  ///< the window's length in bytes
  delta_kind kind = delta_kind::dense;  ///< how the payload holds the bytes
  std::vector<std::uint64_t> mask;  ///< one bit per window byte: 1 = written (mask_words(length) words)
  std::vector<std::byte> payload;  ///< the bytes: length of them (dense), or one per mask bit set (sparse)

  /// Deltas compare field by field.
  friend bool operator==(const delta&, const delta&) = default;
};

/// Mask words a window of `length` bytes needs.
[[nodiscard]] constexpr std::size_t mask_words(std::uint32_t length) noexcept { return (std::size_t{length} + 63) / 64; }

/// True iff mask bit i is set.
[[nodiscard]] inline bool mask_bit(const std::vector<std::uint64_t>& mask, std::size_t i) noexcept {
  return ((mask[i / 64] >> (i % 64)) & 1U) != 0;
}

/// Checks a delta given by its parts (the columnar batch uses this form).
[[nodiscard]] inline result<void> check_shape(std::uint32_t offset, std::uint32_t length, delta_kind kind,
                                              std::span<const std::uint64_t> mask, std::size_t payload_size) noexcept {
  if (length == 0) return unexpected(errc::out_of_range, 0, "empty window");
  if (std::uint64_t{offset} + length > 0xFFFFFFFFULL) return unexpected(errc::out_of_range, offset, "window end overflows");
  if (mask.size() != mask_words(length)) return unexpected(errc::mask_length, mask.size(), "mask word count does not match the window");
  if (length % 64 != 0 && (mask.back() >> (length % 64)) != 0)
    return unexpected(errc::stray_mask_bits, length, "mask bits set past the window");
  if (kind != delta_kind::dense && kind != delta_kind::sparse)
    return unexpected(errc::invalid_argument, static_cast<std::uint64_t>(kind), "unknown delta kind");
  std::size_t want = length;
  if (kind == delta_kind::sparse) {
    want = 0;
    for (auto w : mask) want += static_cast<std::size_t>(std::popcount(w));
  }
  if (payload_size != want) return unexpected(errc::payload_mismatch, payload_size, "payload length does not match the kind");
  return {};
}

/// Checks everything about `d` that does not need its page (see the file contract).
[[nodiscard]] inline result<void> check_shape(const delta& d) noexcept {
  return check_shape(d.offset, d.length, d.kind, d.mask, d.payload.size());
}

/// Calls f(window_index, byte) for every byte `d` writes, in window order. `d` must be well-formed.
template <class F>
void for_each_write(const delta& d, F&& f) {
  std::size_t k = 0;  // next sparse payload byte
  for (std::size_t w = 0; w < d.mask.size(); ++w) {
    for (std::uint64_t bits = d.mask[w]; bits != 0; bits &= bits - 1) {
      const std::size_t i = w * 64 + static_cast<std::size_t>(std::countr_zero(bits));
      f(i, d.kind == delta_kind::dense ? d.payload[i] : d.payload[k++]);
    }
  }
}

/// Writes the bytes of a well-formed delta at `base` (the first byte of its window): mask word w
/// is word(w) for w < words, the payload starts at `payload`. A dense word with every bit set is
/// one 64-byte copy; the rest goes byte by byte. The one writer of page_store::apply, the
/// columnar apply's general rows, and apply_log_records.
template <class MaskWord>
void write_masked(std::byte* base, delta_kind kind, std::size_t words, MaskWord&& word, const std::byte* payload) noexcept {
  std::size_t k = 0;  // next sparse payload byte
  for (std::size_t w = 0; w < words; ++w) {
    const std::uint64_t bits = word(w);
    if (kind == delta_kind::dense && bits == ~std::uint64_t{0}) {
      std::memcpy(base + 64 * w, payload + 64 * w, 64);
      continue;
    }
    for (std::uint64_t b = bits; b != 0; b &= b - 1) {
      const std::size_t i = 64 * w + static_cast<std::size_t>(std::countr_zero(b));
      base[i] = kind == delta_kind::dense ? payload[i] : payload[k++];
    }
  }
}

/// The same writes, densely encoded (bytes under clear mask bits are zero).
[[nodiscard]] inline result<delta> to_dense(const delta& d) {
  if (auto ok = check_shape(d); !ok) return unexpected(ok.error());
  delta out = d;
  out.kind = delta_kind::dense;
  out.payload.assign(d.length, std::byte{0});
  for_each_write(d, [&](std::size_t i, std::byte b) { out.payload[i] = b; });
  return out;
}

/// The same writes, sparsely encoded.
[[nodiscard]] inline result<delta> to_sparse(const delta& d) {
  if (auto ok = check_shape(d); !ok) return unexpected(ok.error());
  delta out = d;
  out.kind = delta_kind::sparse;
  out.payload.clear();
  for_each_write(d, [&](std::size_t, std::byte b) { out.payload.push_back(b); });
  return out;
}

/// "a then b" as one dense delta (see the file contract).
[[nodiscard]] inline result<delta> merge(const delta& a, const delta& b) {
  if (auto ok = check_shape(a); !ok) return unexpected(ok.error());
  if (auto ok = check_shape(b); !ok) return unexpected(ok.error());
  if (a.page != b.page) return unexpected(errc::page_mismatch, b.page.value(), "merge of deltas to different pages");
  const std::uint32_t lo = std::min(a.offset, b.offset);
  const std::uint32_t hi = std::max(a.offset + a.length, b.offset + b.length);
  delta out;
  out.page = a.page;
  out.at = std::max(a.at, b.at);
  out.id = b.id;
  out.offset = lo;
  out.length = hi - lo;
  out.kind = delta_kind::dense;
  out.mask.assign(mask_words(out.length), 0);
  out.payload.assign(out.length, std::byte{0});
  auto put = [&](const delta& d) {
    for_each_write(d, [&](std::size_t i, std::byte v) {
      const std::size_t j = d.offset - lo + i;
      out.mask[j / 64] |= std::uint64_t{1} << (j % 64);
      out.payload[j] = v;
    });
  };
  put(a);
  put(b);  // b second: it wins on bytes both write
  return out;
}

}  // namespace tickflow
