/// @file
/// tickflow/semiring/builtin.hpp — the built-in semirings.
///
/// Contract (domain and laws of each; `laws` states the same in code)
///   * boolean_semiring: bool, add = or, mul = and, zero = false, one = true. Every law exact.
///   * counting_semiring: uint64_t, add = +, mul = x, modulo 2^64 (the ring Z/2^64, so every
///     law holds exactly, overflow included).
///   * bottleneck_semiring<T> (max-min): add = max, mul = min, zero = -inf (lowest for
///     integers), one = +inf (max). Every law exact (min and max never round).
///   * min_plus_semiring<T> (tropical): add = min, mul = +, zero = +inf, one = 0. Domain:
///     non-negative values up to max/2, and +inf. Exact: both add laws and identities, distributivity
///     (rounding is monotone, so min(a+b, a+c) == a + min(b,c)) and annihilation. mul
///     associativity holds within 4 ULPs on the domain (each side is two correctly rounded
///     additions of non-negative terms: relative error at most 2u each, u = 2^-53 for double).
///   * max_plus_semiring<T>: add = max, mul = +, zero = -inf, one = 0. Domain: non-negative
///     values up to max/2, and -inf. Same laws as min-plus, mirrored.
///   * real_semiring<T>: add = +, mul = x, zero = 0, one = 1. Domain: zero and the positive values
///     from 2^(min_exponent/2) to below 2^(max_exponent/2), so that no product of two underflows
///     or overflows; a result outside leaves the domain. Exact: commutativity,
///     identities, annihilation. add and mul associativity and distributivity within 4 ULPs (each
///     side is two correctly rounded operations on non-negative terms: no cancellation, relative
///     error at most 2u per side).
///   T is a floating-point type for the tropical and real semirings.
///   * Each states its domain in code too: in_domain(v) is true for the values the laws above are
///     promised on (the purity validator, validate/purity.hpp, checks a law instance only when its
///     operands and every intermediate result are in the domain). A semiring without in_domain
///     promises its laws on every value of its type.
///
/// Thread-safety: stateless.
#pragma once

#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "tickflow/semiring/fwd.hpp"
#include "tickflow/semiring/semiring.hpp"

