// Suite 04 (isolation), correctness, over reference_engine and over a plain engine
// (tests/support/plain_engine.hpp) through the same concepts: the built-in semirings keep their
// stated laws on edge values; semirings that break a law are reported with a real
// counterexample; impure kernels (a counter, a global, the clock, random draws, thread-local
// state, reading `out`, writing the inputs) are caught and pure ones pass; whole engine runs give
// the same per-step digests at every worker count; and every phase leaves its inputs as they
// were, with each kind of fault caught by an engine made to commit it.
#include <tickflow/engine/engine.hpp>
#include <tickflow/semiring/builtin.hpp>
#include <tickflow/validate/purity.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <random>
#include <vector>

#include "support/catch.hpp"
#include "support/deltas.hpp"
#include "support/forwarding.hpp"
#include "support/plain_engine.hpp"
#include "support/world.hpp"

using namespace tickflow;
namespace tt = tickflow::test;

namespace {

using real_kernel = semiring_kernel<real_semiring<double>>;
using engine_t = reference_engine<double, real_kernel, thread_pool>;
static_assert(inspectable_engine<engine_t> && cut_exposing_engine<engine_t>);

// Recomputes a counterexample's sides from its operands, as the checker did.
template <class S>
void expect_real_counterexample(const law_counterexample<typename S::value_type>& ce) {
  using V = typename S::value_type;
  V lhs{}, rhs{};
  switch (ce.which) {
    case law::add_associative: lhs = S::add(S::add(ce.a, ce.b), ce.c); rhs = S::add(ce.a, S::add(ce.b, ce.c)); break;
    case law::add_commutative: lhs = S::add(ce.a, ce.b); rhs = S::add(ce.b, ce.a); break;
    case law::mul_associative: lhs = S::mul(S::mul(ce.a, ce.b), ce.c); rhs = S::mul(ce.a, S::mul(ce.b, ce.c)); break;
    default: return;  // the others are checked through their distance
  }
  CHECK(std::memcmp(&lhs, &ce.lhs, sizeof(V)) == 0);
  CHECK(std::memcmp(&rhs, &ce.rhs, sizeof(V)) == 0);
  CHECK(detail::law_distance(lhs, rhs) == ce.distance);
  CHECK(ce.distance > 0);
}

template <class S>
void expect_laws_hold() {
  const auto rep = check_semiring_laws<S>();
  for (const auto& ce : rep.counterexamples) {
    INFO("law bit " << std::countr_zero(static_cast<unsigned>(ce.which)) << " distance " << ce.distance);
    CHECK(false);
  }
  for (const auto& l : rep.laws) CHECK(l.checked > 0);
  CHECK(rep.ok());
}

// A real semiring that claims every law exact: associativity and distributivity round.
struct overclaiming_real : real_semiring<double> {
  static constexpr semiring_laws laws{all_laws, 0};
};
// Subtraction is not a semiring's add.
struct subtracting {
  using value_type = double;
  static constexpr semiring_laws laws{all_laws, 0};
  static double zero() noexcept { return 0; }
  static double one() noexcept { return 1; }
  static double add(double a, double b) noexcept { return a - b; }
  static double mul(double a, double b) noexcept { return a * b; }
};
// Max-min with NaN in its domain: std::max(NaN, x) is NaN, std::max(x, NaN) is x.
struct bottleneck_with_nan : bottleneck_semiring<double> {
  static bool in_domain(double) noexcept { return true; }
};
// Saturating counting: the sum saturates, the product wraps; distributivity breaks at the top.
struct saturating_counting {
  using value_type = std::uint64_t;
  static constexpr semiring_laws laws{all_laws, 0};
  static std::uint64_t zero() noexcept { return 0; }
  static std::uint64_t one() noexcept { return 1; }
  static std::uint64_t add(std::uint64_t a, std::uint64_t b) noexcept { return a + b < a ? ~std::uint64_t{0} : a + b; }
  static std::uint64_t mul(std::uint64_t a, std::uint64_t b) noexcept { return a * b; }
};

}  // namespace

