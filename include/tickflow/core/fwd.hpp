/// @file
/// tickflow/core/fwd.hpp — forward declarations of core/.
#pragma once

#include <cstdint>

namespace tickflow {

template <class Tag, class Rep>
class strong_id;
class epoch;
enum class errc : std::uint16_t;
struct error;
template <class T>
class result;
template <class T>
struct cache_padded;
class backoff;
class parking_spot;
struct spin_wait;
struct yield_wait;
struct park_wait;

}  // namespace tickflow
