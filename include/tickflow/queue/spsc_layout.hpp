/// @file
/// tickflow/queue/spsc_layout.hpp — the two slot layouts of basic_spsc_ring.
///
/// Contract
///   * spsc_layout::packed (the default): slots are grouped in 4 KiB cells, a sequence word
///     followed by as many items as fit (511 x 8-byte items). Items of one cell are contiguous
///     in memory, which makes long zero-copy spans and cheap batch copies possible; a batch is
///     published with one release store per cell it touches.
///   * spsc_layout::spread: every cache line carries its own sequence word followed by as many
///     items as fit (7 x 8-byte items), and consecutive positions rotate through 4 lines (within
///     each block of 4 x 7 positions, position r sits in line r % 4, slot r / 4). The consumer
///     taking item i and the producer writing item i+1 touch different lines, several line
///     transfers are in flight at once, and a line carries 7 items per lap: the layout for
///     single-item streaming. No zero-copy spans (neighbouring items are not adjacent).
///   * In both, the consumer learns that item `pos` is readable from a sequence word near the
///     item: one past the last position published in the cell (packed) or line (spread), so
///     seq > pos. In the spread layout the word is in the item's own line, so taking an item
///     costs one cache miss, not two.
///   * The buffers themselves are in slot_storage.hpp.
///
/// Thread-safety: storages are internals of basic_spsc_ring, which states the roles.
#pragma once

#include <type_traits>

#include "tickflow/queue/slot_storage.hpp"

namespace tickflow {

namespace spsc_layout {
/// 4 KiB cells; contiguous runs of items; zero-copy spans. The default.
struct packed {};
/// A sequence word per slot; neighbouring items on different lines. Single-item streaming.
struct spread {};
}  // namespace spsc_layout

namespace detail {

template <class T, class Alloc, class Layout>
using spsc_storage = std::conditional_t<std::is_same_v<Layout, spsc_layout::spread>, interleaved_lines<T, Alloc>,
                                        packed_cells<T, Alloc>>;

}  // namespace detail
}  // namespace tickflow