TEST_CASE("04 purity: the built-in semirings keep their stated laws on edge values", "[suite04]") {
  expect_laws_hold<boolean_semiring>();
  expect_laws_hold<counting_semiring>();
  expect_laws_hold<bottleneck_semiring<double>>();
  expect_laws_hold<bottleneck_semiring<std::int32_t>>();
  expect_laws_hold<min_plus_semiring<double>>();
  expect_laws_hold<max_plus_semiring<double>>();
  expect_laws_hold<real_semiring<double>>();
  expect_laws_hold<min_plus_semiring<float>>();
  expect_laws_hold<real_semiring<float>>();
  // The domains are applied: the real semiring skips the instances that overflow or reach the
  // subnormals, and its rounding laws stay within the stated bound but are not all exact.
  const auto real = check_semiring_laws<real_semiring<double>>();
  CHECK(real.of(law::add_associative).skipped > 0);
  CHECK(real.of(law::add_associative).worst_distance > 0);
  CHECK(real.of(law::add_associative).worst_distance <= real_semiring<double>::laws.ulp_bound);
  CHECK(real.of(law::mul_identity).worst_distance == 0);
}

TEST_CASE("04 purity: a semiring that breaks a law is reported with its counterexample", "[suite04]") {
  SECTION("claimed exact, rounds") {
    const auto rep = check_semiring_laws<overclaiming_real>();
    REQUIRE_FALSE(rep.ok());
    CHECK(rep.of(law::add_associative).failed > 0);
    CHECK(rep.of(law::add_commutative).failed == 0);
    for (const auto& ce : rep.counterexamples) {
      CHECK(ce.exact);
      expect_real_counterexample<overclaiming_real>(ce);
    }
  }
  SECTION("subtraction as add") {
    const auto rep = check_semiring_laws<subtracting>();
    CHECK(rep.of(law::add_commutative).failed > 0);
    CHECK(rep.of(law::add_associative).failed > 0);
    for (const auto& ce : rep.counterexamples) expect_real_counterexample<subtracting>(ce);
  }
  SECTION("NaN in the domain of max-min") {
    const auto rep = check_semiring_laws<bottleneck_with_nan>();
    REQUIRE(rep.of(law::add_commutative).failed > 0);
    bool nan_operand = false;
    for (const auto& ce : rep.counterexamples)
      if (ce.which == law::add_commutative) nan_operand = std::isnan(ce.a) || std::isnan(ce.b);
    CHECK(nan_operand);
    // Without NaN in its domain, the built-in passes (above).
  }
  SECTION("integers: saturation breaks distributivity") {
    const auto rep = check_semiring_laws<saturating_counting>();
    CHECK(rep.of(law::distributive).failed > 0);
    CHECK(rep.of(law::add_commutative).failed == 0);
  }
}

