/// @file
/// tickflow/queue/fwd.hpp — forward declarations of queue/, with their defaults (stated once).
#pragma once

#include <memory>

#include "tickflow/queue/concepts.hpp"

namespace tickflow {

namespace spsc_layout {
struct packed;
struct spread;
}  // namespace spsc_layout

template <ring_element T, class Alloc = std::allocator<T>, class Layout = spsc_layout::packed>
class basic_spsc_ring;
template <ring_element T, class Alloc = std::allocator<T>>
class basic_mpmc_ring;

/// The SPSC ring with the default allocator; `Layout` is spsc_layout::packed (zero-copy spans,
/// batches) or spsc_layout::spread (single-item streaming).
template <ring_element T, class Layout = spsc_layout::packed>
using spsc_ring = basic_spsc_ring<T, std::allocator<T>, Layout>;
/// The MPMC ring with the default allocator.
template <ring_element T>
using mpmc_ring = basic_mpmc_ring<T>;

}  // namespace tickflow
