/// @file
/// tickflow/columnar/delta_batch.hpp — deltas as columns: the structure-of-arrays batch.
///
/// Contract
///   * delta_batch stores n deltas as parallel columns (page, epoch, delta id, offset, length,
///     kind) plus, per row, where its mask words start in one contiguous mask arena and where its
///     payload starts in one contiguous payload arena. Row i is the i-th delta appended.
///   * push_back(delta) appends any delta, well-formed or not (rejecting is the applier's job),
///     with the strong exception guarantee. It runs check_shape on the row while its bytes are in
///     cache and remembers the first ill-formed row and its error (first_ill_formed,
///     shape_error); the applier checks the rest, which needs the page store.
///     from_deltas / to_deltas convert whole vectors; the round trip is exact (tests check it).
///   * reserve(rows, mask_words, payload_bytes) allocates once; push_back then never allocates
///     while within the reservation.
///   * row(i) returns a lightweight view of row i (spans into the arenas), valid until the next
///     mutation of the batch.
///
///   * full_windows() and offset_bound() summarize the rows for appliers that have a faster form
///     for the common row (a dense window of at most 64 bytes, every mask bit set): true means
///     every row is one, and every row's offset is at most offset_bound(). Both are kept as rows
///     are appended; after pop_back they stay true of the remaining rows (they may then be
///     pessimistic), and clear() resets them.
///   * payload_stride() is s > 0 when every row's payload has s bytes, so that row i's payload
///     starts at i * s in the arena (an applier then needs no lookup in payload_offsets()); 0
///     otherwise (and for an empty batch). single_epoch() is true when every row has the first
///     row's epoch. Both are kept, and reset, the same way.
///
///   * bulk_appender appends many encoded rows at once (a decoder's fast path): it reserves
///     exact totals (rows, mask words, payload bytes) up front, the only allocation (strong
///     guarantee), then push() appends a row as push_back_encoded would (same columns, shape
///     check and summaries) through column pointers it keeps, never allocating. The rows become
///     part of the batch when the appender is destroyed; the batch must not be used meanwhile.
///
///   * Big columns and arenas are allocated with huge_page_allocator (core/huge_alloc.hpp).
///
/// Thread-safety: a value; concurrent const access is fine.
#pragma once

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "tickflow/core/pod_buffer.hpp"
#include "tickflow/core/ids.hpp"
#include "tickflow/core/result.hpp"
#include "tickflow/page/delta.hpp"

namespace tickflow {

/// A read-only view of one row of a delta_batch.
struct delta_row {
  page_id page;  ///< the page written
  epoch at;  ///< the epoch
  delta_id id;  ///< the delta id
  std::uint32_t offset;  ///< the window's first byte
  std::uint32_t length;  ///< the window's length
  delta_kind kind;  ///< dense or sparse
  std::span<const std::uint64_t> mask;  ///< the mask words
  std::span<const std::byte> payload;  ///< the payload bytes
};

/// Deltas stored column by column (structure of arrays): one column per field, masks and payloads in two arenas (see the file contract).
class delta_batch {
 public:
  delta_batch() = default;

  /// Rows held.
  [[nodiscard]] std::size_t size() const noexcept { return page_.size(); }
  /// Whether it holds no row.
  [[nodiscard]] bool empty() const noexcept { return page_.empty(); }

  /// Room for `rows` rows with `mask_words_total` mask words and `payload_bytes` payload bytes in all.
  void reserve(std::size_t rows, std::size_t mask_words_total, std::size_t payload_bytes) {
    reserve_rows(rows);
    masks_.reserve(mask_words_total);
    payloads_.reserve(payload_bytes);
  }

  /// Drops every row; keeps the capacity.
  void clear() noexcept {
    page_.clear();
    epoch_.clear();
    id_.clear();
    offset_.clear();
    length_.clear();
    kind_.clear();
    mask_begin_.assign(1, 0);
    payload_begin_.assign(1, 0);
    masks_.clear();
    payloads_.clear();
    ill_formed_ = no_row;
    shape_error_ = error{};
    full_windows_ = true;
    offset_bound_ = 0;
    payload_stride_ = 0;
    stride_broken_ = false;
    epochs_differ_ = false;
  }

