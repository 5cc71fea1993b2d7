/// @file
/// tickflow/queue/slot_storage.hpp — slot buffers shared by the rings (internal).
///
/// Contract
///   * packed_cells<T, Alloc>: cells of packed_cell_bytes (4 KiB), each a sequence word followed
///     by `run` contiguous items. Used by spsc_layout::packed.
///   * interleaved_lines<T, Alloc>: lines of a sequence word followed by as many items as fit (7 x
///     8-byte items), consecutive positions rotating through 4 lines: within each block of
///     4 * per_unit positions, position r sits in line r % 4, slot r / 4. The word holds one past
///     the last position published in its line, so the consumer finds an item and its signal in
///     one line, and the producer writes a line 7 times per lap, not every time the consumer
///     looks. Used by spsc_layout::spread.
///   * spread_slots<T, Alloc>: a sequence word per slot, slots packed per_line to a cache line,
///     and consecutive positions placed on different lines: within each block of per_line^2
///     positions the two lowest groups of log2(per_line) position bits are swapped, so the thread
///     at position i and the thread at position i+1 touch different lines, and several line
///     transfers can be in flight at once. Used by mpmc_ring, whose slots change state one by one.
///   * All map an unbounded position to a slot (position modulo the slot count), expose the
///     slot's sequence word (seq) and raw storage (raw), both at once (locate), and say how many
///     positions from `pos` on are contiguous in memory (run_left).
///   * All allocate once, in their constructor, through the allocator given (rebound to a
///     cache-line-aligned unit), with one guard unit at each end against heap neighbours. They
///     never construct or destroy items: the ring that owns them does.
///
/// Thread-safety: none of their own; the rings state the roles.
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

namespace detail {

/// Bytes per cell of the packed layout: a sequence word, then items. A page: long contiguous
/// runs make batch copies and zero-copy spans cheap; single items pay for it only when their
/// line is not the one holding the sequence word (spsc_layout::spread is the single-item layout).
inline constexpr std::size_t packed_cell_bytes = 4096;

/// A slot's sequence word and item storage (for packed cells: the cell's word).
struct slot_ref {
  std::atomic<std::size_t>& seq;
  void* raw;
};

/// How a storage maps positions to allocation units: `per_block` positions live in
/// `units_per_block` units of `unit_bytes` bytes each; the buffer is a power of two number of
/// blocks, at least `min_blocks`. A pure function of the item's size and alignment (below), so
/// that the size arithmetic can be checked for every item size without instantiating a ring.
struct ring_geometry {
  std::size_t per_block;
  std::size_t units_per_block;
  std::size_t unit_bytes;
  std::size_t min_blocks = 1;
};

[[nodiscard]] constexpr std::size_t round_up(std::size_t n, std::size_t to) noexcept { return (n + to - 1) / to * to; }
[[nodiscard]] constexpr std::size_t max_of(std::size_t a, std::size_t b) noexcept { return a > b ? a : b; }

/// The number of blocks a buffer of at least `capacity` positions needs (a power of two); throws
/// std::length_error if that many units, plus the two guard units, would not fit in size_t
/// bytes. Every product the storages compute later (slot counts, unit counts, byte sizes) is
/// bounded by this check.
[[nodiscard]] inline std::size_t ring_blocks(std::size_t capacity, const ring_geometry& g) {
  constexpr std::size_t max = std::numeric_limits<std::size_t>::max();
  const std::size_t max_units = max / g.unit_bytes - 2;
  const std::size_t max_blocks = std::bit_floor(max_units / g.units_per_block);
  const std::size_t want = max_of(capacity / g.per_block + (capacity % g.per_block != 0 ? 1 : 0), g.min_blocks);
  if (want > max_blocks) throw std::length_error("tickflow: ring capacity too large");
  return std::bit_ceil(want);  // want <= max_blocks, itself a power of two: cannot overflow
}

inline constexpr std::size_t seq_word_bytes = sizeof(std::atomic<std::size_t>);

/// packed_cells: a cell holds a sequence word, then as many items as fit in packed_cell_bytes
/// (at least one); one cell per block.
[[nodiscard]] constexpr ring_geometry packed_geometry(std::size_t size, std::size_t align) noexcept {
  const std::size_t item_offset = max_of(align, seq_word_bytes);
  const std::size_t run = item_offset + size <= packed_cell_bytes ? (packed_cell_bytes - item_offset) / size : 1;
  return {run, 1, round_up(item_offset + run * size, max_of(align, cache_line_size))};
}

/// interleaved_lines: a unit is a line (or the smallest multiple of the alignment that holds a
/// word and one item) of a sequence word and per_unit items; blocks rotate through 4 units.
[[nodiscard]] constexpr ring_geometry interleaved_geometry(std::size_t size, std::size_t align) noexcept {
  const std::size_t item_offset = max_of(align, seq_word_bytes);
  const std::size_t unit_align = max_of(align, cache_line_size);
  const std::size_t unit_bytes = round_up(item_offset + size, unit_align);
  return {(unit_bytes - item_offset) / size * 4, 4, unit_bytes};
}

/// spread_slots: a slot is a sequence word and one item; per_line slots share a line (a power of
/// two, 1 if a slot fills a line); at least per_line^2 slots, so the position remapping has two
/// bit groups to swap.
[[nodiscard]] constexpr ring_geometry spread_geometry(std::size_t size, std::size_t align) noexcept {
  const std::size_t slot_align = max_of(align, seq_word_bytes);
  const std::size_t slot = round_up(round_up(seq_word_bytes, align) + size, slot_align);
  const std::size_t per_line = slot >= cache_line_size ? 1 : std::bit_floor(cache_line_size / slot);
  return {per_line, 1, round_up(per_line * slot, max_of(slot_align, cache_line_size)), per_line};
}

/// Allocates `n` units plus a guard unit at each end; constructs and destroys the units.
template <class Unit, class Alloc>
class guarded_units {
  using unit_alloc = typename std::allocator_traits<Alloc>::template rebind_alloc<Unit>;
  using unit_traits = std::allocator_traits<unit_alloc>;

