/// @file
/// tickflow/core/cache_padded.hpp — a value alone on its cache line(s).
///
/// Contract
///   * cache_padded<T> aligns T to cache_line_size and pads it to a whole number of lines, so
///     that two cache_padded objects never share a line (no false sharing between them).
///   * Access is through value, *, -> ; construction forwards to T.
///   * Dynamic allocation of a cache_padded<T> (or of a container of them) honours the alignment
///     through C++17 aligned new.
///
/// Thread-safety: that of T.
#pragma once

#include <type_traits>
#include <utility>

#include "tickflow/core/config.hpp"

namespace tickflow {

/// A T alone on its cache line(s): aligned to and padded out to cache_line_size, so that two of them never share a line.
template <class T>
struct alignas(cache_line_size) cache_padded {
  T value;  ///< the value

  /// Constructs the value from `args`.
  template <class... Args>
  constexpr explicit cache_padded(Args&&... args) noexcept(std::is_nothrow_constructible_v<T, Args&&...>)
      : value(std::forward<Args>(args)...) {}

  /// The value.
  constexpr T& operator*() noexcept { return value; }
  /// The value.
  constexpr const T& operator*() const noexcept { return value; }
  /// The value.
  constexpr T* operator->() noexcept { return &value; }
  /// The value.
  constexpr const T* operator->() const noexcept { return &value; }
};

static_assert(sizeof(cache_padded<char>) == cache_line_size);
static_assert(alignof(cache_padded<char>) == cache_line_size);

}  // namespace tickflow