  /// Appends d. Strong guarantee: if an allocation throws, the batch is as before.
  void push_back(const delta& d) { push_back(d.page, d.at, d.id, d.offset, d.length, d.kind, d.mask, d.payload); }

  /// Appends one row given by its fields (same guarantees as push_back(delta)).
  void push_back(page_id page, epoch at, delta_id id, std::uint32_t offset, std::uint32_t length, delta_kind kind,
                 std::span<const std::uint64_t> mask, std::span<const std::byte> payload) {
    reserve_row(mask.size(), payload.size());
    masks_.append_unchecked(mask.data(), mask.size());
    append_row(page, at, id, offset, length, kind, payload);
    note_window(offset, length, kind, mask);
    if (ill_formed_ == no_row) [[likely]]
      (void)note_shape(offset, length, kind, mask, payload.size());
  }

  /// Appends one row whose mask words are given as little-endian bytes (8 per word), as a log
  /// record holds them; otherwise as push_back. Returns errc::ok or the row's shape error.
  errc push_back_encoded(page_id page, epoch at, delta_id id, std::uint32_t offset, std::uint32_t length, delta_kind kind,
                         const std::byte* mask_le, std::size_t words, std::span<const std::byte> payload) {
    reserve_row(words, payload.size());
    const std::size_t first_word = masks_.size();
    if constexpr (std::endian::native == std::endian::little) {
      masks_.append_raw_unchecked(mask_le, words);
    } else {
      for (std::size_t w = 0; w < words; ++w) {
        std::uint64_t v = 0;
        for (int b = 7; b >= 0; --b) v = (v << 8) | static_cast<std::uint64_t>(mask_le[8 * w + static_cast<std::size_t>(b)]);
        masks_.push_back_unchecked(v);
      }
    }
    append_row(page, at, id, offset, length, kind, payload);
    note_window(offset, length, kind, std::span<const std::uint64_t>(masks_.data() + first_word, words));
    return note_shape(offset, length, kind, std::span<const std::uint64_t>(masks_.data() + first_word, words), payload.size());
  }

  class bulk_appender;

  /// Removes the last row (nothing if empty).
  void pop_back() noexcept {
    const std::size_t rows = page_.size();
    if (rows == 0) return;
    page_.resize_down(rows - 1);
    epoch_.resize_down(rows - 1);
    id_.resize_down(rows - 1);
    offset_.resize_down(rows - 1);
    length_.resize_down(rows - 1);
    kind_.resize_down(rows - 1);
    mask_begin_.resize_down(rows);
    payload_begin_.resize_down(rows);
    masks_.resize_down(mask_begin_.back());
    payloads_.resize_down(payload_begin_.back());
    if (ill_formed_ == rows - 1) ill_formed_ = no_row, shape_error_ = error{};
  }

  /// The rows of `ds`, in order.
  [[nodiscard]] static delta_batch from_deltas(std::span<const delta> ds) {
    delta_batch b;
    std::size_t words = 0, bytes = 0;
    for (const auto& d : ds) {
      words += d.mask.size();
      bytes += d.payload.size();
    }
    b.reserve(ds.size(), words, bytes);
    for (const auto& d : ds) b.push_back(d);
    return b;
  }

  /// Row i as a delta (allocates its mask and payload).
  [[nodiscard]] delta to_delta(std::size_t i) const {
    delta d;
    copy_row(i, d);
    return d;
  }
  /// Row i into `d`, reusing its mask and payload storage (no allocation once they are large
  /// enough).
  void copy_row(std::size_t i, delta& d) const {
    const delta_row r = row(i);
    d.page = r.page;
    d.at = r.at;
    d.id = r.id;
    d.offset = r.offset;
    d.length = r.length;
    d.kind = r.kind;
    d.mask.assign(r.mask.begin(), r.mask.end());
    d.payload.assign(r.payload.begin(), r.payload.end());
  }
  /// Every row as a delta.
  [[nodiscard]] std::vector<delta> to_deltas() const {
    std::vector<delta> out;
    out.reserve(size());
    for (std::size_t i = 0; i < size(); ++i) out.push_back(to_delta(i));
    return out;
  }

