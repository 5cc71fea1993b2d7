// The SIMD scans against the scalar oracle, for the architecture this file is compiled for.
// Included by one test file per instruction set, each its own executable (different -m flags
// in one binary would break the one-definition rule).
#pragma once

#include <tickflow/columnar/scan.hpp>

#include <cstdint>
#include <random>
#include <vector>

#include "support/catch.hpp"

/// Mismatches of both kernels on a small hand-checked column (0 when they are right).
inline int small_case_errors() {
  const std::vector<std::uint32_t> small{1, 5, 9, 5, 2, 7, 5, 0, 3, 4, 6, 8, 5, 5, 1, 2, 9, 9};
  std::vector<std::uint32_t> idx(small.size());
  int errors = tickflow::count_in_range<std::uint32_t>(small, 4, 6) == 7 ? 0 : 1;
  const std::size_t n = tickflow::select_in_range<std::uint32_t>(small, 9, 9, idx.data());
  errors += (n == 3 && idx[0] == 2 && idx[1] == 16 && idx[2] == 17) ? 0 : 1;
  return errors;
}

template <class T>
void check_scans_against_oracle() {
  std::mt19937_64 rng(sizeof(T) * 7919);
  std::vector<T> storage(400);
  std::vector<std::uint32_t> simd_out(400), scalar_out(400);
  for (std::size_t len = 0; len <= 300; ++len) {
    for (int round = 0; round < 4; ++round) {
      const std::size_t start = rng() % 8;  // unaligned starts
      const T spread = round == 0 ? T{4} : round == 1 ? T{100} : static_cast<T>(rng());
      for (auto& v : storage) v = static_cast<T>(rng() % (static_cast<std::uint64_t>(spread) + 1));
      if (round == 3) for (auto& v : storage) v = static_cast<T>(rng());  // full value range
      T lo = static_cast<T>(rng() % (static_cast<std::uint64_t>(spread) + 1));
      T hi = static_cast<T>(rng() % (static_cast<std::uint64_t>(spread) + 1));
      if (rng() % 5 != 0 && lo > hi) std::swap(lo, hi);  // sometimes an empty range
      const std::span<const T> col(storage.data() + start, len);
      INFO("len " << len << " start " << start << " lo " << lo << " hi " << hi);
      REQUIRE(tickflow::count_in_range<T>(col, lo, hi) == tickflow::scalar::count_in_range<T>(col, lo, hi));
      const std::size_t a = tickflow::select_in_range<T>(col, lo, hi, simd_out.data());
      const std::size_t b = tickflow::scalar::select_in_range<T>(col, lo, hi, scalar_out.data());
      REQUIRE(a == b);
      REQUIRE(std::equal(simd_out.begin(), simd_out.begin() + static_cast<std::ptrdiff_t>(a), scalar_out.begin()));
    }
  }
  // Extremes: the whole value range, and a column of all-max values.
  std::vector<T> maxes(77, static_cast<T>(~T{0}));
  CHECK(tickflow::count_in_range<T>(maxes, T{0}, static_cast<T>(~T{0})) == maxes.size());
  CHECK(tickflow::count_in_range<T>(maxes, static_cast<T>(~T{0}), static_cast<T>(~T{0})) == maxes.size());
  CHECK(tickflow::count_in_range<T>(maxes, T{0}, static_cast<T>(~T{0} - 1)) == 0);
}
