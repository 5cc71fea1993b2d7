/// @file
/// tickflow/validate/purity.hpp — suite 04 (isolation): semiring laws, kernel referential
/// transparency, determinism of whole engine runs, and inputs left unmodified by every phase.
///
/// Contract
///   * check_semiring_laws<S>(options): every law of DESIGN.md §1 on operand triples made of edge
///     values (zeros of both signs, ones, S::zero() and S::one(), infinities, a quiet NaN,
///     subnormals, the smallest normal, the extremes, epsilon; for integers 0..3, -1, -2 and the
///     extremes; both bools), every triple of them, then `random_triples` random ones (random bit
///     patterns and random magnitudes). An instance of a law is checked when its operands, its
///     intermediate results and both sides are in the semiring's domain (S::in_domain(v) when S
///     has it; every value otherwise); the others are counted as skipped. A law S::laws states
///     exact must give equal sides (==, so +0 equals -0; two NaNs are equal); any other law must
///     keep within S::laws.ulp_bound units in the last place (ulp_distance; NaN against a number
///     is the greatest distance). Integers and bools are compared with ==. For each law the
///     report counts instances checked, skipped and failed, the largest distance seen, and keeps
///     the failing instance of largest distance as the counterexample (a, b, c, both sides).
///     Nothing is asserted: a law that fails is reported.
///   * check_kernel_purity<T, W>(kernel, options): calls a propagation kernel (engine/propagate.hpp)
///     on `cases` generated inputs (1..max_parents parents of 1..max_elements elements, weights,
///     kinds) and checks referential transparency: the same inputs give the same output bits
///     when called again (a hidden state: counters, globals, clocks, random draws), when the
///     output buffer holds other bytes on entry (a kernel that reads `out`), when the cases run
///     in reverse order, and when they run on another thread (thread-local state). The inputs
///     are hashed before and after every call (a kernel that writes its inputs). The report names
///     the first fault, its case and element.
///   * check_determinism<E>(make, drive, workers, runs, ticks): for each worker count and run, an
///     engine from make(workers) (a std::unique_ptr<E>) is driven for `ticks` steps (drive(e, t)
///     submits tick t's deltas and edits, then the validator steps); the engine's digest after
///     every step must equal the first run's. The report names the first tick, worker count and
///     run that differ. drive must itself be deterministic (a function of t and the engine's
///     state).
///   * purity_validator<E> wraps one phased engine (engine/engine.hpp): deltas go through its
///     submit(), which keeps them; step() runs the three phases and hashes the inputs between
///     them:
///       - before the apply: every page's bytes and epoch;
///       - after the apply: pages no applied delta targets are unchanged, and each targeted page
///         equals the old bytes with the applied deltas written in the canonical order (by
///         epoch, then submit order: engine/ingest.hpp; the rejected ones, from the step report,
///         left out); if the engine shows its cut (cut_exposing_engine), the cut equals the
///         deltas submitted in that order, row for row;
///       - after the propagation: every source page (no parents) is unchanged since the apply,
///         and so is the cut;
///       - after the graph phase: every page is unchanged since the propagation, and so is the
///         cut.
///     The input_report names the first fault with its phase and page. Every delta of the step
///     must come through the validator's submit (deltas from other producers would make the cut
///     differ from what it saw).
///   * Allocation: the checks allocate their copies and hashes; they are validators, not hot paths.
///
/// Thread-safety: one thread at a time per validator; check_kernel_purity starts one thread of its own.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <span>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include "tickflow/core/digest.hpp"
#include "tickflow/core/ids.hpp"
#include "tickflow/core/result.hpp"
#include "tickflow/engine/engine.hpp"
#include "tickflow/engine/propagate.hpp"
#include "tickflow/page/delta.hpp"
#include "tickflow/semiring/semiring.hpp"
#include "tickflow/semiring/ulp.hpp"
#include "tickflow/validate/inspect.hpp"