  /// Row i as a view into the batch (valid until the batch changes).
  [[nodiscard]] delta_row row(std::size_t i) const noexcept {
    return delta_row{page_id{page_[i]},
                     epoch{epoch_[i]},
                     delta_id{id_[i]},
                     offset_[i],
                     length_[i],
                     static_cast<delta_kind>(kind_[i]),
                     std::span<const std::uint64_t>(masks_.data() + mask_begin_[i], mask_begin_[i + 1] - mask_begin_[i]),
                     std::span<const std::byte>(payloads_.data() + payload_begin_[i], payload_begin_[i + 1] - payload_begin_[i])};
  }

  // Columns, for scans and kernels.
  /// The page column: each row's page id.
  [[nodiscard]] std::span<const std::uint64_t> pages() const noexcept { return page_; }
  /// The epoch column.
  [[nodiscard]] std::span<const std::uint32_t> epochs() const noexcept { return epoch_; }
  /// The delta id column.
  [[nodiscard]] std::span<const std::uint64_t> ids() const noexcept { return id_; }
  /// The window offset column.
  [[nodiscard]] std::span<const std::uint32_t> offsets() const noexcept { return offset_; }
  /// The window length column.
  [[nodiscard]] std::span<const std::uint32_t> lengths() const noexcept { return length_; }
  /// The first row that fails check_shape (delta.hpp), or no_row. Shapes are checked as rows
  /// are appended, while their bytes are in cache; appliers then check only what needs a page.
  static constexpr std::size_t no_row = ~std::size_t{0};
  /// The first row that fails check_shape, or no_row.
  [[nodiscard]] std::size_t first_ill_formed() const noexcept { return ill_formed_; }
  /// check_shape's error for first_ill_formed() (detail: the row); errc::ok if every row is well-formed.
  [[nodiscard]] error shape_error() const noexcept { return shape_error_; }
  /// Bytes the batch holds: every column and arena, by capacity.
  [[nodiscard]] std::size_t memory_bytes() const noexcept {
    return page_.capacity() * 8 + epoch_.capacity() * 4 + id_.capacity() * 8 + offset_.capacity() * 4 + length_.capacity() * 4 +
           kind_.capacity() + (mask_begin_.capacity() + payload_begin_.capacity()) * sizeof(std::size_t) + masks_.capacity() * 8 +
           payloads_.capacity();
  }
  /// True if every row is a dense window of 1..64 bytes with every mask bit set (see contract).
  [[nodiscard]] bool full_windows() const noexcept { return full_windows_; }
  /// At least every row's offset (see contract).
  [[nodiscard]] std::uint32_t offset_bound() const noexcept { return offset_bound_; }
  /// s > 0 iff every row's payload has s bytes (row i's starts at i * s); see the contract.
  /// True iff the batch has rows and every row's epoch is the first row's; see the contract.
  [[nodiscard]] bool single_epoch() const noexcept { return !epochs_differ_ && page_.size() != 0; }
  /// s > 0 iff every row's payload has s bytes (row i's starts at i * s); 0 otherwise (see the contract).
  [[nodiscard]] std::size_t payload_stride() const noexcept { return stride_broken_ || page_.size() == 0 ? 0 : payload_stride_; }
  /// The kind column (delta_kind values).
  [[nodiscard]] std::span<const std::uint8_t> kinds() const noexcept { return kind_; }
  /// The mask arena: every row's mask words, row after row.
  [[nodiscard]] const std::uint64_t* mask_arena() const noexcept { return masks_.data(); }
  /// Where row i's mask starts in the mask arena (size() + 1 entries; the last is the end).
  [[nodiscard]] std::span<const std::size_t> mask_offsets() const noexcept { return mask_begin_; }
  /// Where row i's payload starts in the payload arena (size() + 1 entries; the last is the end).
  [[nodiscard]] std::span<const std::size_t> payload_offsets() const noexcept { return payload_begin_; }
  /// The payload arena: every row's payload bytes, row after row.
  [[nodiscard]] const std::byte* payload_arena() const noexcept { return payloads_.data(); }

