// Suite 09 (stability), correctness, over reference_engine and over a plain engine
// (tests/support/plain_engine.hpp) through the same concepts: the noise generator is
// reproducible and Gaussian; the SIMD scan agrees with the scalar one; an injected NaN or
// infinity is found at the right page, element and epoch and traced to the delta or edge that
// brought it in (and a NaN left in a free slot is not reported); a contracting system stays
// bounded and is not flagged, an expanding one is; the divergence is exactly 0 with sigma = 0;
// perturbation runs are reproducible.
#include <tickflow/engine/engine.hpp>
#include <tickflow/semiring/builtin.hpp>
#include <tickflow/semiring/ulp.hpp>
#include <tickflow/validate/provenance.hpp>
#include <tickflow/validate/stability.hpp>

#include <bit>
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

using kernel = semiring_kernel<real_semiring<double>>;
using engine_t = reference_engine<double, kernel, thread_pool>;
using forwarding_t = tt::forwarding_engine<engine_t>;  // the reference engine without its store in view
using plain_t = tt::plain_engine<double, kernel>;       // tests/support/plain_engine.hpp
static_assert(store_exposing_engine<engine_t> && !store_exposing_engine<forwarding_t> && !store_exposing_engine<plain_t>);

constexpr double nan_v = std::numeric_limits<double>::quiet_NaN();
constexpr double inf_v = std::numeric_limits<double>::infinity();

// The first non-finite element in id order, page by page (the oracle of find_nonfinite).
template <class E>
nonfinite_location brute_first(const E& e) {
  nonfinite_location r;
  e.for_each_page([&](page_id id, std::span<const std::byte> bytes, epoch at) {
    if (r.found()) return;
    for (std::size_t i = 0; i < bytes.size() / 8; ++i)
      if (!std::isfinite(value_at<double>(bytes, i))) {
        r = {id, static_cast<std::uint32_t>(i), at};
        return;
      }
  });
  return r;
}

}  // namespace

TEST_CASE("09 stability: the noise is reproducible, portable and Gaussian", "[suite09]") {
  gaussian_noise a(1), b(1), c(2);
  // The first values of seed 1 (1.8843961047879769, 0.18978089448693036, 1.3020902507026608,
  // -1.9094343319583575), pinned: the same with GCC and Clang, -O0 to -O2, with and without
  // -march=native and contraction. A change here changes every perturbation run.
  const std::uint64_t pinned[4] = {0x3ffe267c87ac62ebULL, 0x3fc84abd879d0e18ULL, 0x3ff4d55c9633557bULL, 0xbffe8d0b0399ee9bULL};
  for (std::uint64_t bits : pinned) CHECK(std::bit_cast<std::uint64_t>(a()) == bits);
  for (int k = 0; k < 4; ++k) (void)b();
  bool differ = false;
  for (int k = 0; k < 1000; ++k) {
    const double x = b(), y = c();
    CHECK(x == a());
    differ = differ || x != y;
  }
  CHECK(differ);
  // The logarithm is within 2 ULPs of the library's over the polar method's range.
  std::mt19937_64 rng(3);
  for (int k = 0; k < 100'000; ++k) {
    const double s = std::ldexp(0.5 + static_cast<double>(rng() >> 11) * 0x1.0p-54, -static_cast<int>(rng() % 60));
    CHECK(ulp_distance(detail::portable_ln(s), std::log(s)) <= 2);
  }
  // Moments and tails of a million draws.
  gaussian_noise g(7);
  const int n = 1'000'000;
  double sum = 0, sq = 0;
  int beyond3 = 0;
  for (int k = 0; k < n; ++k) {
    const double z = g();
    sum += z;
    sq += z * z;
    beyond3 += std::fabs(z) > 3 ? 1 : 0;
  }
  const double mean = sum / n, var = sq / n - mean * mean;
  CHECK(std::fabs(mean) < 0.005);
  CHECK(std::fabs(var - 1) < 0.01);
  CHECK(beyond3 > 2200);  // expected 2700 (0.27 %)
  CHECK(beyond3 < 3200);
}

TEST_CASE("09 stability: the SIMD scan finds the same first NaN or infinity as the scalar one", "[suite09]") {
  std::mt19937_64 rng(9);
  std::vector<double> buf(400);
  const double bad[] = {nan_v, inf_v, -inf_v, -nan_v};
  for (int round = 0; round < 2000; ++round) {
    for (double& x : buf) x = static_cast<double>(rng() % 1000) - 500.0;
    const std::size_t start = rng() % 8, len = rng() % 301;
    for (int k = static_cast<int>(rng() % 3); k > 0; --k) buf[start + rng() % (len + 1)] = bad[rng() % 4];
    const std::span<const double> s(buf.data() + start, len);
    REQUIRE(first_nonfinite<double>(s) == scalar::first_nonfinite<double>(s));
  }
  std::vector<float> f(100, 1.0f);
  f[77] = std::numeric_limits<float>::infinity();
  CHECK(first_nonfinite<float>(std::span<const float>(f)) == 77);
}

