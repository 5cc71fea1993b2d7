/// @file
/// tickflow/columnar/scan.hpp — counting and selecting rows of a column by value range.
///
/// Contract
///   * count_in_range(column, lo, hi): how many values v satisfy lo <= v <= hi (inclusive; an
///     empty range when lo > hi). select_in_range(column, lo, hi, out): writes the indices of those
///     rows, ascending, to `out` (which must have room for column.size() indices; fewer results in
///     undefined behavior, checked by TICKFLOW_ASSERT) and returns how many. Columns are uint32_t
///     (epochs, offsets) or uint64_t (page ids).
///   * Each has a scalar kernel (namespace scalar: the fallback and the test oracle) and a SIMD
///     kernel written with xsimd 8.1 for the architecture the translation unit is compiled for
///     (xsimd::default_arch: SSE2 with default flags on x86-64, AVX2/AVX-512 with -march=...).
///     A consumer that wants run-time dispatch instantiates the `Arch` template parameter for each
///     architecture in separate translation units compiled with the matching flags and picks one
///     at start-up; the kernels carry no global state.
///   * The range test is one unsigned comparison, (v - lo) <= (hi - lo), done as min/equal since
///     x86 before AVX-512 has no unsigned vector compare.
///   * noexcept, no allocation; results are identical to the scalar kernels (tests check it on
///     random columns of every length 0..300 and unaligned starts).
///
/// Thread-safety: pure functions over the spans given.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <span>
#include <type_traits>

#include <xsimd/xsimd.hpp>

#include "tickflow/core/config.hpp"

namespace tickflow {

template <class T>
concept scan_column_value = std::is_same_v<T, std::uint32_t> || std::is_same_v<T, std::uint64_t>;

namespace scalar {

/// Scalar kernel: rows with lo <= v <= hi.
template <scan_column_value T>
[[nodiscard]] std::size_t count_in_range(std::span<const T> column, T lo, T hi) noexcept {
  std::size_t n = 0;
  for (const T v : column)
    if (v >= lo && v <= hi) ++n;
  return n;
}

/// Scalar kernel: indices of rows with lo <= v <= hi, ascending.
template <scan_column_value T>
std::size_t select_in_range(std::span<const T> column, T lo, T hi, std::uint32_t* out) noexcept {
  std::size_t n = 0;
  for (std::size_t i = 0; i < column.size(); ++i)
    if (column[i] >= lo && column[i] <= hi) out[n++] = static_cast<std::uint32_t>(i);
  return n;
}

}  // namespace scalar

namespace detail {
template <class T, class Arch>
using scan_batch = xsimd::batch<T, Arch>;

// True lanes where lo <= v <= hi, given lo and width = hi - lo.
template <class T, class Arch>
inline auto in_range(scan_batch<T, Arch> v, scan_batch<T, Arch> lo, scan_batch<T, Arch> width) noexcept {
  const auto shifted = v - lo;
  return xsimd::min(shifted, width) == shifted;
}
}  // namespace detail

/// SIMD kernel: rows with lo <= v <= hi.
template <scan_column_value T, class Arch = xsimd::default_arch>
[[nodiscard]] std::size_t count_in_range(std::span<const T> column, T lo, T hi) noexcept {
  if (lo > hi) return 0;
  using B = detail::scan_batch<T, Arch>;
  constexpr std::size_t W = B::size;
  const B vlo(lo), vwidth(static_cast<T>(hi - lo)), one(T{1}), zero(T{0});
  const T* p = column.data();
  const std::size_t n = column.size();
  std::size_t i = 0;
  std::size_t total = 0;
  // Lane counters are summed into `total` every 2^16 blocks so that 32-bit lanes cannot overflow.
  while (n - i >= W) {
    B acc0(T{0}), acc1(T{0});
    const std::size_t stop = n - i >= (std::size_t{1} << 16) * W ? i + (std::size_t{1} << 16) * W : n - (n - i) % W;
    for (; i + 2 * W <= stop; i += 2 * W) {
      acc0 += xsimd::select(detail::in_range<T, Arch>(B::load_unaligned(p + i), vlo, vwidth), one, zero);
      acc1 += xsimd::select(detail::in_range<T, Arch>(B::load_unaligned(p + i + W), vlo, vwidth), one, zero);
    }
    for (; i < stop; i += W)
      acc0 += xsimd::select(detail::in_range<T, Arch>(B::load_unaligned(p + i), vlo, vwidth), one, zero);
    total += static_cast<std::size_t>(xsimd::hadd(acc0 + acc1));
  }
  return total + scalar::count_in_range<T>(column.subspan(i), lo, hi);
}

/// SIMD kernel: indices of rows with lo <= v <= hi, ascending; `out` has room for every row.
template <scan_column_value T, class Arch = xsimd::default_arch>
std::size_t select_in_range(std::span<const T> column, T lo, T hi, std::uint32_t* out) noexcept {
  if (lo > hi) return 0;
  using B = detail::scan_batch<T, Arch>;
  constexpr std::size_t W = B::size;
  static_assert(W <= 64, "lane bits must fit one word");
  alignas(64) T bits[W];
  for (std::size_t l = 0; l < W; ++l) bits[l] = static_cast<T>(T{1} << l);
  const B vlo(lo), vwidth(static_cast<T>(hi - lo)), lane_bits = B::load_aligned(bits), zero(T{0});
  const T* p = column.data();
  const std::size_t n = column.size();
  std::size_t i = 0, found = 0;
  for (; i + W <= n; i += W) {
    const auto hit = detail::in_range<T, Arch>(B::load_unaligned(p + i), vlo, vwidth);
    if (!xsimd::any(hit)) continue;  // the common case at low selectivity
    // Lane bits of the hits, summed: a bitmask of the matching lanes.
    auto mask = static_cast<std::uint64_t>(xsimd::hadd(xsimd::select(hit, lane_bits, zero)));
    for (; mask != 0; mask &= mask - 1) out[found++] = static_cast<std::uint32_t>(i + static_cast<std::size_t>(std::countr_zero(mask)));
  }
  for (; i < n; ++i)
    if (p[i] >= lo && p[i] <= hi) out[found++] = static_cast<std::uint32_t>(i);
  return found;
}

}  // namespace tickflow