 private:
  // Columns of a big batch span hundreds of MiB: huge pages spare the kernels a TLB miss per 4 KiB
  // (pod_buffer allocates through huge_page_allocator). The row columns always have room for
  // the same number of rows (reserve_rows), so one check per appended row suffices.
  template <class T>
  using column = pod_buffer<T>;
  column<std::uint64_t> page_;
  column<std::uint32_t> epoch_;
  column<std::uint64_t> id_;
  column<std::uint32_t> offset_;
  column<std::uint32_t> length_;
  column<std::uint8_t> kind_;
  column<std::size_t> mask_begin_ = column<std::size_t>(1, 0);
  column<std::size_t> payload_begin_ = column<std::size_t>(1, 0);
  column<std::uint64_t> masks_;
  column<std::byte> payloads_;
  std::size_t ill_formed_ = no_row;
  error shape_error_{};
  bool full_windows_ = true;
  std::uint32_t offset_bound_ = 0;
  std::size_t payload_stride_ = 0;  // the first row's payload size
  bool stride_broken_ = false;      // a row's payload size differed from it (or was 0)
  bool epochs_differ_ = false;      // a row's epoch differed from the first row's

  void note_window(std::uint32_t offset, std::uint32_t length, delta_kind kind, std::span<const std::uint64_t> mask) noexcept {
    const bool full = kind == delta_kind::dense && length >= 1 && length <= 64 && mask.size() == 1 &&
                      mask[0] == (length == 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << length) - 1);
    full_windows_ = full_windows_ && full;
    offset_bound_ = std::max(offset_bound_, offset);
  }

  // Every allocation of a row append happens here, before anything is appended (so a throw
  // leaves the batch as it was); the appends after cannot fail.
  void reserve_row(std::size_t words, std::size_t payload_bytes) {
    const std::size_t rows = page_.size();
    if (rows == page_.capacity()) reserve_rows(std::max<std::size_t>(64, 2 * rows));
    masks_.reserve_more(words);
    payloads_.reserve_more(payload_bytes);
  }
  // The row's columns and payload, after its mask words (reserve_row first).
  void append_row(page_id page, epoch at, delta_id id, std::uint32_t offset, std::uint32_t length, delta_kind kind,
                  std::span<const std::byte> payload) noexcept {
    page_.push_back_unchecked(page.value());
    epoch_.push_back_unchecked(at.value());
    id_.push_back_unchecked(id.value());
    offset_.push_back_unchecked(offset);
    length_.push_back_unchecked(length);
    kind_.push_back_unchecked(static_cast<std::uint8_t>(kind));
    payloads_.append_unchecked(payload.data(), payload.size());
    if (page_.size() == 1) payload_stride_ = payload.size();
    stride_broken_ = stride_broken_ || payload.size() != payload_stride_ || payload.empty();
    epochs_differ_ = epochs_differ_ || at.value() != epoch_[0];
    mask_begin_.push_back_unchecked(masks_.size());
    payload_begin_.push_back_unchecked(payloads_.size());
  }
  // check_shape for the row just appended; remembers the first ill-formed row.
  errc note_shape(std::uint32_t offset, std::uint32_t length, delta_kind kind, std::span<const std::uint64_t> mask,
                  std::size_t payload_bytes) noexcept {
    const auto ok = check_shape(offset, length, kind, mask, payload_bytes);
    if (ok) return errc::ok;
    const std::size_t row = page_.size() - 1;
    if (ill_formed_ == no_row) ill_formed_ = row, shape_error_ = error{ok.error().code, row, ok.error().message};
    return ok.error().code;
  }
  friend class bulk_appender;
  void reserve_rows(std::size_t rows) {
    page_.reserve(rows);
    epoch_.reserve(rows);
    id_.reserve(rows);
    offset_.reserve(rows);
    length_.reserve(rows);
    kind_.reserve(rows);
    mask_begin_.reserve(rows + 1);
    payload_begin_.reserve(rows + 1);
  }
};