namespace {

template <class E>
void check_nan_injection(E& e, auto&& inner) {
  tt::world w;
  w.build(e);
  for (int t = 0; t < 5; ++t) {
    w.drive(e);
    (void)e.step();
  }
  (void)e.step();  // the last edits reach the values
  CHECK_FALSE(find_nonfinite(e).found());
  // A NaN written into a source's element 3 flows to the pages below it.
  const page_id s = w.id(17);
  const epoch at{e.current_epoch().value() + 1};
  REQUIRE(e.submit(tt::element_delta(s, at, 777'001, nan_v, 3)));
  (void)e.step();
  const nonfinite_location got = find_nonfinite(e), want = brute_first(e);
  REQUIRE(got.found());
  CHECK(got.page == want.page);
  CHECK(got.element == want.element);
  CHECK(got.element == 3);
  CHECK(got.at == want.at);
  CHECK(got.at == at);
  provenance_tracker<std::remove_reference_t<decltype(inner)>> prov(inner);
  const auto tr = prov.trace_nonfinite(got.page, got.element);
  REQUIRE(tr);
  CHECK(tr->origin == nonfinite_origin::delta);
  CHECK(tr->page == s);
  REQUIRE(tr->writer);
  CHECK(tr->writer->id == delta_id{777'001});
  CHECK(tr->writer->at == at);
  CHECK(tr->path.front() == got.page);
  CHECK(tr->path.back() == s);
}

}  // namespace

TEST_CASE("09 stability: an injected NaN is found at its place and traced to its delta", "[suite09]") {
  SECTION("the reference engine: slabs scanned in memory order") {
    engine_t e(engine_options{}, 2);
    check_nan_injection(e, e);
  }
  SECTION("the reference engine through the inspection calls only: page by page") {
    forwarding_t e(engine_options{}, 2);
    check_nan_injection(e, e.inner);
  }
  SECTION("the plain engine") {
    plain_t e;
    check_nan_injection(e, e);
  }
}

TEST_CASE("09 stability: an infinite weight and an overflow are traced to the edge and the arithmetic", "[suite09]") {
  engine_t e(engine_options{}, 1);
  const page_id s1 = *e.create_page(64), s2 = *e.create_page(64), d = *e.create_page(64), below = *e.create_page(64);
  graph_edit<double> edit;
  edit.add_edge({s1, d, edge_kind::data, 1.0});
  edit.add_edge({s2, d, edge_kind::data, 1.0});
  edit.add_edge({d, below, edge_kind::data, 0.5});
  REQUIRE(e.edit_graph(edit));
  (void)e.step();
  REQUIRE(e.submit(tt::element_delta(s1, epoch{2}, 1, 1e308, 0)));
  REQUIRE(e.submit(tt::element_delta(s2, epoch{2}, 2, 1e308, 0)));
  REQUIRE(e.submit(tt::element_delta(s2, epoch{2}, 3, 2.0, 5)));
  (void)e.step();
  provenance_tracker<engine_t> prov(e);
  {
    const auto loc = find_nonfinite(e);
    REQUIRE(loc.found());
    CHECK(loc.page == d);  // 1e308 + 1e308 overflows in d; below gets inf * 0.5
    CHECK(loc.element == 0);
    const auto tr = prov.trace_nonfinite(below, 0);
    REQUIRE(tr);
    CHECK(tr->origin == nonfinite_origin::arithmetic);
    CHECK(tr->page == d);
  }
  // An infinite weight on a new edge into `below`, element 5 of s2 being 2.
  graph_edit<double> bad;
  bad.add_edge({s2, below, edge_kind::data, inf_v});
  REQUIRE(e.edit_graph(bad));
  REQUIRE(e.submit(tt::element_delta(s1, epoch{3}, 4, 1.0, 0)));  // d and below finite again at element 0
  REQUIRE(e.submit(tt::element_delta(s2, epoch{3}, 5, 1.0, 0)));
  (void)e.step();
  (void)e.step();  // the edge reaches the values
  const auto loc = find_nonfinite(e);
  REQUIRE(loc.found());
  CHECK(loc.page == below);
  const auto tr = prov.trace_nonfinite(loc.page, loc.element);
  REQUIRE(tr);
  CHECK(tr->origin == nonfinite_origin::edge);
  CHECK(tr->page == below);
  CHECK(tr->edge_parent == s2);
  // A finite value has no origin to trace.
  CHECK(prov.trace_nonfinite(s1, 0)->origin == nonfinite_origin::none);
}

TEST_CASE("09 stability: a NaN left in a released page's slot is not reported", "[suite09]") {
  engine_t e(engine_options{}, 1);
  const page_id keep = *e.create_page(64), gone = *e.create_page(64);
  REQUIRE(e.submit(tt::element_delta(gone, epoch{1}, 1, nan_v, 2)));
  REQUIRE(e.submit(tt::element_delta(keep, epoch{1}, 2, 4.0, 2)));
  (void)e.step();
  REQUIRE(find_nonfinite(e).page == gone);
  REQUIRE(e.release_page(gone));
  CHECK_FALSE(find_nonfinite(e).found());
  const page_id fresh = *e.create_page(64);  // reuses the slot; its bytes start zeroed
  CHECK_FALSE(find_nonfinite(e).found());
  REQUIRE(e.submit(tt::element_delta(fresh, epoch{2}, 3, -inf_v, 7)));
  (void)e.step();
  CHECK(find_nonfinite(e).page == fresh);
  CHECK(find_nonfinite(e).element == 7);
}

namespace {

// x (n sources) -> y (n derived) with y = A x, A with rows summing to r (spectral radius r);
// every tick the driver writes x := y + 1 (feedback), so x[t+1] = A x[t] + 1.
template <class E>
struct feedback_system {
  static constexpr std::size_t n = 8;
  double r;
  std::vector<page_id> x, y;
  std::unique_ptr<E> make() {
    auto e = tt::make_engine<E>(2);
    x.clear();
    y.clear();
    for (std::size_t i = 0; i < n; ++i) x.push_back(*e->create_page(64));
    for (std::size_t i = 0; i < n; ++i) y.push_back(*e->create_page(64));
    std::mt19937_64 rng(5);
    graph_edit<double> edit;
    for (std::size_t j = 0; j < n; ++j) {
      std::vector<double> row(n);
      double sum = 0;
      for (double& a : row) sum += (a = 0.1 + static_cast<double>(rng() % 100) / 100.0);
      for (std::size_t i = 0; i < n; ++i) edit.add_edge({x[i], y[j], edge_kind::data, r * row[i] / sum});
    }
    (void)e->edit_graph(edit);
    (void)e->step();
    return e;
  }
  template <class Submit>
  void drive(E& e, std::size_t, Submit&& submit) const {
    const epoch at{e.current_epoch().value() + 1};
    for (std::size_t i = 0; i < n; ++i) {
      const auto bytes = *e.page_bytes(y[i]);
      delta d;
      d.page = x[i];
      d.at = at;
      d.id = delta_id{(std::uint64_t{at.value()} << 8) | i};
      d.offset = 0;
      d.length = 64;
      d.mask.assign(1, ~std::uint64_t{0});
      d.payload.resize(64);
      for (std::size_t k = 0; k < 8; ++k) {
        const double v = value_at<double>(bytes, k) + 1.0;
        std::memcpy(d.payload.data() + 8 * k, &v, 8);
      }
      (void)submit(d);
    }
  }
};

template <class E>
stability_report run_feedback(double r, noise_target target, double sigma, std::size_t ticks, double* max_value = nullptr) {
  feedback_system<E> sys{r, {}, {}};
  stability_options o;
  o.sigma = sigma;
  o.target = target;
  o.ticks = ticks;
  double top = 0;
  auto drive = [&](E& e, std::size_t t, auto&& submit) {
    sys.drive(e, t, submit);
    for (page_id p : sys.y)
      for (std::size_t k = 0; k < 8; ++k) top = std::max(top, std::fabs(value_at<double>(*e.page_bytes(p), k)));
  };
  auto rep = run_perturbation<E>([&] { return sys.make(); }, drive, o);
  if (max_value != nullptr) *max_value = top;
  return rep;
}

// Two engines built and driven by two identical worlds: the baseline and the perturbed run.
template <class E>
struct world_pair {
  std::unique_ptr<tt::world> worlds[2];
  int made = 0;
  E* first = nullptr;
  std::unique_ptr<E> make() {
    auto e = tt::make_engine<E>(2);
    worlds[made] = std::make_unique<tt::world>();
    worlds[made]->build(*e);
    ++made;
    return e;
  }
  template <class Submit>
  void drive(E& e, Submit&& submit) {
    if (first == nullptr) first = &e;
    worlds[&e == first ? 0 : 1]->drive(e, submit);
  }
  stability_report run(const stability_options& o) {
    return run_perturbation<E>([&] { return make(); }, [&](E& e, std::size_t, auto&& submit) { drive(e, submit); }, o);
  }
};

}  // namespace

TEMPLATE_TEST_CASE("09 stability: a contracting system stays bounded, an expanding one is flagged", "[suite09]", engine_t, plain_t) {
  using E = TestType;
  double top = 0;
  const auto calm = run_feedback<E>(0.5, noise_target::sources, 1e-3, 60, &top);
  CHECK(calm.ok());
  CHECK_FALSE(calm.unstable);
  CHECK(calm.max_amplification < 2.0);
  CHECK(calm.ticks.back().l2 < calm.ticks.front().l2 * 1e-6);  // the perturbation dies out
  CHECK(top <= 1.0 / (1 - 0.5) + 1e-9);                      // x -> (I - A)^-1 1 = 2, never above
  CHECK(calm.ticks.back().smoothness < calm.ticks[3].smoothness);
  CHECK(calm.perturbed_elements == feedback_system<E>::n * 8);

  const auto wild = run_feedback<E>(1.5, noise_target::sources, 1e-3, 60);
  CHECK(wild.unstable);
  CHECK_FALSE(wild.nonfinite);
  CHECK(wild.max_amplification > 1e3);
  CHECK(wild.worst_tick == 60);
  // The amplification grows by about r per tick once the transient is gone.
  const double growth = wild.ticks[59].amplification / wild.ticks[58].amplification;
  CHECK(std::fabs(growth - 1.5) < 0.01);
}

TEMPLATE_TEST_CASE("09 stability: with sigma 0 the divergence is exactly 0", "[suite09]", engine_t, plain_t) {
  for (noise_target target : {noise_target::sources, noise_target::deltas}) {
    stability_options o;
    o.sigma = 0;
    o.target = target;
    o.ticks = 20;
    const auto rep = world_pair<TestType>{}.run(o);
    CHECK(rep.ok());
    CHECK(rep.perturbed_elements > 0);
    for (const auto& t : rep.ticks) {
      CHECK(t.l2 == 0);
      CHECK(t.linf == 0);
      CHECK(t.relative == 0);
      CHECK(t.amplification == 0);
    }
  }
}

TEMPLATE_TEST_CASE("09 stability: noise in the deltas, reproducibly", "[suite09]", engine_t, plain_t) {
  auto run = [](std::uint64_t seed) {
    stability_options o;
    o.sigma = 1e-6;
    o.seed = seed;
    o.ticks = 30;
    return world_pair<TestType>{}.run(o);
  };
  const auto a = run(11), b = run(11), c = run(12);
  REQUIRE(a.ticks.size() == 30);
  CHECK(a.ok());
  CHECK(a.perturbed_elements == 30 * 42);  // every delta the world submits, the rejected two included
  CHECK(a.ticks.back().l2 > 0);
  CHECK(a.ticks.back().input_l2 > 0);
  CHECK(a.max_amplification < 10);
  CHECK(a.roughest_norm > 0);
  for (std::size_t t = 0; t < 30; ++t) {
    CHECK(a.ticks[t].l2 == b.ticks[t].l2);
    CHECK(a.ticks[t].amplification == b.ticks[t].amplification);
  }
  CHECK(a.ticks.back().l2 != c.ticks.back().l2);
}

TEMPLATE_TEST_CASE("09 stability: a NaN in a run is counted and flags it, and never enters the divergence", "[suite09]", engine_t, plain_t) {
  using E = TestType;
  world_pair<E> pair;
  stability_options o;
  o.sigma = 1e-6;
  o.ticks = 12;
  // Tick 6 writes a NaN into a source of both runs; the pages below it turn NaN too.
  auto drive = [&](E& e, std::size_t t, auto&& submit) {
    pair.drive(e, submit);
    if (t == 6) (void)submit(tt::element_delta(pair.worlds[0]->id(5), epoch{e.current_epoch().value() + 1}, 999'000 + t, nan_v, 1));
  };
  const auto rep = run_perturbation<E>([&] { return pair.make(); }, drive, o);
  REQUIRE(rep.ticks.size() == 12);
  CHECK(rep.nonfinite);
  CHECK(rep.unstable);
  CHECK(rep.ticks[4].nonfinite_baseline == 0);
  CHECK(rep.ticks[5].nonfinite_baseline > 0);
  CHECK(rep.ticks[5].nonfinite_perturbed == rep.ticks[5].nonfinite_baseline);
  for (const auto& t : rep.ticks) {
    CHECK(std::isfinite(t.l2));
    CHECK(std::isfinite(t.linf));
    CHECK(std::isfinite(t.amplification));
  }
  CHECK(rep.ticks.back().l2 > 0);  // the finite elements still diverge by the noise
}
