// tickflow/queue/spsc_layout.hpp — the two slot layouts of basic_spsc_ring.
//
// Contract
//   * spsc_layout::packed (the default): slots are grouped in 4 KiB cells, a sequence word
//     followed by as many items as fit (511 x 8-byte items). Items of one cell are contiguous
//     in memory, which makes long zero-copy spans and cheap batch copies possible; a batch is
//     published with one release store per cell it touches.
//   * spsc_layout::spread: every slot carries its own sequence word, slots are packed several to
//     a line (4 x 16 bytes for an 8-byte item), and consecutive positions are placed on
//     different lines (within each block of slots_per_line^2 positions, the two lowest groups of
//     position bits are swapped). The consumer taking item i and the producer writing item i+1
//     then touch different lines, and several line transfers are in flight at once: the layout
//     for single-item streaming. No zero-copy spans (neighbouring items are not adjacent).
//   * In both, the consumer learns that item `pos` is readable from a sequence word next to the
//     item (seq > pos): in the spread layout, in the same line, so taking an item costs one
//     cache miss, not two.
//   * The storages allocate once, in their constructor, through the allocator given (rebound to
//     a cache-line-aligned unit), with one guard unit at each end against heap neighbours.
//
// Thread-safety: storages are internals of basic_spsc_ring, which states the roles.
#pragma once

#include <atomic>
#include <bit>
#include <cstddef>
#include <limits>
#include <memory>
#include <new>
#include <stdexcept>

#include "tickflow/core/config.hpp"

namespace tickflow {

namespace spsc_layout {
/// Cells of one cache line; contiguous runs of items; zero-copy spans. The default.
struct packed {};
/// A sequence word per slot; neighbouring items on different lines. Single-item streaming.
struct spread {};
}  // namespace spsc_layout

namespace detail {

/// Bytes per cell of the packed layout: a sequence word, then items. A page: long contiguous
/// runs make batch copies and zero-copy spans cheap; single items pay for it only when their
/// line is not the one holding the sequence word (spsc_layout::spread is the single-item layout).
inline constexpr std::size_t packed_cell_bytes = 4096;

/// Allocates `n` units plus a guard unit at each end; constructs and destroys the units.
template <class Unit, class Alloc>
class guarded_units {
  using unit_alloc = typename std::allocator_traits<Alloc>::template rebind_alloc<Unit>;
  using unit_traits = std::allocator_traits<unit_alloc>;

 public:
  guarded_units(std::size_t n, const Alloc& alloc) : n_(n), alloc_(alloc) {
    if (n > std::numeric_limits<std::size_t>::max() / sizeof(Unit) - 2)
      throw std::length_error("tickflow::spsc_ring: capacity too large");
    unit_alloc a(alloc_);
    Unit* raw = unit_traits::allocate(a, n + 2);
    for (std::size_t i = 0; i < n + 2; ++i) ::new (static_cast<void*>(raw + i)) Unit;
    units_ = raw + 1;
  }
  guarded_units(const guarded_units&) = delete;
  guarded_units& operator=(const guarded_units&) = delete;
  ~guarded_units() {
    Unit* raw = units_ - 1;
    for (std::size_t i = 0; i < n_ + 2; ++i) raw[i].~Unit();
    unit_alloc a(alloc_);
    unit_traits::deallocate(a, raw, n_ + 2);
  }
  Unit& operator[](std::size_t i) const noexcept { return units_[i]; }
  const Alloc& allocator() const noexcept { return alloc_; }

 private:
  Unit* units_;
  std::size_t n_;
  [[no_unique_address]] Alloc alloc_;
};

template <class T, class Alloc>
class spsc_packed_storage {
  static constexpr std::size_t seq_size = sizeof(std::atomic<std::size_t>);
  static constexpr std::size_t item_offset = alignof(T) > seq_size ? alignof(T) : seq_size;
  static constexpr std::size_t cell_align = alignof(T) > cache_line_size ? alignof(T) : cache_line_size;

 public:
  static constexpr bool contiguous = true;
  /// Items per cell: the longest contiguous run.
  static constexpr std::size_t run =
      item_offset + sizeof(T) <= packed_cell_bytes ? (packed_cell_bytes - item_offset) / sizeof(T) : 1;

  // alignas: cells start on a line boundary, so a cell's sequence word shares its line only with
  // the cell's first items.
  struct alignas(cell_align) cell {
    /// One past the position of the last item published in this cell.
    std::atomic<std::size_t> seq{0};
    alignas(T) std::byte items[run * sizeof(T)];
  };

  spsc_packed_storage(std::size_t capacity, const Alloc& alloc)
      : mask_(std::bit_ceil(capacity / run + (capacity % run != 0 ? 1 : 0)) - 1), cells_(mask_ + 1, alloc) {}

  std::atomic<std::size_t>& seq(std::size_t pos) const noexcept { return cells_[(pos / run) & mask_].seq; }
  void* raw(std::size_t pos) const noexcept { return cells_[(pos / run) & mask_].items + (pos % run) * sizeof(T); }
  /// Slots from `pos` to the end of its contiguous run.
  static std::size_t run_left(std::size_t pos) noexcept { return run - pos % run; }
  const Alloc& allocator() const noexcept { return cells_.allocator(); }

 private:
  std::size_t mask_;
  guarded_units<cell, Alloc> cells_;
};

template <class T, class Alloc>
class spsc_spread_storage {
  struct slot {
    std::atomic<std::size_t> seq{0};  ///< position + 1 once the item at `position` is published
    alignas(T) std::byte item[sizeof(T)];
  };
  static constexpr std::size_t per_line =
      sizeof(slot) >= cache_line_size ? 1 : std::bit_floor(cache_line_size / sizeof(slot));
  static constexpr unsigned bits = static_cast<unsigned>(std::countr_zero(per_line));
  static constexpr std::size_t line_align = alignof(slot) > cache_line_size ? alignof(slot) : cache_line_size;
  // alignas: slots never straddle a line, and lines are the unit of allocation.
  struct alignas(line_align) line {
    slot slots[per_line];
  };

 public:
  static constexpr bool contiguous = false;
  static constexpr std::size_t run = 1;

  spsc_spread_storage(std::size_t capacity, const Alloc& alloc)
      : mask_(std::bit_ceil(capacity < per_line * per_line ? per_line * per_line : capacity) - 1),
        lines_((mask_ + per_line) / per_line, alloc) {}

  std::atomic<std::size_t>& seq(std::size_t pos) const noexcept { return at(pos).seq; }
  void* raw(std::size_t pos) const noexcept { return at(pos).item; }
  static std::size_t run_left(std::size_t) noexcept { return 1; }
  const Alloc& allocator() const noexcept { return lines_.allocator(); }

 private:
  slot& at(std::size_t pos) const noexcept {
    pos &= mask_;
    if constexpr (bits != 0) {
      const std::size_t low = per_line - 1;
      const std::size_t mix = (pos ^ (pos >> bits)) & low;
      pos ^= mix ^ (mix << bits);
    }
    return lines_[pos >> bits].slots[pos & (per_line - 1)];
  }

  std::size_t mask_;
  guarded_units<line, Alloc> lines_;
};

template <class T, class Alloc, class Layout>
using spsc_storage = std::conditional_t<std::is_same_v<Layout, spsc_layout::spread>, spsc_spread_storage<T, Alloc>,
                                        spsc_packed_storage<T, Alloc>>;

}  // namespace detail
}  // namespace tickflow
