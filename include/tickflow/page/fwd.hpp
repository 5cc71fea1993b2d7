/// @file
/// tickflow/page/fwd.hpp — forward declarations of page/.
#pragma once

#include <cstdint>

namespace tickflow {

enum class delta_kind : std::uint8_t;
struct delta;
class page_store;

}  // namespace tickflow