namespace {

// Kernels: a pure one, and one impure in each way the validator looks for.
struct pure_weighted_max {
  void operator()(std::span<double> out, const parent_inputs<double, double>& in) const noexcept {
    for (std::size_t i = 0; i < out.size(); ++i) {
      double m = -std::numeric_limits<double>::infinity();
      for (std::size_t p = 0; p < in.values.size(); ++p) m = std::max(m, in.weights[p] * in.values[p][i]);
      out[i] = m;
    }
  }
};
struct counting_kernel {
  mutable std::uint64_t calls = 0;  // state hidden in the kernel
  void operator()(std::span<double> out, const parent_inputs<double, double>& in) const noexcept {
    ++calls;
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = in.values[0][i] + static_cast<double>(calls);
  }
};
double g_last = 0;  // a global the kernel reads and writes
std::atomic<std::uint64_t> g_calls{0};  // a global counter, never reset
struct global_counter_kernel {
  void operator()(std::span<double> out, const parent_inputs<double, double>& in) const noexcept {
    const double c = static_cast<double>(g_calls.fetch_add(1, std::memory_order_relaxed));
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = in.values[0][i] + c;
  }
};
struct global_kernel {
  void operator()(std::span<double> out, const parent_inputs<double, double>& in) const noexcept {
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = in.values[0][i] + g_last;
    g_last = out[0];
  }
};
struct clock_kernel {
  void operator()(std::span<double> out, const parent_inputs<double, double>& in) const noexcept {
    const auto t = std::chrono::steady_clock::now().time_since_epoch().count();
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = in.values[0][i] + static_cast<double>(t & 0xFFFFF);
  }
};
struct random_kernel {
  void operator()(std::span<double> out, const parent_inputs<double, double>& in) const noexcept {
    static std::atomic<std::uint64_t> seed{std::random_device{}()};
    std::mt19937_64 rng(seed.fetch_add(1));
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = in.values[0][i] + static_cast<double>(rng() % 1000);
  }
};
struct thread_local_kernel {
  void operator()(std::span<double> out, const parent_inputs<double, double>& in) const noexcept {
    static std::atomic<int> threads{0};
    thread_local const double offset = static_cast<double>(threads.fetch_add(1));  // differs per thread, fixed in one
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = in.values[0][i] + offset;
  }
};
struct reads_out_kernel {  // assumes `out` arrives zeroed
  void operator()(std::span<double> out, const parent_inputs<double, double>& in) const noexcept {
    for (std::size_t i = 0; i < out.size(); ++i) out[i] += in.values[0][i];
  }
};
struct accumulates_out_kernel {
  void operator()(std::span<double> out, const parent_inputs<double, double>& in) const noexcept {
    std::uint64_t bits;
    std::memcpy(&bits, out.data(), 8);
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = in.values[0][i] + static_cast<double>(bits & 0xFF);
  }
};
struct writes_input_kernel {
  void operator()(std::span<double> out, const parent_inputs<double, double>& in) const noexcept {
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = in.values[0][i];
    const_cast<double*>(in.values[0])[0] += 1.0;
  }
};

}  // namespace

TEST_CASE("04 purity: pure kernels pass, each kind of impure kernel is caught", "[suite04]") {
  CHECK(check_kernel_purity<double, double>(real_kernel{}).ok());
  CHECK(check_kernel_purity<double, double>(semiring_kernel<min_plus_semiring<double>>{}).ok());
  CHECK(check_kernel_purity<bool, bool>(semiring_kernel<boolean_semiring>{}).ok());
  CHECK(check_kernel_purity<std::uint64_t, std::uint64_t>(semiring_kernel<counting_semiring>{}).ok());
  const auto pure = check_kernel_purity<double, double>(pure_weighted_max{});
  CHECK(pure.ok());
  CHECK(pure.calls == 5 * pure.cases);

  CHECK(check_kernel_purity<double, double>(counting_kernel{}).fault == kernel_fault::repeat_differs);
  CHECK(check_kernel_purity<double, double>(global_kernel{}).fault == kernel_fault::repeat_differs);
  CHECK(check_kernel_purity<double, double>(global_counter_kernel{}).fault == kernel_fault::repeat_differs);
  CHECK(check_kernel_purity<double, double>(clock_kernel{}).fault == kernel_fault::repeat_differs);
  CHECK(check_kernel_purity<double, double>(random_kernel{}).fault == kernel_fault::repeat_differs);
  CHECK(check_kernel_purity<double, double>(thread_local_kernel{}).fault == kernel_fault::thread_differs);
  CHECK(check_kernel_purity<double, double>(reads_out_kernel{}).fault == kernel_fault::reads_output);
  CHECK(check_kernel_purity<double, double>(accumulates_out_kernel{}).fault == kernel_fault::reads_output);
  const auto writer = check_kernel_purity<double, double>(writes_input_kernel{});
  CHECK(writer.fault == kernel_fault::input_modified);
  CHECK(writer.case_index == 0);
}

