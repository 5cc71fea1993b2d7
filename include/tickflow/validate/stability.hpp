/// @file
/// tickflow/validate/stability.hpp — suite 09: perturbation runs, divergence, amplification,
/// smoothness, and the scan for NaN and infinity.
///
/// Contract
///   * gaussian_noise(seed): a reproducible standard normal generator of tickflow's own, the same
///     sequence for a seed with every standard library (std::normal_distribution's algorithm is
///     left to the library, so it cannot be used). Uniform bits: xoshiro256** (Blackman and
///     Vigna), seeded by four outputs of splitmix64 on the seed. Normals: Marsaglia's polar
///     method on u, v = 53-bit uniforms mapped to (-1, 1): accept s = u^2 + v^2 in (0, 1), give
///     u*f and then v*f with f = sqrt(-2 ln(s) / s). ln is this file's own (frexp, then
///     2 atanh((m - 1) / (m + 1)) as an odd series to s^23, plus e*ln 2 in two parts). It uses
///     +, -, *, /, sqrt and std::fma only, which IEEE 754 rounds correctly, so the same
///     everywhere; every multiply-add is an explicit fma, so contraction (-ffp-contract, FMA
///     targets) changes nothing. The sequence is bit for bit the same with every compiler,
///     library and flag set (tests pin the first values).
///   * run_perturbation<E>(make, drive, options): two engines from make() (std::unique_ptr<E>),
///     the baseline and the perturbed, driven alike for options.ticks steps: drive(e, t, submit)
///     submits tick t's deltas through submit(delta) (and may read e: feedback). Noise of
///     options.sigma goes either into the source pages once, before tick 1 (every element of
///     every page without parents, rewritten through a dense delta in both engines: unchanged in
///     the baseline, plus noise in the perturbed one), or into every delta's payload (each whole
///     element of T a dense delta writes; the other bytes as they are). After each step the report
///     gets, over every page's elements: the divergence between the two runs (L2, L-infinity,
///     and relative: L2 over the baseline's L2 norm), the input perturbation so far (the L2 norm
///     of all the noise added), the amplification (divergence L2 over input L2: 0 when both are
///     0, infinite when only the divergence is not), the baseline's smoothness (the L2 norm over
///     derived elements of the second difference x[t] - 2x[t-1] + x[t-2]), and the count of
///     non-finite elements in each run. Non-finite elements never enter the sums: they are
///     counted, and the report is then flagged. At the end: the greatest amplification and its
///     tick, the derived element with the roughest trajectory (the largest L2 norm of its second
///     differences over the ticks), and `unstable` when the greatest amplification passes
///     options.amplification_limit or a non-finite value appeared in either run.
///   * first_nonfinite<T, Arch>(values): the index of the first NaN or infinity in a span (xsimd
///     over Arch, default xsimd::default_arch; scalar::first_nonfinite is the oracle), or the
///     span's size. find_nonfinite(e): the first page (in id order) holding a non-finite element
///     of E::value_type, with the element and the page's epoch. For an engine that shows its
///     page_store (e.store()), it scans the store's slabs in memory order, whole chunks at a
///     time, and looks up the slot only where a lane is bad; otherwise page by page. Where the
///     value came from: provenance_tracker::trace_nonfinite (validate/provenance.hpp).
///   * Allocation: run_perturbation keeps the previous two baselines' values and a copy of each
///     run's values per tick; the scans allocate nothing.
///
/// Thread-safety: one thread at a time; the engines are the caller's.
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <type_traits>
#include <vector>

#include <xsimd/xsimd.hpp>

#include "tickflow/core/ids.hpp"
#include "tickflow/page/delta.hpp"
#include "tickflow/page/page_store.hpp"
#include "tickflow/validate/inspect.hpp"

