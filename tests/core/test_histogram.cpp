#include <tickflow/core/histogram.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <random>
#include <vector>

#include "support/catch.hpp"

using tickflow::log_linear_histogram;

namespace {
// The exact quantile the histogram approximates: the ceil(q * n)-th smallest (the first for q = 0).
std::uint64_t exact_at(std::vector<std::uint64_t> v, double q) {
  std::sort(v.begin(), v.end());
  auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(v.size())));
  rank = std::clamp<std::size_t>(rank, 1, v.size());
  return v[rank - 1];
}
}  // namespace

TEST_CASE("histogram buckets tile the 64-bit range, each at most 1/128 of its values wide", "[core][histogram]") {
  CHECK(log_linear_histogram::index_of(0) == 0);
  CHECK(log_linear_histogram::index_of(~std::uint64_t{0}) == log_linear_histogram::buckets - 1);
  for (std::size_t i = 0; i + 1 < log_linear_histogram::buckets; ++i) {
    const auto lo = log_linear_histogram::lowest_in(i), hi = log_linear_histogram::highest_in(i);
    REQUIRE(lo <= hi);
    REQUIRE(hi + 1 == log_linear_histogram::lowest_in(i + 1));  // no gap, no overlap
    REQUIRE(log_linear_histogram::index_of(lo) == i);
    REQUIRE(log_linear_histogram::index_of(hi) == i);
    REQUIRE(static_cast<double>(hi - lo) <= static_cast<double>(lo) / 128.0);
  }
  CHECK(log_linear_histogram::highest_in(log_linear_histogram::buckets - 1) == ~std::uint64_t{0});
}

TEST_CASE("histogram quantiles are never below the exact ones and within 1 percent above", "[core][histogram]") {
  std::mt19937_64 rng(11);
  for (int trial = 0; trial < 20; ++trial) {
    auto h = std::make_unique<log_linear_histogram>();
    std::vector<std::uint64_t> v;
    const std::size_t n = 1 + rng() % 5000;
    // Log-uniform values from 0 to ~2^40 ns, as tick phases spread over decades.
    for (std::size_t i = 0; i < n; ++i) {
      const unsigned bits = static_cast<unsigned>(rng() % 41);
      const std::uint64_t x = bits == 0 ? 0 : (rng() >> (64 - bits));
      v.push_back(x);
      h->record(x);
    }
    REQUIRE(h->count() == n);
    CHECK(h->min() == *std::min_element(v.begin(), v.end()));
    CHECK(h->max() == *std::max_element(v.begin(), v.end()));
    for (const double q : {0.0, 0.1, 0.5, 0.9, 0.99, 0.999, 1.0}) {
      const std::uint64_t exact = exact_at(v, q), got = h->value_at(q);
      INFO("q " << q << " exact " << exact << " got " << got);
      CHECK(got >= exact);
      CHECK(static_cast<double>(got - exact) <= static_cast<double>(exact) / 128.0);
    }
    CHECK(h->value_at(1.0) == h->max());
  }
}

TEST_CASE("histogram mean, merge and reset are exact", "[core][histogram]") {
  auto a = std::make_unique<log_linear_histogram>();
  auto b = std::make_unique<log_linear_histogram>();
  CHECK(a->p99() == 0);
  CHECK(a->mean() == 0.0);
  for (std::uint64_t x = 1; x <= 1000; ++x) a->record(x * 1000);
  b->record(7, 3);
  b->record(0, 0);  // recording nothing changes nothing
  CHECK(b->count() == 3);
  CHECK(a->mean() == Approx(500500.0));
  a->merge(*b);
  CHECK(a->count() == 1003);
  CHECK(a->min() == 7);
  CHECK(a->max() == 1'000'000);
  CHECK(a->p50() >= 499'000);
  a->reset();
  CHECK(a->count() == 0);
  CHECK(a->max() == 0);
  CHECK(a->value_at(0.5) == 0);
}