namespace tickflow {

// ---------------------------------------------------------------------------- semiring laws

/// Whether v is in S's stated domain (S::in_domain when S has it; otherwise every value is).
template <semiring S>
[[nodiscard]] bool semiring_in_domain(const typename S::value_type& v) noexcept {
  if constexpr (requires { { S::in_domain(v) } -> std::convertible_to<bool>; }) return static_cast<bool>(S::in_domain(v));
  else return true;
}

/// The edge values of a value type (see the file contract), without S's own zero and one.
template <class V>
[[nodiscard]] std::vector<V> edge_values() {
  if constexpr (std::is_same_v<V, bool>) {
    return {false, true};
  } else if constexpr (std::is_floating_point_v<V>) {
    using L = std::numeric_limits<V>;
    return {V(0), -V(0), V(1), -V(1), V(2), V(0.5), V(1) / V(3), V(3), L::epsilon(), V(1) + L::epsilon(),
            L::denorm_min(), -L::denorm_min(), L::min() - L::denorm_min(), L::min(), -L::min(), L::max(), L::lowest(),
            L::infinity(), -L::infinity(), L::quiet_NaN()};
  } else {
    static_assert(std::is_integral_v<V>, "edge values are defined for bool, integers and floating point");
    using L = std::numeric_limits<V>;
    std::vector<V> v{V(0), V(1), V(2), V(3), L::max(), V(L::max() - 1), V(L::max() / 2), V(L::max() / 2 + 1)};
    if constexpr (std::is_signed_v<V>) v.insert(v.end(), {V(-1), V(-2), L::min(), V(L::min() + 1)});
    return v;
  }
}

/// How check_semiring_laws draws its operands.
struct law_check_options {
  std::size_t random_triples = 100'000;  ///< random operand triples after the edge triples
  std::uint64_t seed = 0x04;  ///< the operands' seed
};

/// One law's tally.
struct law_stats {
  std::uint64_t checked = 0;  ///< instances checked
  std::uint64_t skipped = 0;  ///< instances outside the semiring's domain, not checked
  std::uint64_t failed = 0;   ///< instances that broke the law
  std::uint64_t worst_distance = 0;  ///< ULPs for floating point; 0 or the maximum otherwise
};

/// A failing instance: the operands (c unused by two-operand laws) and both sides.
template <class V>
struct law_counterexample {
  law which{};  ///< the law broken
  V a{};    ///< the first operand
  V b{};    ///< the second operand
  V c{};    ///< the third operand (three-operand laws)
  V lhs{};  ///< the law's left side
  V rhs{};  ///< its right side
  std::uint64_t distance = 0;  ///< the two sides' distance: ULPs for floating point, else 0 or the maximum
  bool exact = false;  ///< whether S states the law exact
};

/// What check_semiring_laws found, law by law.
template <class V>
struct semiring_law_report {
  std::array<law_stats, 7> laws{};  ///< by bit index of `law`
  std::vector<law_counterexample<V>> counterexamples;  ///< the worst failing instance of each failed law
  /// The tally of law `l`.
  [[nodiscard]] const law_stats& of(law l) const noexcept { return laws[static_cast<std::size_t>(std::countr_zero(static_cast<unsigned>(l)))]; }
  /// Whether every law held (within its tolerance).
  [[nodiscard]] bool ok() const noexcept { return counterexamples.empty(); }
  /// Instances checked, over every law.
  [[nodiscard]] std::uint64_t checked() const noexcept {
    std::uint64_t n = 0;
    for (const auto& l : laws) n += l.checked;
    return n;
  }
};

namespace detail {

/// splitmix64: the validators' small reproducible generator (for test inputs, not noise).
struct splitmix64 {
  std::uint64_t state;
  std::uint64_t operator()() noexcept {
    std::uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
};

template <class V>
V random_value(splitmix64& rng) {
  if constexpr (std::is_same_v<V, bool>) {
    return (rng() & 1U) != 0;
  } else if constexpr (std::is_floating_point_v<V>) {
    using bits_t = std::conditional_t<sizeof(V) == 4, std::uint32_t, std::uint64_t>;
    const std::uint64_t r = rng();
    switch (r % 4) {
      case 0: return std::bit_cast<V>(static_cast<bits_t>(rng()));  // any pattern
      case 1: return static_cast<V>(static_cast<std::int64_t>(rng() % 2001) - 1000);  // small integers: ties
      default: {  // sign x [0.5, 1) x 2^e, e in [-64, 64)
        const V m = V(0.5) + static_cast<V>(rng() >> 11) * V(0x1.0p-54);
        const V x = std::ldexp(m, static_cast<int>((r >> 8) % 128) - 64);
        return (r & 0x80) != 0 ? -x : x;
      }
    }
  } else {
    const std::uint64_t r = rng();
    return (r % 4 == 0) ? static_cast<V>(rng() % 16) : static_cast<V>(rng());
  }
}

template <class V>
std::uint64_t law_distance(const V& x, const V& y) noexcept {
  if constexpr (std::is_floating_point_v<V>) {
    if (std::isnan(x) && std::isnan(y)) return 0;
    return ulp_distance(x, y);
  } else {
    return x == y ? 0 : std::numeric_limits<std::uint64_t>::max();
  }
}

template <semiring S>
class law_checker {
 public:
  using V = typename S::value_type;
  explicit law_checker(semiring_law_report<V>& rep) : rep_(rep) {}