namespace tickflow {

// ---------------------------------------------------------------------------- noise

namespace detail {

// ln(x) for positive finite x (see the file contract). Every multiply-add is an explicit
// std::fma (correctly rounded, so the same everywhere) and every other operation stands alone, so
// a compiler that contracts a * b + c into an FMA has nothing left to contract.
inline double portable_ln(double x) noexcept {
  int e = 0;
  double m = std::frexp(x, &e);  // x = m * 2^e, m in [0.5, 1)
  if (m < 0.70710678118654752440) {
    m *= 2;
    --e;
  }
  const double s = (m - 1) / (m + 1);  // |s| <= 0.1716
  const double s2 = s * s;
  double sum = 1.0 / 23;
  for (int k = 21; k >= 1; k -= 2) sum = std::fma(s2, sum, 1.0 / k);
  constexpr double ln2_hi = 6.93147180369123816490e-01;  // ln 2 in two parts (fdlibm's split)
  constexpr double ln2_lo = 1.90821492927058770002e-10;
  const double de = static_cast<double>(e);
  return std::fma(de, ln2_hi, std::fma(2 * s, sum, de * ln2_lo));
}

}  // namespace detail

/// A reproducible standard normal generator (see the file contract).
class gaussian_noise {
 public:
  /// The generator for `seed` (xoshiro256** seeded through splitmix64).
  explicit gaussian_noise(std::uint64_t seed) noexcept {
    std::uint64_t z = seed;
    for (auto& w : s_) {
      z += 0x9E3779B97F4A7C15ULL;
      std::uint64_t x = z;
      x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
      x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
      w = x ^ (x >> 31);
    }
  }
  /// xoshiro256**: the next 64 uniform bits.
  std::uint64_t bits() noexcept {
    const std::uint64_t result = std::rotl(s_[1] * 5, 7) * 9;
    const std::uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = std::rotl(s_[3], 45);
    return result;
  }
  /// A uniform double in [0, 1) with 53 random bits.
  double uniform() noexcept { return static_cast<double>(bits() >> 11) * 0x1.0p-53; }
  /// The next standard normal value.
  double operator()() noexcept {
    if (have_spare_) {
      have_spare_ = false;
      return spare_;
    }
    for (;;) {
      const double u = 2 * uniform() - 1, v = 2 * uniform() - 1;
      const double s = std::fma(u, u, v * v);
      if (s >= 1 || s == 0) continue;
      const double f = std::sqrt(-2 * detail::portable_ln(s) / s);
      spare_ = v * f;
      have_spare_ = true;
      return u * f;
    }
  }