namespace {

// The reference engine and the plain one (tests/support/plain_engine.hpp), for a kernel.
template <class Kernel>
using engine_of = reference_engine<double, Kernel, thread_pool>;
template <class Kernel>
using plain_of = tt::plain_engine<double, Kernel>;
using plain_t = plain_of<real_kernel>;
static_assert(phased_engine<plain_t> && inspectable_engine<plain_t> && !cut_exposing_engine<plain_t>);

template <class E>
determinism_report run_determinism(std::span<const unsigned> workers, unsigned runs, std::size_t ticks) {
  std::unique_ptr<tt::world> w;
  auto make = [&](unsigned n) {
    auto e = tt::make_engine<E>(n);
    w = std::make_unique<tt::world>();
    w->build(*e);
    if constexpr (requires { e->propagation(); }) e->propagation().cone_sequential_limit = 0;  // every cone over the workers
    return e;
  };
  auto drive = [&](E& e, std::size_t) { w->drive(e); };
  return check_determinism<E>(make, drive, workers, runs, ticks);
}

}  // namespace

TEMPLATE_TEST_CASE("04 purity: whole runs give the same digest after every step at 1..8 workers", "[suite04]", engine_of<real_kernel>,
                   plain_t) {
  const unsigned workers[] = {1, 2, 3, 4, 8};
  const auto rep = run_determinism<TestType>(workers, 2, 30);
  INFO("tick " << rep.tick << " workers " << rep.at_workers << " run " << rep.at_run);
  CHECK(rep.ok());
  CHECK(rep.digests.size() == 30);
  CHECK(rep.rejected == 2 * 30);  // the world's two bad deltas per tick
  // The digests move: the check compares states that change.
  CHECK(rep.digests.front() != rep.digests.back());
}

TEMPLATE_TEST_CASE("04 purity: a run whose kernel keeps state is not deterministic, and is caught", "[suite04]",
                   engine_of<global_counter_kernel>, plain_of<global_counter_kernel>) {
  const unsigned workers[] = {1, 2};
  const auto rep = run_determinism<TestType>(workers, 2, 10);
  CHECK_FALSE(rep.ok());
  CHECK(rep.mismatch);
  CHECK(rep.tick >= 1);
}

namespace {

enum class misdeed { none, touch_untargeted, skew_apply, touch_source_in_propagate, touch_page_in_graph, edit_cut, drop_cut_row };

// The reference engine, made to commit one misdeed (the validator must not pass it).
class faulty_engine : public tt::forwarding_engine<engine_t> {
 public:
  explicit faulty_engine(misdeed m) : forwarding_engine(engine_options{}, 2), m_(m) {}