 public:
  guarded_units(std::size_t n, const Alloc& alloc) : n_(n), alloc_(alloc) {
    if (n > std::numeric_limits<std::size_t>::max() / sizeof(Unit) - 2)
      throw std::length_error("tickflow: ring capacity too large");
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
class packed_cells {
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
  static_assert(sizeof(cell) == packed_geometry(sizeof(T), alignof(T)).unit_bytes && run == packed_geometry(sizeof(T), alignof(T)).per_block);

  static constexpr ring_geometry geometry = packed_geometry(sizeof(T), alignof(T));

  /// At least `capacity` slots. Throws std::length_error if the buffer's size would overflow.
  packed_cells(std::size_t capacity, const Alloc& alloc) : mask_(ring_blocks(capacity, geometry) - 1), cells_(mask_ + 1, alloc) {}

  /// Number of slots (a power of two number of cells of `run` slots).
  std::size_t slot_count() const noexcept { return (mask_ + 1) * run; }
  std::atomic<std::size_t>& seq(std::size_t pos) const noexcept { return cells_[(pos / run) & mask_].seq; }
  void* raw(std::size_t pos) const noexcept { return locate(pos).raw; }
  /// Both of the above with one address computation.
  slot_ref locate(std::size_t pos) const noexcept {
    cell& c = cells_[(pos / run) & mask_];
    return {c.seq, c.items + (pos % run) * sizeof(T)};
  }
  /// Slots from `pos` to the end of its contiguous run.
  static std::size_t run_left(std::size_t pos) noexcept { return run - pos % run; }
  const Alloc& allocator() const noexcept { return cells_.allocator(); }

 private:
  std::size_t mask_;
  guarded_units<cell, Alloc> cells_;
};

template <class T, class Alloc>
class interleaved_lines {
  static constexpr std::size_t seq_size = sizeof(std::atomic<std::size_t>);
  static constexpr std::size_t item_offset = alignof(T) > seq_size ? alignof(T) : seq_size;
  static constexpr std::size_t unit_align = alignof(T) > cache_line_size ? alignof(T) : cache_line_size;
  // A line when at least one item fits after the word; otherwise the smallest multiple of the
  // alignment that holds one.
  static constexpr std::size_t unit_bytes =
      item_offset + sizeof(T) <= unit_align ? unit_align
                                            : (item_offset + sizeof(T) + unit_align - 1) / unit_align * unit_align;

 public:
  static constexpr bool contiguous = false;
  static constexpr std::size_t run = 1;
  /// Items per unit (7 for 8-byte items).
  static constexpr std::size_t per_unit = (unit_bytes - item_offset) / sizeof(T);
  /// Units that consecutive positions rotate through.
  static constexpr std::size_t lanes = 4;
  /// Positions per block of `lanes` units.
  static constexpr std::size_t block = per_unit * lanes;

 private:
  // alignas: units start on a line boundary and are the unit of allocation.
  struct alignas(unit_align) unit {
    /// One past the position of the last item published in this unit.
    std::atomic<std::size_t> seq{0};
    alignas(T) std::byte items[unit_bytes - item_offset];
  };

 public:
  static constexpr ring_geometry geometry = interleaved_geometry(sizeof(T), alignof(T));
  static_assert(sizeof(unit) == geometry.unit_bytes && block == geometry.per_block && lanes == geometry.units_per_block);

  /// At least `capacity` slots: a power of two number of blocks. Throws std::length_error if the
  /// buffer's size would overflow.
  interleaved_lines(std::size_t capacity, const Alloc& alloc)
      : mask_(ring_blocks(capacity, geometry) - 1), units_((mask_ + 1) * lanes, alloc) {}

  std::size_t slot_count() const noexcept { return (mask_ + 1) * block; }
  std::atomic<std::size_t>& seq(std::size_t pos) const noexcept { return locate(pos).seq; }
  void* raw(std::size_t pos) const noexcept { return locate(pos).raw; }
  slot_ref locate(std::size_t pos) const noexcept {
    const std::size_t b = pos / block;
    const std::size_t r = pos - b * block;
    unit& u = units_[(b & mask_) * lanes + r % lanes];
    return {u.seq, u.items + (r / lanes) * sizeof(T)};
  }
  static std::size_t run_left(std::size_t) noexcept { return 1; }
  const Alloc& allocator() const noexcept { return units_.allocator(); }

 private:
  std::size_t mask_;  // blocks - 1
  guarded_units<unit, Alloc> units_;
};

template <class T, class Alloc>
class spread_slots {
  struct slot {
    std::atomic<std::size_t> seq{0};  ///< position + 1 once the item at `position` is published
    alignas(T) std::byte item[sizeof(T)];
  };

 public:
  static constexpr std::size_t per_line =
      sizeof(slot) >= cache_line_size ? 1 : std::bit_floor(cache_line_size / sizeof(slot));

 private:
  static constexpr unsigned bits = static_cast<unsigned>(std::countr_zero(per_line));
  static constexpr std::size_t line_align = alignof(slot) > cache_line_size ? alignof(slot) : cache_line_size;
  // alignas: slots never straddle a line, and lines are the unit of allocation.
  struct alignas(line_align) line {
    slot slots[per_line];
  };

 public:
  static constexpr bool contiguous = false;
  static constexpr std::size_t run = 1;

  /// At least `capacity` slots: a power of two, and at least per_line^2 so that the
  /// position remapping has two bit groups to swap. Each slot's sequence word starts at 0, or at
  /// the slot's position when `seq_is_position` (the MPMC convention: "free for position i").
  static constexpr ring_geometry geometry = spread_geometry(sizeof(T), alignof(T));
  static_assert(sizeof(line) == geometry.unit_bytes && per_line == geometry.per_block);

  /// Throws std::length_error if the buffer's size would overflow.
  spread_slots(std::size_t capacity, const Alloc& alloc, bool seq_is_position = false)
      : mask_(ring_blocks(capacity, geometry) * per_line - 1), lines_((mask_ + 1) / per_line, alloc) {
    if (seq_is_position)
      for (std::size_t i = 0; i <= mask_; ++i) seq(i).store(i, std::memory_order_relaxed);
  }
  /// Number of slots (a power of two).
  std::size_t slot_count() const noexcept { return mask_ + 1; }

  std::atomic<std::size_t>& seq(std::size_t pos) const noexcept { return at(pos).seq; }
  void* raw(std::size_t pos) const noexcept { return at(pos).item; }
  /// Both of the above with one address computation.
  slot_ref locate(std::size_t pos) const noexcept {
    slot& s = at(pos);
    return {s.seq, s.item};
  }
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

}  // namespace detail
}  // namespace tickflow