 private:
  std::uint64_t s_[4];
  double spare_ = 0;
  bool have_spare_ = false;
};

// ---------------------------------------------------------------------------- scans

namespace scalar {
/// The index of the first NaN or infinity, or values.size().
template <std::floating_point T>
[[nodiscard]] std::size_t first_nonfinite(std::span<const T> values) noexcept {
  for (std::size_t i = 0; i < values.size(); ++i)
    if (!std::isfinite(values[i])) return i;
  return values.size();
}
}  // namespace scalar

/// The same, with xsimd: x - x is 0 for a finite x and NaN otherwise, and a sum of such terms
/// stays 0 until one is NaN. Blocks of 32 batches are summed into four accumulators and checked
/// once; a block that holds a bad value is searched again lane by lane.
template <std::floating_point T, class Arch = xsimd::default_arch>
[[nodiscard]] std::size_t first_nonfinite(std::span<const T> values) noexcept {
  using B = xsimd::batch<T, Arch>;
  constexpr std::size_t W = B::size, block = 32 * W;
  const T* p = values.data();
  const std::size_t n = values.size();
  std::size_t i = 0;
  for (; i + block <= n; i += block) {
    B a(T(0)), b(T(0)), c(T(0)), d(T(0));
    for (std::size_t k = i; k < i + block; k += 4 * W) {
      const B x0 = B::load_unaligned(p + k), x1 = B::load_unaligned(p + k + W), x2 = B::load_unaligned(p + k + 2 * W),
              x3 = B::load_unaligned(p + k + 3 * W);
      a += x0 - x0;
      b += x1 - x1;
      c += x2 - x2;
      d += x3 - x3;
    }
    const B z = (a + b) + (c + d);
    if (xsimd::any(z != z)) break;
  }
  for (; i + W <= n; i += W) {
    const B a = B::load_unaligned(p + i);
    const B z = a - a;
    if (xsimd::any(z != z)) break;
  }
  return i + scalar::first_nonfinite<T>(values.subspan(i));
}

/// Where find_nonfinite found the first non-finite element.
struct nonfinite_location {
  page_id page{};  ///< the page (none: nothing found)
  std::uint32_t element = 0;  ///< the element's index in the page
  epoch at{};  ///< the page's epoch
  /// Whether a non-finite element was found.
  [[nodiscard]] bool found() const noexcept { return page != page_id{}; }
};

template <class E>
concept store_exposing_engine = requires(const E& ce) {
  { ce.store() } -> std::convertible_to<const page_store&>;
};

/// The first page, in id order, with a non-finite element (see the file contract).
template <class E>
  requires inspectable_engine<E> && std::floating_point<typename E::value_type>
[[nodiscard]] nonfinite_location find_nonfinite(const E& e) {
  using T = typename E::value_type;
  nonfinite_location best;
  auto consider = [&](page_id id, std::span<const std::byte> bytes) {
    if (best.found() && best.page < id) return;
    const std::size_t n = bytes.size() / sizeof(T);
    for (std::size_t i = 0; i < n; ++i)
      if (!std::isfinite(value_at<T>(bytes, i))) {
        best.page = id;
        best.element = static_cast<std::uint32_t>(i);
        return;
      }
  };
  if constexpr (store_exposing_engine<E>) {
    const page_store& store = e.store();
    store.for_each_hot_run([&](std::span<const std::byte> run, std::size_t stride, std::uint32_t cls, std::uint32_t first) {
      const bool aligned = reinterpret_cast<std::uintptr_t>(run.data()) % alignof(T) == 0;
      if (!aligned) {  // not expected (slabs are line-aligned): page by page
        for (std::size_t k = 0; k * stride < run.size(); ++k) {
          const auto [id, bytes] = store.page_in_slot(cls, first + static_cast<std::uint32_t>(k));
          if (id != page_id{}) consider(id, run.subspan(k * stride, bytes));
        }
        return;
      }
      const std::span<const T> values(reinterpret_cast<const T*>(run.data()), run.size() / sizeof(T));
      std::size_t at = 0;
      while (at < values.size()) {
        const std::size_t hit = at + first_nonfinite<T>(values.subspan(at));
        if (hit == values.size()) break;
        const std::size_t slot = hit * sizeof(T) / stride;
        const auto [id, bytes] = store.page_in_slot(cls, first + static_cast<std::uint32_t>(slot));
        if (id != page_id{}) consider(id, run.subspan(slot * stride, bytes));  // a free slot's bytes mean nothing
        at = (slot + 1) * stride / sizeof(T);
      }
    });
    if (store.cold_pages() != 0)
      e.for_each_page([&](page_id id, std::span<const std::byte> bytes, epoch) {
        if (store.is_cold(id)) consider(id, bytes);
      });
  } else {
    e.for_each_page([&](page_id id, std::span<const std::byte> bytes, epoch) {
      if (best.found()) return;
      const std::size_t n = bytes.size() / sizeof(T);
      if (reinterpret_cast<std::uintptr_t>(bytes.data()) % alignof(T) == 0) {
        const std::size_t i = first_nonfinite<T>(std::span<const T>(reinterpret_cast<const T*>(bytes.data()), n));
        if (i < n) {
          best.page = id;
          best.element = static_cast<std::uint32_t>(i);
        }
      } else {
        consider(id, bytes);
      }
    });
  }
  if (best.found()) best.at = *e.page_epoch(best.page);
  return best;
}

// ---------------------------------------------------------------------------- perturbation

/// Where run_perturbation puts its noise: into the source pages once, before tick 1, or into every delta's payload.
enum class noise_target : std::uint8_t { sources, deltas };

/// How run_perturbation perturbs and for how long.
struct stability_options {
  double sigma = 1e-6;  ///< the noise's standard deviation
  noise_target target = noise_target::deltas;  ///< where the noise goes
  std::uint64_t seed = 0x09;  ///< the noise generator's seed
  std::size_t ticks = 50;  ///< steps to run both engines
  double amplification_limit = 1e3;  ///< an amplification above this makes the run unstable
};

/// One tick of a perturbation run.
struct tick_stability {
  double l2 = 0;        ///< divergence between the runs: L2 norm of the difference
  double linf = 0;      ///< divergence: the largest difference of one element
  double relative = 0;  ///< divergence: l2 over the baseline's L2 norm
  double input_l2 = 0;                    ///< the noise added so far
  double amplification = 0;               ///< l2 / input_l2
  double smoothness = 0;                  ///< the baseline's second differences (from tick 3)
  std::size_t nonfinite_baseline = 0;   ///< non-finite elements in the baseline run
  std::size_t nonfinite_perturbed = 0;  ///< non-finite elements in the perturbed run
};

/// What run_perturbation found (see the file contract).
struct stability_report {
  std::vector<tick_stability> ticks;  ///< one entry per tick
  double max_amplification = 0;  ///< the greatest amplification over the ticks
  std::size_t worst_tick = 0;  ///< 1-based
  page_id roughest_page{};  ///< the derived page with the roughest trajectory
  std::uint32_t roughest_element = 0;  ///< its element
  double roughest_norm = 0;  ///< the L2 norm of that element's second differences
  std::size_t perturbed_elements = 0;  ///< elements the noise went into
  bool nonfinite = false;  ///< a non-finite value appeared in either run
  bool unstable = false;  ///< max_amplification passed the limit, or nonfinite
  /// Whether the run was stable: amplification within the limit and every value finite.
  [[nodiscard]] bool ok() const noexcept { return !unstable; }
};

namespace detail {

template <class T>
struct page_values {
  std::vector<std::uint64_t> ids;
  std::vector<std::uint32_t> begin;  // per page: its first element in `values`; one more at the end
  std::vector<T> values;
  std::vector<std::uint8_t> derived;
};

template <class E>
page_values<typename E::value_type> read_values(const E& e) {
  using T = typename E::value_type;
  page_values<T> out;
  e.for_each_page([&](page_id id, std::span<const std::byte> bytes, epoch) {
    out.ids.push_back(id.value());
    out.begin.push_back(static_cast<std::uint32_t>(out.values.size()));
    for (std::size_t i = 0; i < bytes.size() / sizeof(T); ++i) out.values.push_back(value_at<T>(bytes, i));
    out.derived.push_back(e.parent_count(id) != 0 ? 1 : 0);
  });
  out.begin.push_back(static_cast<std::uint32_t>(out.values.size()));
  return out;
}

}  // namespace detail

/// Runs a baseline and a perturbed engine side by side (see the file contract).
template <class E, class Make, class Drive>
  requires inspectable_engine<E> && std::floating_point<typename E::value_type>
[[nodiscard]] stability_report run_perturbation(Make&& make, Drive&& drive, const stability_options& o) {
  using T = typename E::value_type;
  stability_report rep;
  std::unique_ptr<E> base = make(), pert = make();
  gaussian_noise noise(o.seed);
  double noise_sq = 0;
  auto add_noise = [&](std::span<std::byte> payload, std::size_t first_whole, std::size_t count) {
    for (std::size_t k = 0; k < count; ++k) {
      T v;
      std::memcpy(&v, payload.data() + (first_whole + k) * sizeof(T), sizeof(T));
      const double n = o.sigma * noise();
      v = static_cast<T>(v + static_cast<T>(n));
      std::memcpy(payload.data() + (first_whole + k) * sizeof(T), &v, sizeof(T));
      noise_sq += n * n;
      ++rep.perturbed_elements;
    }
  };
  if (o.target == noise_target::sources) {
    // Rewrite every source page in both engines: as it is in the baseline, plus noise in the
    // perturbed one; one step each.
    const epoch at{base->current_epoch().value() + 1};
    std::uint64_t id = 0xF000'0000'0000'0000ULL;
    base->for_each_page([&](page_id p, std::span<const std::byte> bytes, epoch) {
      if (base->parent_count(p) != 0) return;
      delta d;
      d.page = p;
      d.at = at;
      d.id = delta_id{++id};
      d.offset = 0;
      d.length = static_cast<std::uint32_t>(bytes.size());
      d.mask.assign(mask_words(d.length), ~std::uint64_t{0});
      if (d.length % 64 != 0) d.mask.back() = (std::uint64_t{1} << (d.length % 64)) - 1;
      d.payload.assign(bytes.begin(), bytes.end());
      (void)base->submit(d);
      add_noise(d.payload, 0, bytes.size() / sizeof(T));
      (void)pert->submit(d);
    });
    (void)base->step();
    (void)pert->step();
  }
  auto submit_base = [&](const delta& d) { return base->submit(d); };
  auto submit_pert = [&](const delta& d) {
    if (o.target != noise_target::deltas || d.kind != delta_kind::dense) return pert->submit(d);
    delta n = d;
    // Whole elements of T inside the window whose bytes are all written.
    const std::size_t lo = (std::size_t{n.offset} + sizeof(T) - 1) / sizeof(T);
    const std::size_t hi = (std::size_t{n.offset} + n.length) / sizeof(T);
    for (std::size_t el = lo; el < hi; ++el) {
      const std::size_t from = el * sizeof(T) - n.offset;
      bool whole = true;
      for (std::size_t b = 0; b < sizeof(T) && whole; ++b) whole = mask_bit(n.mask, from + b);
      if (!whole) continue;
      T v;
      std::memcpy(&v, n.payload.data() + from, sizeof(T));
      const double z = o.sigma * noise();
      v = static_cast<T>(v + static_cast<T>(z));
      std::memcpy(n.payload.data() + from, &v, sizeof(T));
      noise_sq += z * z;
      ++rep.perturbed_elements;
    }
    return pert->submit(n);
  };

  detail::page_values<T> prev, prev2;
  std::vector<double> rough;  // per baseline element: sum of squared second differences
  for (std::size_t t = 1; t <= o.ticks; ++t) {
    drive(*base, t, submit_base);
    drive(*pert, t, submit_pert);
    (void)base->step();
    (void)pert->step();
    detail::page_values<T> a = detail::read_values(*base);
    const detail::page_values<T> b = detail::read_values(*pert);
    tick_stability ts;
    double sum = 0, norm = 0;
    std::size_t i = 0, j = 0;
    while (i < a.ids.size() && j < b.ids.size()) {  // pages in both, by id
      if (a.ids[i] != b.ids[j]) {
        (a.ids[i] < b.ids[j] ? i : j)++;
        continue;
      }
      const std::size_t na = a.begin[i + 1] - a.begin[i], nb = b.begin[j + 1] - b.begin[j];
      for (std::size_t k = 0; k < std::min(na, nb); ++k) {
        const double x = static_cast<double>(a.values[a.begin[i] + k]), y = static_cast<double>(b.values[b.begin[j] + k]);
        const bool fx = std::isfinite(x), fy = std::isfinite(y);
        ts.nonfinite_baseline += fx ? 0 : 1;
        ts.nonfinite_perturbed += fy ? 0 : 1;
        if (!fx || !fy) continue;
        const double d = x - y;
        sum += d * d;
        norm += x * x;
        ts.linf = std::max(ts.linf, std::fabs(d));
      }
      ++i;
      ++j;
    }
    ts.l2 = std::sqrt(sum);
    ts.relative = norm > 0 ? ts.l2 / std::sqrt(norm) : (ts.l2 > 0 ? std::numeric_limits<double>::infinity() : 0.0);
    ts.input_l2 = std::sqrt(noise_sq);
    ts.amplification = ts.input_l2 > 0 ? ts.l2 / ts.input_l2 : (ts.l2 > 0 ? std::numeric_limits<double>::infinity() : 0.0);
    // Smoothness of the baseline's derived values, where the last three ticks hold the same pages.
    if (t >= 3 && prev2.ids == a.ids && prev.ids == a.ids && prev2.begin == a.begin && prev.begin == a.begin) {
      if (rough.size() != a.values.size()) rough.assign(a.values.size(), 0.0);
      double s2 = 0;
      for (std::size_t p = 0; p < a.ids.size(); ++p) {
        if (a.derived[p] == 0) continue;
        for (std::size_t k = a.begin[p]; k < a.begin[p + 1]; ++k) {
          const double d2 = static_cast<double>(a.values[k]) - 2 * static_cast<double>(prev.values[k]) + static_cast<double>(prev2.values[k]);
          if (!std::isfinite(d2)) continue;
          s2 += d2 * d2;
          rough[k] += d2 * d2;
        }
      }
      ts.smoothness = std::sqrt(s2);
    }
    if (ts.nonfinite_baseline != 0 || ts.nonfinite_perturbed != 0) rep.nonfinite = true;
    if (ts.amplification > rep.max_amplification || (rep.worst_tick == 0 && t == 1)) {
      rep.max_amplification = std::max(rep.max_amplification, ts.amplification);
      rep.worst_tick = t;
    }
    rep.ticks.push_back(ts);
    prev2 = std::move(prev);
    prev = std::move(a);
  }
  for (std::size_t p = 0; p + 1 < prev.begin.size() && !rough.empty(); ++p)
    for (std::size_t k = prev.begin[p]; k < prev.begin[p + 1] && k < rough.size(); ++k)
      if (std::sqrt(rough[k]) > rep.roughest_norm) {
        rep.roughest_norm = std::sqrt(rough[k]);
        rep.roughest_page = page_id{prev.ids[p]};
        rep.roughest_element = static_cast<std::uint32_t>(k - prev.begin[p]);
      }
  rep.unstable = rep.nonfinite || !(rep.max_amplification <= o.amplification_limit);
  return rep;
}

}  // namespace tickflow
