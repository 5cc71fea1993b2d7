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
//   * The buffers themselves are in slot_storage.hpp.
//
// Thread-safety: storages are internals of basic_spsc_ring, which states the roles.
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
using spsc_storage = std::conditional_t<std::is_same_v<Layout, spsc_layout::spread>, spread_slots<T, Alloc>,
                                        packed_cells<T, Alloc>>;

}  // namespace detail
}  // namespace tickflow
