// How much work stress tests do: full size in optimized builds, less under sanitizers and in
// unoptimized builds, where every memory access costs 5-50x more.
#pragma once

#include <cstddef>

namespace tickflow::test {

#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#  define TICKFLOW_TEST_SANITIZED 1
#elif defined(__has_feature)
#  if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
#    define TICKFLOW_TEST_SANITIZED 1
#  endif
#endif

#if defined(TICKFLOW_TEST_SANITIZED)
inline constexpr std::size_t stress_divisor = 50;
#elif !defined(__OPTIMIZE__)
inline constexpr std::size_t stress_divisor = 10;
#else
inline constexpr std::size_t stress_divisor = 1;
#endif

/// `full` items in optimized builds; proportionally fewer elsewhere (at least 1000).
constexpr std::size_t scaled(std::size_t full) {
  const std::size_t n = full / stress_divisor;
  return n < 1000 ? 1000 : n;
}

}  // namespace tickflow::test