  void triple(const V& a, const V& b, const V& c) {
    const bool da = in(a), db = in(b), dc = in(c);
    // add associative
    if (da && db && dc) {
      const V ab = S::add(a, b), bc = S::add(b, c);
      if (in(ab) && in(bc)) check(law::add_associative, a, b, c, S::add(ab, c), S::add(a, bc));
      else skip(law::add_associative);
      const V mab = S::mul(a, b), mbc = S::mul(b, c);
      if (in(mab) && in(mbc)) check(law::mul_associative, a, b, c, S::mul(mab, c), S::mul(a, mbc));
      else skip(law::mul_associative);
      // distributive, both sides: a(b+c) = ab + ac, (b+c)a = ba + ca
      const V mac = S::mul(a, c), mba = S::mul(b, a), mca = S::mul(c, a);
      if (in(bc) && in(mab) && in(mac)) check(law::distributive, a, b, c, S::mul(a, bc), S::add(mab, mac));
      else skip(law::distributive);
      if (in(bc) && in(mba) && in(mca)) check(law::distributive, a, b, c, S::mul(bc, a), S::add(mba, mca));
      else skip(law::distributive);
    } else {
      skip(law::add_associative);
      skip(law::mul_associative);
      skip(law::distributive, 2);
    }
    if (da && db) check(law::add_commutative, a, b, c, S::add(a, b), S::add(b, a));
    else skip(law::add_commutative);
    if (da) {
      check(law::add_identity, a, S::zero(), c, S::add(S::zero(), a), a);
      check(law::add_identity, a, S::zero(), c, S::add(a, S::zero()), a);
      check(law::mul_identity, a, S::one(), c, S::mul(S::one(), a), a);
      check(law::mul_identity, a, S::one(), c, S::mul(a, S::one()), a);
      check(law::annihilation, a, S::zero(), c, S::mul(S::zero(), a), S::zero());
      check(law::annihilation, a, S::zero(), c, S::mul(a, S::zero()), S::zero());
    } else {
      skip(law::add_identity, 2);
      skip(law::mul_identity, 2);
      skip(law::annihilation, 2);
    }
  }

