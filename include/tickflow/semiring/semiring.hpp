/// @file
/// tickflow/semiring/semiring.hpp — the semiring concept and the description of which laws a
/// semiring keeps exactly.
///
/// Contract
///   * A type S models `semiring` when it names a value_type and provides static zero(), one(),
///     add(a, b) and mul(a, b) over it. The algebraic laws are not checkable by the compiler;
///     each semiring states them through `S::laws` (a semiring_laws value):
///       - exact: the laws that hold bit for bit for every operand in the domain;
///       - ulp_bound: for every other law, the largest distance in units in the last place
///         between its two sides, for operands in the stated domain (0 when all laws are exact).
///     The laws are: add associative, add commutative, zero the identity of add, mul associative,
///     one the identity of mul, mul distributes over add (both sides), zero annihilates under mul.
///   * Everything is constexpr where the value type allows and noexcept; nothing allocates.
///
/// Thread-safety: stateless.
#pragma once

#include <concepts>
#include <cstdint>

namespace tickflow {

/// One bit per semiring law.
enum class law : std::uint8_t {
  add_associative = 1U << 0,
  add_commutative = 1U << 1,
  add_identity = 1U << 2,
  mul_associative = 1U << 3,
  mul_identity = 1U << 4,
  distributive = 1U << 5,
  annihilation = 1U << 6,
};

/// A set of laws.
struct law_set {
  std::uint8_t bits = 0;  ///< one bit per law (the values of law)
  /// Whether `l` is in the set.
  [[nodiscard]] constexpr bool has(law l) const noexcept { return (bits & static_cast<std::uint8_t>(l)) != 0; }
  /// The set with `l` added.
  friend constexpr law_set operator|(law_set s, law l) noexcept {
    return law_set{static_cast<std::uint8_t>(s.bits | static_cast<std::uint8_t>(l))};
  }
  /// Sets compare by their bits.
  friend constexpr bool operator==(law_set, law_set) noexcept = default;
};

/// Every law.
inline constexpr law_set all_laws{0x7F};

/// What a semiring promises about its laws.
struct semiring_laws {
  law_set exact;                 ///< laws that hold bit for bit on the domain
  std::uint32_t ulp_bound = 0;   ///< bound for the others, in ULPs, on the domain
};

/// The concept every propagation and validation template is written against.
template <class S>
concept semiring = requires(const typename S::value_type& a, const typename S::value_type& b) {
  typename S::value_type;
  { S::zero() } -> std::same_as<typename S::value_type>;
  { S::one() } -> std::same_as<typename S::value_type>;
  { S::add(a, b) } -> std::same_as<typename S::value_type>;
  { S::mul(a, b) } -> std::same_as<typename S::value_type>;
  { S::laws } -> std::convertible_to<semiring_laws>;
};

}  // namespace tickflow
