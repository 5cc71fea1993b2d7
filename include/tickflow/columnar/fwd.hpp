/// @file
/// tickflow/columnar/fwd.hpp — forward declarations of columnar/.
#pragma once

namespace tickflow {

struct delta_row;
class delta_batch;
class batch_applier;

}  // namespace tickflow