 private:
  static bool in(const V& v) noexcept { return semiring_in_domain<S>(v); }
  static std::size_t index(law l) noexcept { return static_cast<std::size_t>(std::countr_zero(static_cast<unsigned>(l))); }
  void skip(law l, std::uint64_t n = 1) noexcept { rep_.laws[index(l)].skipped += n; }
  void check(law l, const V& a, const V& b, const V& c, const V& lhs, const V& rhs) {
    law_stats& st = rep_.laws[index(l)];
    if (!in(lhs) || !in(rhs)) {
      ++st.skipped;
      return;
    }
    ++st.checked;
    const std::uint64_t d = law_distance(lhs, rhs);
    st.worst_distance = std::max(st.worst_distance, d);
    const semiring_laws laws = S::laws;
    const bool exact = laws.exact.has(l);
    if (d == 0 || (!exact && d <= laws.ulp_bound)) return;
    ++st.failed;
    for (auto& ce : rep_.counterexamples)
      if (ce.which == l) {
        if (d > ce.distance) ce = {l, a, b, c, lhs, rhs, d, exact};
        return;
      }
    rep_.counterexamples.push_back({l, a, b, c, lhs, rhs, d, exact});
  }
  semiring_law_report<V>& rep_;
};

}  // namespace detail

/// Checks S's laws (see the file contract).
template <semiring S>
[[nodiscard]] semiring_law_report<typename S::value_type> check_semiring_laws(const law_check_options& options = {}) {
  using V = typename S::value_type;
  semiring_law_report<V> rep;
  detail::law_checker<S> check(rep);
  std::vector<V> values = edge_values<V>();
  values.push_back(S::zero());
  values.push_back(S::one());
  for (const V& a : values)
    for (const V& b : values)
      for (const V& c : values) check.triple(a, b, c);
  detail::splitmix64 rng{options.seed};
  for (std::size_t k = 0; k < options.random_triples; ++k) {
    const V a = detail::random_value<V>(rng), b = detail::random_value<V>(rng), c = detail::random_value<V>(rng);
    check.triple(a, b, c);
  }
  return rep;
}

// ---------------------------------------------------------------------------- kernels

/// How check_kernel_purity draws its cases.
struct kernel_check_options {
  std::size_t cases = 256;  ///< random cases to run
  std::size_t max_parents = 8;  ///< the most parents a case has
  std::size_t max_elements = 16;  ///< the most elements a case's pages have
  std::uint64_t seed = 0x04;  ///< the cases' seed
  bool other_thread = true;  ///< run the cases again on a thread of the validator's own
};

/// How a kernel failed the purity checks.
enum class kernel_fault : std::uint8_t {
  none,
  repeat_differs,  ///< the same call again gave other bits: hidden state (counter, global, clock, random)
  reads_output,    ///< other bytes in `out` on entry gave other bits
  order_differs,   ///< the cases in reverse order gave other bits
  thread_differs,  ///< another thread gave other bits
  input_modified,  ///< a call changed its inputs
};

/// What check_kernel_purity found.
struct kernel_purity_report {
  std::size_t cases = 0;  ///< cases run
  std::size_t calls = 0;  ///< kernel calls made
  kernel_fault fault = kernel_fault::none;  ///< the first fault found
  std::size_t case_index = 0;  ///< the case of the first fault
  std::size_t element = 0;     ///< the first element that differs (0 for input_modified)
  /// Whether no fault was found.
  [[nodiscard]] bool ok() const noexcept { return fault == kernel_fault::none; }
};

namespace detail {

// Elements in a plain array (std::vector<bool> has no data()).
template <class T>
struct element_buffer {
  std::unique_ptr<T[]> p;
  std::size_t n = 0;
  void resize(std::size_t k) {
    p = std::make_unique<T[]>(k);
    n = k;
  }
  [[nodiscard]] T* data() const noexcept { return p.get(); }
  [[nodiscard]] std::span<T> span() const noexcept { return {p.get(), n}; }
  T& operator[](std::size_t i) const noexcept { return p[i]; }
};

template <class T, class W>
struct kernel_case {
  std::size_t elements = 0;
  std::vector<element_buffer<T>> values;  // per parent
  std::vector<const T*> pointers;
  std::unique_ptr<W[]> weights;
  std::vector<edge_kind> kinds;
  std::size_t parents = 0;
  [[nodiscard]] parent_inputs<T, W> inputs() const {
    return {std::span<const T* const>(pointers), std::span<const W>(weights.get(), parents), std::span<const edge_kind>(kinds)};
  }
  [[nodiscard]] std::uint64_t hash() const noexcept {
    digest64 h;
    for (const auto& v : values) h.bytes(std::as_bytes(std::span<const T>(v.data(), v.n)));
    h.bytes(std::as_bytes(std::span<const W>(weights.get(), parents)));
    h.bytes(std::as_bytes(std::span<const edge_kind>(kinds)));
    for (const T* p : pointers) h.u64(reinterpret_cast<std::uintptr_t>(p));
    return h.value();
  }
};

template <class V>
V random_element(splitmix64& rng) {
  if constexpr (std::is_arithmetic_v<V>) {
    return random_value<V>(rng);
  } else {
    static_assert(std::is_trivially_copyable_v<V>);
    unsigned char raw[sizeof(V)];
    for (auto& b : raw) b = static_cast<unsigned char>(rng());
    return std::bit_cast<V>(raw);
  }
}

}  // namespace detail

/// Checks a kernel's referential transparency (see the file contract).
template <class T, class W, class K>
  requires propagation_kernel<K, T, W>
[[nodiscard]] kernel_purity_report check_kernel_purity(const K& kernel, const kernel_check_options& options = {}) {
  static_assert(std::is_trivially_copyable_v<T> && std::is_trivially_copyable_v<W>);
  kernel_purity_report rep;
  detail::splitmix64 rng{options.seed};
  std::vector<detail::kernel_case<T, W>> cases(options.cases);
  std::vector<std::uint64_t> input_hash(options.cases);
  for (std::size_t c = 0; c < cases.size(); ++c) {
    auto& k = cases[c];
    k.parents = 1 + static_cast<std::size_t>(rng() % std::max<std::size_t>(options.max_parents, 1));
    k.elements = 1 + static_cast<std::size_t>(rng() % std::max<std::size_t>(options.max_elements, 1));
    k.values.resize(k.parents);
    k.weights = std::make_unique<W[]>(k.parents);
    for (std::size_t p = 0; p < k.parents; ++p) {
      k.values[p].resize(k.elements);
      for (T& v : k.values[p].span()) v = detail::random_element<T>(rng);
      k.pointers.push_back(k.values[p].data());
      k.weights[p] = detail::random_element<W>(rng);
      k.kinds.push_back((rng() & 3U) == 0 ? edge_kind::control : edge_kind::data);
    }
    input_hash[c] = k.hash();
  }
  rep.cases = cases.size();

  // One pass: every case in the given order, `out` filled with `fill` first; returns the outputs.
  // A case whose inputs changed stops the pass (input_modified).
  auto pass = [&](bool reverse, unsigned char fill, std::vector<detail::element_buffer<T>>& outs, std::size_t& calls,
                  std::size_t& modified) {
    outs.clear();
    outs.resize(cases.size());
    for (std::size_t n = 0; n < cases.size(); ++n) {
      const std::size_t c = reverse ? cases.size() - 1 - n : n;
      auto& out = outs[c];
      out.resize(cases[c].elements);
      std::memset(static_cast<void*>(out.data()), fill, out.n * sizeof(T));
      kernel(out.span(), cases[c].inputs());
      ++calls;
      if (cases[c].hash() != input_hash[c]) {
        modified = c;
        return;
      }
    }
  };
  auto first_diff = [&](const std::vector<detail::element_buffer<T>>& a, const std::vector<detail::element_buffer<T>>& b, kernel_fault f) {
    for (std::size_t c = 0; c < cases.size(); ++c)
      for (std::size_t i = 0; i < cases[c].elements; ++i)
        if (std::memcmp(&a[c][i], &b[c][i], sizeof(T)) != 0) {
          rep.fault = f;
          rep.case_index = c;
          rep.element = i;
          return true;
        }
    return false;
  };
  const std::size_t none = ~std::size_t{0};
  std::vector<detail::element_buffer<T>> base, again;
  std::size_t modified = none;
  auto failed_input = [&]() {
    if (modified == none) return false;
    rep.fault = kernel_fault::input_modified;
    rep.case_index = modified;
    return true;
  };
  pass(false, 0xA5, base, rep.calls, modified);
  if (failed_input()) return rep;
  pass(false, 0xA5, again, rep.calls, modified);
  if (failed_input() || first_diff(base, again, kernel_fault::repeat_differs)) return rep;
  pass(false, 0x3C, again, rep.calls, modified);
  if (failed_input() || first_diff(base, again, kernel_fault::reads_output)) return rep;
  pass(true, 0xA5, again, rep.calls, modified);
  if (failed_input() || first_diff(base, again, kernel_fault::order_differs)) return rep;
  if (options.other_thread) {
    std::size_t calls = 0;
    std::thread t([&] { pass(false, 0xA5, again, calls, modified); });
    t.join();
    rep.calls += calls;
    if (failed_input() || first_diff(base, again, kernel_fault::thread_differs)) return rep;
  }
  return rep;
}

// ---------------------------------------------------------------------------- whole runs

/// What check_determinism found: every step's digest, at every worker count and run, against the first run's.
struct determinism_report {
  std::size_t ticks = 0;  ///< steps per run
  std::vector<unsigned> workers;  ///< the worker counts run
  unsigned runs = 0;  ///< runs per worker count
  std::vector<std::uint64_t> digests;  ///< the first run's digest after each step
  std::uint64_t rejected = 0;          ///< deltas the first run's steps rejected (information)
  bool mismatch = false;  ///< whether a run's digest differed from the first run's
  std::size_t tick = 0;                ///< the first step that differs (1-based)
  unsigned at_workers = 0;     ///< the worker count of the run that differs
  unsigned at_run = 0;         ///< which run at that count (0-based)
  std::uint64_t expected = 0;  ///< the first run's digest at that step
  std::uint64_t got = 0;       ///< the differing run's digest
  /// Whether every run matched the first, step by step.
  [[nodiscard]] bool ok() const noexcept { return !mismatch && ticks > 0; }
};

/// Runs the same driven engine at every worker count, `runs` times each, and compares the
/// per-step digests (see the file contract).
template <engine E, class Make, class Drive>
[[nodiscard]] determinism_report check_determinism(Make&& make, Drive&& drive, std::span<const unsigned> workers, unsigned runs,
                                                   std::size_t ticks) {
  determinism_report rep;
  rep.workers.assign(workers.begin(), workers.end());
  rep.runs = runs;
  rep.ticks = ticks;
  bool first = true;
  for (const unsigned w : workers)
    for (unsigned r = 0; r < runs; ++r) {
      std::unique_ptr<E> e = make(w);
      for (std::size_t t = 1; t <= ticks; ++t) {
        drive(*e, t);
        const step_report sr = e->step();
        const std::uint64_t d = e->digest();
        if (first) {
          rep.digests.push_back(d);
          rep.rejected += sr.rejected.size();
        } else if (d != rep.digests[t - 1]) {
          rep.mismatch = true;
          rep.tick = t;
          rep.at_workers = w;
          rep.at_run = r;
          rep.expected = rep.digests[t - 1];
          rep.got = d;
          return rep;
        }
      }
      first = false;
    }
  return rep;
}

// ---------------------------------------------------------------------------- inputs

/// How a step broke its inputs.
enum class input_fault : std::uint8_t {
  none,
  cut_differs,         ///< the cut is not the deltas submitted
  cut_modified,        ///< a phase changed the cut
  untargeted_changed,  ///< the apply changed a page no applied delta targets
  apply_wrong,         ///< a targeted page is not its old bytes with the deltas written
  source_changed,      ///< the propagation changed a source page
  page_changed,        ///< the graph phase changed a page
  pages_differ,        ///< a phase created or released a page
};

/// The phase of a step.
enum class step_phase : std::uint8_t { apply, propagate, graph };

/// What one checked step found about the engine's inputs (see the file contract).
struct input_report {
  step_report step;  ///< the step's own report
  std::size_t pages = 0;    ///< pages hashed
  std::size_t sources = 0;  ///< of those, sources
  bool cut_checked = false;            ///< the engine showed its cut
  input_fault fault = input_fault::none;  ///< the first fault found
  step_phase phase = step_phase::apply;  ///< the phase it was found after
  page_id page{};      ///< the page of the first fault (for page faults)
  std::size_t row = 0; ///< the cut row of the first fault (for cut faults)
  /// Whether no fault was found.
  [[nodiscard]] bool ok() const noexcept { return fault == input_fault::none; }
};

/// Steps an engine phase by phase and checks that each phase changed only what it may (see the file contract).
template <class E>
  requires phased_engine<E> && inspectable_engine<E>
class purity_validator {
 public:
  /// Checks steps of `e` (which must outlive the validator).
  explicit purity_validator(E& e) : e_(e) {}