/// See the file contract. One appender per batch at a time; push() at most `rows` rows holding
/// at most `words` mask words and `payload_bytes` payload bytes in all (the totals given).
class delta_batch::bulk_appender {
 public:
  /// Reserves room for the rows to come, all or nothing (std::bad_alloc, nothing changed).
  bulk_appender(delta_batch& b, std::size_t rows, std::size_t words, std::size_t payload_bytes) : b_(b) {
    const std::size_t have = b.page_.size();
    if (rows > b.page_.capacity() - have || have + rows >= b.mask_begin_.capacity() || have + rows >= b.payload_begin_.capacity())
      b.reserve_rows(std::max(have + rows, 2 * have));
    b.masks_.reserve_more(words);
    b.payloads_.reserve_more(payload_bytes);
    row_ = have;
    word_ = b.masks_.size();
    byte_ = b.payloads_.size();
    full_windows_ = b.full_windows_;
    offset_bound_ = b.offset_bound_;
    stride_ = b.payload_stride_;
    stride_broken_ = b.stride_broken_;
    epochs_differ_ = b.epochs_differ_;
    first_epoch_ = have != 0 ? b.epoch_[0] : 0;
  }
  bulk_appender(const bulk_appender&) = delete;
  bulk_appender& operator=(const bulk_appender&) = delete;
  ~bulk_appender() {
    b_.page_.resize_written(row_);
    b_.epoch_.resize_written(row_);
    b_.id_.resize_written(row_);
    b_.offset_.resize_written(row_);
    b_.length_.resize_written(row_);
    b_.kind_.resize_written(row_);
    b_.mask_begin_.resize_written(row_ + 1);
    b_.payload_begin_.resize_written(row_ + 1);
    b_.masks_.resize_written(word_);
    b_.payloads_.resize_written(byte_);
    b_.full_windows_ = full_windows_;
    b_.offset_bound_ = offset_bound_;
    b_.payload_stride_ = stride_;
    b_.stride_broken_ = stride_broken_;
    b_.epochs_differ_ = epochs_differ_;
  }

  /// As delta_batch::push_back_encoded (mask words as little-endian bytes), within the totals.
  errc push(page_id page, epoch at, delta_id id, std::uint32_t offset, std::uint32_t length, delta_kind kind,
            const std::byte* mask_le, std::size_t words, std::span<const std::byte> payload) noexcept {
    static_assert(std::endian::native == std::endian::little, "mask words are copied as little-endian bytes");
    const std::size_t r = row_;
    std::uint64_t* mask = b_.masks_.data() + word_;
    if (words != 0) std::memcpy(static_cast<void*>(mask), mask_le, 8 * words);
    if (!payload.empty()) std::memcpy(b_.payloads_.data() + byte_, payload.data(), payload.size());
    word_ += words;
    byte_ += payload.size();
    b_.page_.data()[r] = page.value();
    b_.epoch_.data()[r] = at.value();
    b_.id_.data()[r] = id.value();
    b_.offset_.data()[r] = offset;
    b_.length_.data()[r] = length;
    b_.kind_.data()[r] = static_cast<std::uint8_t>(kind);
    b_.mask_begin_.data()[r + 1] = word_;
    b_.payload_begin_.data()[r + 1] = byte_;
    row_ = r + 1;
    if (r == 0) {
      stride_ = payload.size();
      first_epoch_ = at.value();
    }
    stride_broken_ = stride_broken_ || payload.size() != stride_ || payload.empty();
    epochs_differ_ = epochs_differ_ || at.value() != first_epoch_;
    const std::span<const std::uint64_t> m(mask, words);
    full_windows_ = full_windows_ && kind == delta_kind::dense && length >= 1 && length <= 64 && words == 1 &&
                    m[0] == (length == 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << length) - 1);
    offset_bound_ = std::max(offset_bound_, offset);
    const auto ok = check_shape(offset, length, kind, m, payload.size());
    if (ok) [[likely]]
      return errc::ok;
    if (b_.ill_formed_ == no_row) b_.ill_formed_ = r, b_.shape_error_ = error{ok.error().code, r, ok.error().message};
    return ok.error().code;
  }

 private:
  delta_batch& b_;
  std::size_t row_ = 0, word_ = 0, byte_ = 0;
  bool full_windows_ = true;
  std::uint32_t offset_bound_ = 0;
  std::size_t stride_ = 0;
  bool stride_broken_ = false, epochs_differ_ = false;
  std::uint32_t first_epoch_ = 0;
};

}  // namespace tickflow