namespace tickflow {

/// Reachability: or as add, and as mul.
struct boolean_semiring {
  /// The values.
  using value_type = bool;
  /// The laws it satisfies (all of them, exactly).
  static constexpr semiring_laws laws{all_laws, 0};
  /// The identity of add: false.
  static constexpr bool zero() noexcept { return false; }
  /// The identity of mul: true.
  static constexpr bool one() noexcept { return true; }
  /// a or b.
  static constexpr bool add(bool a, bool b) noexcept { return a || b; }
  /// a and b.
  static constexpr bool mul(bool a, bool b) noexcept { return a && b; }
  /// Every value is in the domain.
  static constexpr bool in_domain(bool) noexcept { return true; }
};

/// Path counting over unsigned 64-bit integers, wrapping modulo 2^64.
struct counting_semiring {
  /// The values.
  using value_type = std::uint64_t;
  /// The laws it satisfies (all of them, exactly, modulo 2^64).
  static constexpr semiring_laws laws{all_laws, 0};
  /// 0.
  static constexpr std::uint64_t zero() noexcept { return 0; }
  /// 1.
  static constexpr std::uint64_t one() noexcept { return 1; }
  /// a + b (mod 2^64).
  static constexpr std::uint64_t add(std::uint64_t a, std::uint64_t b) noexcept { return a + b; }
  /// a * b (mod 2^64).
  static constexpr std::uint64_t mul(std::uint64_t a, std::uint64_t b) noexcept { return a * b; }
  /// Every value is in the domain.
  static constexpr bool in_domain(std::uint64_t) noexcept { return true; }
};

/// Widest path (max-min): add = max, mul = min; zero = the lowest value, one = the highest.
template <class T>
  requires std::is_arithmetic_v<T>
struct bottleneck_semiring {
  /// The values.
  using value_type = T;
  /// The laws it satisfies (all of them, exactly).
  static constexpr semiring_laws laws{all_laws, 0};
  /// The identity of add: the lowest value (-inf for floating point).
  static constexpr T zero() noexcept {
    if constexpr (std::numeric_limits<T>::has_infinity) return -std::numeric_limits<T>::infinity();
    else return std::numeric_limits<T>::lowest();
  }
  /// The identity of mul: the highest value (+inf for floating point).
  static constexpr T one() noexcept {
    if constexpr (std::numeric_limits<T>::has_infinity) return std::numeric_limits<T>::infinity();
    else return std::numeric_limits<T>::max();
  }
  /// max(a, b).
  static constexpr T add(T a, T b) noexcept { return std::max(a, b); }
  /// min(a, b).
  static constexpr T mul(T a, T b) noexcept { return std::min(a, b); }
  /// Every value but NaN (min and max order NaN arbitrarily).
  static bool in_domain(T v) noexcept {
    if constexpr (std::is_floating_point_v<T>) return !std::isnan(v);
    else return true;
  }
};

/// The tropical semiring of shortest paths: add = min, mul = +, zero = +inf, one = 0.
template <std::floating_point T>
struct min_plus_semiring {
  /// The values.
  using value_type = T;
  /// The laws it satisfies, exactly or within the ULPs the file contract states.
  static constexpr semiring_laws laws{law_set{} | law::add_associative | law::add_commutative | law::add_identity |
                                          law::mul_identity | law::distributive | law::annihilation,
                                      4};
  /// +inf.
  static constexpr T zero() noexcept { return std::numeric_limits<T>::infinity(); }
  /// 0.
  static constexpr T one() noexcept { return T(0); }
  /// min(a, b).
  static constexpr T add(T a, T b) noexcept { return std::min(a, b); }
  /// a + b.
  static constexpr T mul(T a, T b) noexcept { return a + b; }
  /// Non-negative values up to max/2 (zeros and subnormals included), and +inf: a sum of two
  /// finite values then never overflows (one side of associativity could reach +inf alone).
  static constexpr bool in_domain(T v) noexcept {
    return (v >= T(0) && v <= std::numeric_limits<T>::max() / 2) || v == std::numeric_limits<T>::infinity();
  }
};

/// The tropical semiring of longest paths: add = max, mul = +, zero = -inf, one = 0.
template <std::floating_point T>
struct max_plus_semiring {
  /// The values.
  using value_type = T;
  /// The laws it satisfies: those of min_plus_semiring, mirrored.
  static constexpr semiring_laws laws{min_plus_semiring<T>::laws};
  /// -inf.
  static constexpr T zero() noexcept { return -std::numeric_limits<T>::infinity(); }
  /// 0.
  static constexpr T one() noexcept { return T(0); }
  /// max(a, b).
  static constexpr T add(T a, T b) noexcept { return std::max(a, b); }
  /// a + b.
  static constexpr T mul(T a, T b) noexcept { return a + b; }
  /// Non-negative values up to max/2 (zeros and subnormals included), and -inf.
  static constexpr bool in_domain(T v) noexcept {
    return (v >= T(0) && v <= std::numeric_limits<T>::max() / 2) || v == -std::numeric_limits<T>::infinity();
  }
};

/// Real numbers: add = +, mul = x, zero = 0, one = 1 (the domain of the file contract).
template <std::floating_point T>
struct real_semiring {
  /// The values.
  using value_type = T;
  /// The laws it satisfies, exactly or within the ULPs the file contract states.
  static constexpr semiring_laws laws{law_set{} | law::add_commutative | law::add_identity | law::mul_identity |
                                          law::annihilation,
                                      4};
  /// 0.
  static constexpr T zero() noexcept { return T(0); }
  /// 1.
  static constexpr T one() noexcept { return T(1); }
  /// a + b.
  static constexpr T add(T a, T b) noexcept { return a + b; }
  /// a * b.
  static constexpr T mul(T a, T b) noexcept { return a * b; }
  /// Zero and the positive values from 2^(min_exponent/2) to below 2^(max_exponent/2) (for
  /// double: 2^-510 to 2^512): a product of two is then a normal number, never an underflow
  /// to zero that no value could show. A result outside leaves the domain.
  static bool in_domain(T v) noexcept {
    using L = std::numeric_limits<T>;
    return v == T(0) || (v >= std::ldexp(T(1), L::min_exponent / 2) && v < std::ldexp(T(1), L::max_exponent / 2));
  }
};

static_assert(semiring<boolean_semiring> && semiring<counting_semiring> && semiring<bottleneck_semiring<>> &&
              semiring<min_plus_semiring<>> && semiring<max_plus_semiring<>> && semiring<real_semiring<>>);

}  // namespace tickflow
