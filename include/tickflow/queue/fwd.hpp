// tickflow/queue/fwd.hpp — forward declarations of queue/, with their defaults (stated once).
#pragma once

#include <memory>

#include "tickflow/queue/concepts.hpp"

namespace tickflow {

template <ring_element T, class Alloc = std::allocator<T>>
class basic_spsc_ring;
template <ring_element T, class Alloc = std::allocator<T>>
class basic_mpmc_ring;

/// The SPSC ring with the default allocator.
template <ring_element T>
using spsc_ring = basic_spsc_ring<T>;
/// The MPMC ring with the default allocator.
template <ring_element T>
using mpmc_ring = basic_mpmc_ring<T>;

}  // namespace tickflow
