/// @file
/// tickflow/core/ids.hpp — strong identifier types: page_id, delta_id, epoch.
///
/// Contract
///   * Each identifier wraps one unsigned integer and converts to and from it only explicitly,
///     so a page_id cannot be passed where a delta_id or an epoch is expected.
///   * page_id and delta_id are 64-bit and opaque: they compare for equality and order (the
///     order is the integer order, used for deterministic iteration), hash, and nothing else.
///   * epoch is the 32-bit tick counter. It orders, and can be advanced with next(); arithmetic
///     beyond that is deliberately absent. Epochs are not expected to wrap within one log
///     (2^32 ticks at 60 Hz is over two years); next() on the maximum value results in
///     undefined behavior and is checked by TICKFLOW_ASSERT.
///   * All operations are constexpr and noexcept; the types are trivially copyable, standard
///     layout and exactly as large as their representation (static_asserts below).
///
/// Thread-safety: values; no shared state.
#pragma once

#include <compare>
#include <cstdint>
#include <functional>
#include <limits>
#include <type_traits>

#include "tickflow/core/config.hpp"

namespace tickflow {

/// A strongly typed integer. `Tag` only distinguishes instantiations.
template <class Tag, class Rep>
class strong_id {
  static_assert(std::is_unsigned_v<Rep>, "identifier representation must be unsigned");

 public:
  /// The integer type that holds the id.
  using rep_type = Rep;

  constexpr strong_id() noexcept = default;
  /// The id numbered `v` (explicit: ids of different kinds never convert into each other).
  constexpr explicit strong_id(Rep v) noexcept : value_(v) {}

  /// The underlying integer.
  [[nodiscard]] constexpr Rep value() const noexcept { return value_; }

  /// Ids compare by number.
  friend constexpr bool operator==(strong_id, strong_id) noexcept = default;
  /// Ids order by number.
  friend constexpr auto operator<=>(strong_id, strong_id) noexcept = default;

 private:
  Rep value_ = 0;
};

struct page_id_tag {};
struct delta_id_tag {};

/// Identifies a page; never reused while the page is alive.
using page_id = strong_id<page_id_tag, std::uint64_t>;
/// Identifies a delta; unique within one log.
using delta_id = strong_id<delta_id_tag, std::uint64_t>;

/// The 32-bit tick counter. A page's epoch is the epoch of the last delta applied to it.
class epoch : public strong_id<epoch, std::uint32_t> {
 public:
  /// The epoch numbered `v`.
  using strong_id::strong_id;

  /// The epoch after this one. Precondition: *this is not max(); otherwise undefined behavior.
  [[nodiscard]] constexpr epoch next() const noexcept {
    TICKFLOW_ASSERT(value() != std::numeric_limits<std::uint32_t>::max(), "epoch overflow");
    return epoch{value() + 1U};
  }
  /// The largest epoch.
  [[nodiscard]] static constexpr epoch max() noexcept {
    return epoch{std::numeric_limits<std::uint32_t>::max()};
  }

  /// Epochs compare by number.
  friend constexpr bool operator==(epoch, epoch) noexcept = default;
  /// Epochs order by number.
  friend constexpr auto operator<=>(epoch, epoch) noexcept = default;
};

static_assert(sizeof(page_id) == 8 && std::is_trivially_copyable_v<page_id>);
static_assert(sizeof(delta_id) == 8 && std::is_trivially_copyable_v<delta_id>);
static_assert(sizeof(epoch) == 4 && std::is_trivially_copyable_v<epoch>);
static_assert(std::is_standard_layout_v<page_id> && std::is_standard_layout_v<epoch>);
static_assert(!std::is_convertible_v<page_id, delta_id> && !std::is_convertible_v<std::uint64_t, page_id>);

}  // namespace tickflow

/// @cond
// std::hash for ids and epochs (not part of the reference: Doxygen cannot place a std:: specialization).
template <class Tag, class Rep>
struct std::hash<tickflow::strong_id<Tag, Rep>> {
  std::size_t operator()(tickflow::strong_id<Tag, Rep> id) const noexcept {
    // Fibonacci mixing: ids are often dense small integers, which identity hashing would put
    // into neighbouring buckets of power-of-two tables.
    return static_cast<std::size_t>(static_cast<std::uint64_t>(id.value()) * 0x9E3779B97F4A7C15ULL);
  }
};

template <>
struct std::hash<tickflow::epoch> {
  std::size_t operator()(tickflow::epoch e) const noexcept {
    return static_cast<std::size_t>(static_cast<std::uint64_t>(e.value()) * 0x9E3779B97F4A7C15ULL);
  }
};
/// @endcond
