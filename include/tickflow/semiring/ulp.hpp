/// @file
/// tickflow/semiring/ulp.hpp — distance between floating-point values in units in the last place.
///
/// Contract
///   * ulp_distance(a, b): how many representable values lie between a and b, plus one (0 when
///     a == b, including +0 and -0). Equal infinities are at distance 0; any NaN, or an infinity
///     against anything else, is at the maximum distance.
///   * noexcept, no allocation; not constexpr (std::isnan is not, before C++23).
///
/// Thread-safety: pure functions.
#pragma once

#include <bit>
#include <cmath>
#include <concepts>
#include <cstdint>
#include <limits>
#include <type_traits>

namespace tickflow {

/// Units in the last place between two floating-point values (see the file contract).
template <std::floating_point T>
[[nodiscard]] std::uint64_t ulp_distance(T a, T b) noexcept {
  static_assert(sizeof(T) == 4 || sizeof(T) == 8, "float or double");
  using bits_t = std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>;
  constexpr std::uint64_t far = std::numeric_limits<std::uint64_t>::max();
  if (std::isnan(a) || std::isnan(b)) return far;
  if (a == b) return 0;
  if (std::isinf(a) || std::isinf(b)) return far;
  // Map the sign-magnitude encoding onto a monotone unsigned line centred on zero, where +0 and
  // -0 share one point: magnitude above the centre for positives, below it for negatives.
  auto key = [](T x) -> std::uint64_t {
    const bits_t u = std::bit_cast<bits_t>(x);
    constexpr bits_t sign = bits_t{1} << (sizeof(bits_t) * 8 - 1);
    const std::uint64_t centre = sign;
    const std::uint64_t magnitude = u & static_cast<bits_t>(~sign);
    return (u & sign) != 0 ? centre - magnitude : centre + magnitude;
  };
  const std::uint64_t ka = key(a), kb = key(b);
  return ka > kb ? ka - kb : kb - ka;
}

}  // namespace tickflow