  /// Submits `d` to the engine and keeps it for the step's checks.
  result<void> submit(const delta& d) {
    auto ok = e_.submit(d);
    if (ok) submitted_.push_back(d);
    return ok;
  }

  /// One step, phase by phase, with the checks of the file contract.
  input_report step() {
    input_report rep;
    std::vector<page_hash> before = hash_pages(rep.pages);
    // The targeted pages' old bytes, for the apply oracle.
    std::unordered_map<std::uint64_t, std::vector<std::byte>> old;
    for (const delta& d : submitted_)
      if (!old.contains(d.page.value()))
        if (auto b = e_.page_bytes(d.page)) old.emplace(d.page.value(), std::vector<std::byte>(b->begin(), b->end()));

    // The canonical order of a cut from one producer (engine/ingest.hpp): by epoch, then
    // submit order. The apply writes in that order.
    std::stable_sort(submitted_.begin(), submitted_.end(), [](const delta& a, const delta& b) { return a.at < b.at; });
    e_.step_apply(rep.step);
    std::uint64_t cut_hash = 0;
    if constexpr (cut_exposing_engine<E>) {
      rep.cut_checked = true;
      const delta_batch& cut = e_.last_cut();
      if (cut.size() != submitted_.size()) return fail(rep, input_fault::cut_differs, step_phase::apply, {}, std::min(cut.size(), submitted_.size()));
      for (std::size_t i = 0; i < cut.size(); ++i)
        if (row_hash(cut.row(i)) != delta_hash(submitted_[i])) return fail(rep, input_fault::cut_differs, step_phase::apply, {}, i);
      cut_hash = batch_hash(cut);
    }
    // The oracle: each targeted page's old bytes with the applied deltas written, in order.
    std::unordered_map<std::uint64_t, std::uint8_t> rejected;
    for (const auto& r : rep.step.rejected) rejected.emplace(r.id.value(), 1);
    for (const delta& d : submitted_) {
      if (rejected.contains(d.id.value())) continue;
      auto it = old.find(d.page.value());
      if (it == old.end()) continue;  // an unknown page: it must have been rejected
      for_each_write(d, [&](std::size_t i, std::byte b) {
        if (d.offset + i < it->second.size()) it->second[d.offset + i] = b;
      });
    }
    std::vector<page_hash> after_apply = hash_pages(rep.pages);
    if (after_apply.size() != before.size()) return fail(rep, input_fault::pages_differ, step_phase::apply, {}, 0);
    std::unordered_map<std::uint64_t, std::uint8_t> applied_to;
    for (const delta& d : submitted_)
      if (!rejected.contains(d.id.value())) applied_to.emplace(d.page.value(), 1);
    for (std::size_t k = 0; k < before.size(); ++k) {
      const page_hash& x = before[k];
      const page_hash& y = after_apply[k];
      if (x.id != y.id) return fail(rep, input_fault::pages_differ, step_phase::apply, page_id{y.id}, 0);
      if (applied_to.contains(x.id)) {
        const auto it = old.find(x.id);
        const auto now = e_.page_bytes(page_id{x.id});
        if (it == old.end() || !now || now->size() != it->second.size() ||
            std::memcmp(now->data(), it->second.data(), it->second.size()) != 0)
          return fail(rep, input_fault::apply_wrong, step_phase::apply, page_id{x.id}, 0);
      } else if (x.hash != y.hash) {
        return fail(rep, input_fault::untargeted_changed, step_phase::apply, page_id{x.id}, 0);
      }
    }

    e_.step_propagate(rep.step);
    if constexpr (cut_exposing_engine<E>)
      if (batch_hash(e_.last_cut()) != cut_hash) return fail(rep, input_fault::cut_modified, step_phase::propagate, {}, 0);
    std::vector<page_hash> after_propagate = hash_pages(rep.pages);
    if (after_propagate.size() != after_apply.size()) return fail(rep, input_fault::pages_differ, step_phase::propagate, {}, 0);
    for (std::size_t k = 0; k < after_apply.size(); ++k) {
      if (after_apply[k].id != after_propagate[k].id) return fail(rep, input_fault::pages_differ, step_phase::propagate, page_id{after_propagate[k].id}, 0);
      if (e_.parent_count(page_id{after_apply[k].id}) != 0) continue;
      ++rep.sources;
      if (after_apply[k].hash != after_propagate[k].hash)
        return fail(rep, input_fault::source_changed, step_phase::propagate, page_id{after_apply[k].id}, 0);
    }

    e_.step_graph(rep.step);
    if constexpr (cut_exposing_engine<E>)
      if (batch_hash(e_.last_cut()) != cut_hash) return fail(rep, input_fault::cut_modified, step_phase::graph, {}, 0);
    std::vector<page_hash> after_graph = hash_pages(rep.pages);
    if (after_graph.size() != after_propagate.size()) return fail(rep, input_fault::pages_differ, step_phase::graph, {}, 0);
    for (std::size_t k = 0; k < after_graph.size(); ++k)
      if (after_graph[k].id != after_propagate[k].id || after_graph[k].hash != after_propagate[k].hash)
        return fail(rep, input_fault::page_changed, step_phase::graph, page_id{after_graph[k].id}, 0);
    submitted_.clear();
    return rep;
  }

