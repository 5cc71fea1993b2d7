/// @file
/// tickflow/semiring/fwd.hpp — forward declarations of semiring/, with their defaults.
#pragma once

#include <concepts>
#include <type_traits>

namespace tickflow {

struct semiring_laws;
struct boolean_semiring;
struct counting_semiring;
template <class T = double>
  requires std::is_arithmetic_v<T>
struct bottleneck_semiring;
template <std::floating_point T = double>
struct min_plus_semiring;
template <std::floating_point T = double>
struct max_plus_semiring;
template <std::floating_point T = double>
struct real_semiring;

}  // namespace tickflow
