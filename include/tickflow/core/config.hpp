/// @file
/// tickflow/core/config.hpp — build configuration shared by every tickflow header.
///
/// Contract
///   * Defines the library version, the cache-line constant used for padding, and the only
///     assertion macro of the library, TICKFLOW_ASSERT(cond, msg).
///   * TICKFLOW_ASSERT checks `cond` when assertions are enabled and otherwise compiles to
///     nothing (the condition is not evaluated). Assertions are enabled when NDEBUG is not
///     defined, or when the user defines TICKFLOW_ENABLE_ASSERTS=1 before including any tickflow
///     header; TICKFLOW_ENABLE_ASSERTS=0 disables them regardless of NDEBUG.
///   * A failed assertion writes one line to stderr (file, line, condition, message) and calls
///     std::abort(). It never throws and never allocates.
///   * Every other TICKFLOW_* macro of the library lives in this file.
///
/// Thread-safety: nothing here has state.
#pragma once

#include <cstddef>
#include <cstdio>
#include <cstdlib>

/// The library's major version.
#define TICKFLOW_VERSION_MAJOR 0
/// The library's minor version.
#define TICKFLOW_VERSION_MINOR 1
/// The library's patch version.
#define TICKFLOW_VERSION_PATCH 0

#ifndef TICKFLOW_ENABLE_ASSERTS
#  ifdef NDEBUG
#    define TICKFLOW_ENABLE_ASSERTS 0
#  else
/// 1 when TICKFLOW_ASSERT checks its condition: by default in builds without NDEBUG; define it to 0 or 1 to choose.
#    define TICKFLOW_ENABLE_ASSERTS 1
#  endif
#endif

#if defined(__GNUC__) || defined(__clang__)
#  define TICKFLOW_LIKELY(x) __builtin_expect(!!(x), 1)
#  define TICKFLOW_UNLIKELY(x) __builtin_expect(!!(x), 0)
#  define TICKFLOW_NOINLINE __attribute__((noinline))
#  define TICKFLOW_ALWAYS_INLINE inline __attribute__((always_inline))
// A prefetch the optimizer keeps. GCC (12, -O2) deletes a loop whose only effect is
// __builtin_prefetch: it counts the builtin as free of side effects, and C++ loops without
// side effects as removable (-ffinite-loops). The empty volatile asm uses the address, which
// keeps the loop and costs no instruction.
#  define TICKFLOW_PREFETCH(addr, rw, locality)                 \
    do {                                                        \
      const void* tickflow_prefetch_addr_ = (addr);             \
      __builtin_prefetch(tickflow_prefetch_addr_, rw, locality); \
      __asm__ volatile("" : : "r"(tickflow_prefetch_addr_));    \
    } while (0)
#else
/// A branch hint: the condition is usually true (no hint on compilers without __builtin_expect).
#  define TICKFLOW_LIKELY(x) (x)
/// A branch hint: the condition is usually false.
#  define TICKFLOW_UNLIKELY(x) (x)
/// Keeps a cold function out of its callers.
#  define TICKFLOW_NOINLINE
/// Inlines a function into every caller.
#  define TICKFLOW_ALWAYS_INLINE inline
/// Prefetches `addr` (rw: 0 read, 1 write; locality 0-3) in a way the optimizer keeps; nothing on other compilers.
#  define TICKFLOW_PREFETCH(addr, rw, locality) ((void)(addr))
#endif

namespace tickflow {

/// Size of the unit of coherence that padding is computed against. 64 bytes on every x86-64
/// and most AArch64 parts. std::hardware_destructive_interference_size is not used because
/// GCC warns that its value may differ between translation units compiled with other flags,
/// which would make layouts ODR-unsafe in a header-only library.
inline constexpr std::size_t cache_line_size = 64;

namespace detail {

[[noreturn]] TICKFLOW_NOINLINE inline void assert_fail(const char* cond, const char* msg,
                                                       const char* file, int line) noexcept {
  std::fprintf(stderr, "%s:%d: tickflow assertion `%s` failed: %s\n", file, line, cond, msg);
  std::fflush(stderr);
  std::abort();
}

}  // namespace detail
}  // namespace tickflow

#if TICKFLOW_ENABLE_ASSERTS
/// Checks `cond` when TICKFLOW_ENABLE_ASSERTS is 1: on failure prints the condition, `msg`, file and line to stderr and aborts.
#  define TICKFLOW_ASSERT(cond, msg)                                                  \
    (TICKFLOW_LIKELY(static_cast<bool>(cond))                                         \
         ? static_cast<void>(0)                                                       \
         : ::tickflow::detail::assert_fail(#cond, msg, __FILE__, __LINE__))
#else
#  define TICKFLOW_ASSERT(cond, msg) static_cast<void>(0)
#endif