  step_report step() {
    step_report r;
    step_apply(r);
    step_propagate(r);
    step_graph(r);
    return r;
  }
  void step_apply(step_report& r) {
    inner.step_apply(r);
    cut_ = inner.last_cut();
    if (m_ == misdeed::touch_untargeted && victim_ != page_id{}) (void)inner.apply(tt::element_delta(victim_, r.at, 900'000 + r.at.value(), 7.0, 1));
    if (m_ == misdeed::skew_apply)  // an extra write to the first page the step applied a delta to
      for (std::size_t i = 0; i < cut_.size(); ++i) {
        const delta_row row = cut_.row(i);
        if (std::none_of(r.rejected.begin(), r.rejected.end(), [&](const rejected_delta& x) { return x.id == row.id; })) {
          (void)inner.apply(tt::element_delta(row.page, r.at, 910'000 + r.at.value(), 1234.5, 7));
          break;
        }
      }
    if (m_ == misdeed::edit_cut && cut_.size() > 0) {  // the cut as shown differs from what was submitted
      delta_batch changed;
      for (std::size_t i = 0; i < cut_.size(); ++i) {
        const delta_row row = cut_.row(i);
        std::vector<std::byte> p(row.payload.begin(), row.payload.end());
        if (i == cut_.size() / 2) p[0] ^= std::byte{1};
        changed.push_back(row.page, row.at, row.id, row.offset, row.length, row.kind, row.mask, p);
      }
      cut_ = changed;
    }
  }
  void step_propagate(step_report& r) {
    inner.step_propagate(r);
    if (m_ == misdeed::touch_source_in_propagate && victim_ != page_id{}) (void)inner.apply(tt::element_delta(victim_, r.at, 920'000 + r.at.value(), 3.0, 2));
    if (m_ == misdeed::drop_cut_row && cut_.size() > 1) {
      delta_batch fewer;
      for (std::size_t i = 1; i < cut_.size(); ++i) {
        const delta_row row = cut_.row(i);
        fewer.push_back(row.page, row.at, row.id, row.offset, row.length, row.kind, row.mask, row.payload);
      }
      cut_ = fewer;
    }
  }
  void step_graph(step_report& r) {
    inner.step_graph(r);
    if (m_ == misdeed::touch_page_in_graph && victim_ != page_id{}) (void)inner.apply(tt::element_delta(victim_, r.at, 930'000 + r.at.value(), 5.0, 3));
  }
  [[nodiscard]] const delta_batch& last_cut() const noexcept { return cut_; }
  void set_victim(page_id p) noexcept { victim_ = p; }

 private:
  misdeed m_;
  delta_batch cut_;
  page_id victim_{};
};
static_assert(phased_engine<faulty_engine> && inspectable_engine<faulty_engine> && cut_exposing_engine<faulty_engine>);

template <class E>
input_report run_inputs(E& e, tt::world& w, std::size_t ticks) {
  purity_validator<E> v(e);
  input_report last;
  for (std::size_t t = 0; t < ticks; ++t) {
    w.drive(e, [&](const delta& d) { return v.submit(d); });
    last = v.step();
    if (!last.ok()) return last;
  }
  return last;
}

}  // namespace

TEMPLATE_TEST_CASE("04 purity: no phase of an engine changes its inputs", "[suite04]", engine_t, plain_t) {
  using E = TestType;
  auto owned = tt::make_engine<E>(3);
  E& e = *owned;
  tt::world w;
  w.build(e);
  purity_validator<E> v(e);
  for (int t = 0; t < 40; ++t) {
    w.drive(e, [&](const delta& d) { return v.submit(d); });
    const auto rep = v.step();
    INFO("tick " << t << " fault " << static_cast<int>(rep.fault) << " phase " << static_cast<int>(rep.phase));
    REQUIRE(rep.ok());
    CHECK(rep.cut_checked == cut_exposing_engine<E>);
    CHECK(rep.pages == w.ids().size());
    CHECK(rep.sources == w.options().sources);
    CHECK(rep.step.applied == w.options().deltas);
    CHECK(rep.step.rejected.size() == 2);
  }
}

TEST_CASE("04 purity: each way of changing an input is caught in its phase", "[suite04]") {
  struct expectation {
    misdeed m;
    input_fault fault;
    step_phase phase;
  };
  const expectation cases[] = {
      {misdeed::touch_untargeted, input_fault::untargeted_changed, step_phase::apply},
      {misdeed::skew_apply, input_fault::apply_wrong, step_phase::apply},
      {misdeed::edit_cut, input_fault::cut_differs, step_phase::apply},
      {misdeed::touch_source_in_propagate, input_fault::source_changed, step_phase::propagate},
      {misdeed::drop_cut_row, input_fault::cut_modified, step_phase::propagate},
      {misdeed::touch_page_in_graph, input_fault::page_changed, step_phase::graph},
  };
  for (const auto& c : cases) {
    faulty_engine e(c.m);
    tt::world_options o;
    o.deltas = 10;
    tt::world w(o);
    w.build(e);
    // The victim is a source; when the world writes it in the same tick, the extra write shows
    // as wrong bytes in a targeted page instead of a change to an untargeted one.
    e.set_victim(w.id(o.sources - 1));
    const auto rep = run_inputs(e, w, 5);
    INFO("misdeed " << static_cast<int>(c.m));
    CHECK(rep.fault != input_fault::none);
    if (c.m == misdeed::touch_untargeted) {
      CHECK((rep.fault == input_fault::untargeted_changed || rep.fault == input_fault::apply_wrong));
    } else {
      CHECK(rep.fault == c.fault);
    }
    CHECK(rep.phase == c.phase);
  }
  SECTION("the same engine without a misdeed passes") {
    faulty_engine e(misdeed::none);
    tt::world w;
    w.build(e);
    CHECK(run_inputs(e, w, 5).ok());
  }
}