  /// The engine checked.
  [[nodiscard]] E& engine_ref() noexcept { return e_; }

 private:
  struct page_hash {
    std::uint64_t id, hash;
  };
  std::vector<page_hash> hash_pages(std::size_t& count) const {
    std::vector<page_hash> out;
    e_.for_each_page([&](page_id id, std::span<const std::byte> bytes, epoch at) {
      digest64 h;
      h.bytes(bytes);
      h.u64(at.value());
      out.push_back({id.value(), h.value()});
    });
    count = out.size();
    return out;
  }
  static void hash_fields(digest64& h, page_id page, epoch at, delta_id id, std::uint32_t offset, std::uint32_t length,
                          delta_kind kind, std::span<const std::uint64_t> mask, std::span<const std::byte> payload) noexcept {
    h.u64(page.value());
    h.u64(at.value());
    h.u64(id.value());
    h.u64((std::uint64_t{offset} << 32) | length);
    h.u64(static_cast<std::uint64_t>(kind));
    for (std::uint64_t w : mask) h.u64(w);
    h.bytes(payload);
  }
  static std::uint64_t delta_hash(const delta& d) noexcept {
    digest64 h;
    hash_fields(h, d.page, d.at, d.id, d.offset, d.length, d.kind, d.mask, d.payload);
    return h.value();
  }
  static std::uint64_t row_hash(const delta_row& r) noexcept {
    digest64 h;
    hash_fields(h, r.page, r.at, r.id, r.offset, r.length, r.kind, r.mask, r.payload);
    return h.value();
  }
  static std::uint64_t batch_hash(const delta_batch& b) noexcept {
    digest64 h;
    for (std::size_t i = 0; i < b.size(); ++i) h.u64(row_hash(b.row(i)));
    return h.value();
  }
  input_report& fail(input_report& rep, input_fault f, step_phase p, page_id page, std::size_t row) {
    rep.fault = f;
    rep.phase = p;
    rep.page = page;
    rep.row = row;
    // Finish the step so that the engine stays usable; the report keeps the first fault.
    if (p == step_phase::apply) {
      e_.step_propagate(rep.step);
      e_.step_graph(rep.step);
    } else if (p == step_phase::propagate) {
      e_.step_graph(rep.step);
    }
    submitted_.clear();
    return rep;
  }

  E& e_;
  std::vector<delta> submitted_;
};

}  // namespace tickflow
