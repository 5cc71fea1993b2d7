/// @file
/// tickflow/core/histogram.hpp — a log-linear histogram of durations: fixed memory, bounded error.
///
/// Contract
///   * log_linear_histogram counts unsigned 64-bit values (the tick orchestrator records
///     nanoseconds). Values below 128 have a bucket each; above, every power-of-two range
///     [2^e, 2^(e+1)) is cut into 128 equal buckets, so a bucket's width is at most 1/128 of
///     any value in it. The whole 64-bit range is covered: 57 * 128 + 128 = 7424 counters, held
///     inline (about 58 KiB); record() never allocates and never saturates a range.
///   * value_at(q) for q in [0, 1] is the highest value of the bucket that holds the
///     ceil(q * count)-th smallest recorded value (the first for q = 0), capped at max(): it is
///     never below the true quantile and exceeds it by at most 1/128 of it (0.79 %, inside the 1 %
///     the tick records promise). Tests check it against sorted samples. With no values every
///     query returns 0.
///   * min(), max() and count() are exact; mean() is the exact sum over count (the sum saturates
///     at 2^64 - 1 ns, about 584 years of recorded time).
///   * merge(other) adds other's counts (histograms of several runs); reset() empties it.
///
/// Thread-safety: a value; one writer at a time, concurrent const readers when no one writes.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>

namespace tickflow {

/// A latency histogram of unsigned 64-bit values (nanoseconds, typically) in fixed memory: quantiles within 1 % (see the file contract).
class log_linear_histogram {
 public:
  static constexpr unsigned sub_bits = 7;                    ///< 128 buckets per power of two
  static constexpr std::uint64_t sub_count = std::uint64_t{1} << sub_bits;  ///< Buckets per power of two.
  static constexpr std::size_t buckets = sub_count + (64 - sub_bits) * sub_count;  ///< Buckets in all: values below 2^sub_bits exactly, then sub_count per power of two.

  /// The bucket of v.
  static constexpr std::size_t index_of(std::uint64_t v) noexcept {
    if (v < sub_count) return static_cast<std::size_t>(v);
    const unsigned e = static_cast<unsigned>(std::bit_width(v)) - 1;  // >= sub_bits
    const std::uint64_t sub = (v >> (e - sub_bits)) - sub_count;     // 0 .. sub_count - 1
    return static_cast<std::size_t>(sub_count + (e - sub_bits) * sub_count + sub);
  }
  /// The lowest and the highest value of bucket i.
  static constexpr std::uint64_t lowest_in(std::size_t i) noexcept {
    if (i < sub_count) return i;
    const std::size_t e = (i - sub_count) / sub_count + sub_bits;
    const std::uint64_t sub = (i - sub_count) % sub_count;
    return (sub_count + sub) << (e - sub_bits);
  }
  /// The largest value bucket `i` holds (its top, which quantiles report).
  static constexpr std::uint64_t highest_in(std::size_t i) noexcept {
    if (i < sub_count) return i;
    const std::size_t e = (i - sub_count) / sub_count + sub_bits;
    return lowest_in(i) + ((std::uint64_t{1} << (e - sub_bits)) - 1);
  }

  /// Records one value.
  void record(std::uint64_t v) noexcept { record(v, 1); }
  /// Records `times` occurrences of one value.
  void record(std::uint64_t v, std::uint64_t times) noexcept {
    if (times == 0) return;
    counts_[index_of(v)] += times;
    count_ += times;
    min_ = std::min(min_, v);
    max_ = std::max(max_, v);
    const std::uint64_t add = v > std::numeric_limits<std::uint64_t>::max() / times ? std::numeric_limits<std::uint64_t>::max() : v * times;
    sum_ = sum_ > std::numeric_limits<std::uint64_t>::max() - add ? std::numeric_limits<std::uint64_t>::max() : sum_ + add;
  }

  /// Values recorded.
  [[nodiscard]] std::uint64_t count() const noexcept { return count_; }
  /// The smallest value recorded (0 when empty).
  [[nodiscard]] std::uint64_t min() const noexcept { return count_ == 0 ? 0 : min_; }
  /// The largest value recorded (0 when empty).
  [[nodiscard]] std::uint64_t max() const noexcept { return max_; }
  /// The sum of the recorded values (saturating, see the contract).
  [[nodiscard]] std::uint64_t sum() const noexcept { return sum_; }
  /// The exact mean (0 when empty).
  [[nodiscard]] double mean() const noexcept { return count_ == 0 ? 0.0 : static_cast<double>(sum_) / static_cast<double>(count_); }

  /// See the contract: the bucket top of the ceil(q * count)-th smallest value, capped at max().
  [[nodiscard]] std::uint64_t value_at(double q) const noexcept {
    if (count_ == 0) return 0;
    q = std::clamp(q, 0.0, 1.0);
    auto rank = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(count_)));
    rank = std::clamp<std::uint64_t>(rank, 1, count_);
    std::uint64_t seen = 0;
    for (std::size_t i = index_of(min_); i < buckets; ++i) {
      seen += counts_[i];
      if (seen >= rank) return std::min(highest_in(i), max_);
    }
    return max_;  // not reached: the counts sum to count_
  }
  /// The median (value_at(0.5)).
  [[nodiscard]] std::uint64_t p50() const noexcept { return value_at(0.50); }
  /// The 99th percentile.
  [[nodiscard]] std::uint64_t p99() const noexcept { return value_at(0.99); }
  /// The 99.9th percentile.
  [[nodiscard]] std::uint64_t p999() const noexcept { return value_at(0.999); }

  /// Count of bucket i (for exporters).
  [[nodiscard]] std::uint64_t count_in(std::size_t i) const noexcept { return i < buckets ? counts_[i] : 0; }

  /// Adds another histogram's counts into this one.
  void merge(const log_linear_histogram& o) noexcept {
    if (o.count_ == 0) return;
    for (std::size_t i = 0; i < buckets; ++i) counts_[i] += o.counts_[i];
    count_ += o.count_;
    min_ = std::min(min_, o.min_);
    max_ = std::max(max_, o.max_);
    sum_ = sum_ > std::numeric_limits<std::uint64_t>::max() - o.sum_ ? std::numeric_limits<std::uint64_t>::max() : sum_ + o.sum_;
  }
  /// Forgets every value.
  void reset() noexcept {
    counts_.fill(0);
    count_ = 0;
    min_ = std::numeric_limits<std::uint64_t>::max();
    max_ = 0;
    sum_ = 0;
  }

 private:
  std::array<std::uint64_t, buckets> counts_{};
  std::uint64_t count_ = 0;
  std::uint64_t min_ = std::numeric_limits<std::uint64_t>::max();
  std::uint64_t max_ = 0;
  std::uint64_t sum_ = 0;
};

}  // namespace tickflow
