// Every built-in semiring keeps the laws it states: exactly where it says exact, within its ULP
// bound elsewhere, on random operands from its stated domain.
#include <tickflow/semiring/builtin.hpp>
#include <tickflow/semiring/semiring.hpp>
#include <tickflow/semiring/ulp.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <type_traits>

#include "support/catch.hpp"

using namespace tickflow;

namespace {

// Operands from each semiring's stated domain (see builtin.hpp).
template <class S>
typename S::value_type sample(std::mt19937_64& rng) {
  using V = typename S::value_type;
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  const auto pick = rng() % 16;
  if constexpr (std::is_same_v<S, boolean_semiring>) {
    return (rng() & 1) != 0;
  } else if constexpr (std::is_same_v<S, counting_semiring>) {
    return pick == 0 ? V(0) : pick == 1 ? V(1) : V(rng());
  } else if constexpr (std::is_same_v<S, bottleneck_semiring<double>>) {
    if (pick == 0) return S::zero();
    if (pick == 1) return S::one();
    return (unit(rng) - 0.5) * std::ldexp(1.0, static_cast<int>(rng() % 80) - 40);
  } else if constexpr (std::is_same_v<S, min_plus_semiring<double>> || std::is_same_v<S, max_plus_semiring<double>>) {
    if (pick == 0) return S::zero();
    if (pick == 1) return 0.0;
    return unit(rng) * std::ldexp(1.0, static_cast<int>(rng() % 40));
  } else {  // real: non-negative, far from overflow and from the subnormal range
    if (pick == 0) return 0.0;
    if (pick == 1) return 1.0;
    return unit(rng) * std::ldexp(1.0, static_cast<int>(rng() % 40) - 20);
  }
}

template <class V>
std::uint64_t distance(V x, V y) {
  if constexpr (std::is_floating_point_v<V>) return ulp_distance(x, y);
  else return x == y ? 0 : std::numeric_limits<std::uint64_t>::max();
}

struct law_result {
  std::uint64_t worst = 0;  // largest distance seen between the two sides
};

template <class S>
void check_laws(int samples) {
  std::mt19937_64 rng(2026);
  law_result r[7];
  auto record = [&](law l, std::uint64_t d) {
    int i = std::countr_zero(static_cast<unsigned>(l));
    if (d > r[i].worst) r[i].worst = d;
  };
  for (int k = 0; k < samples; ++k) {
    const auto a = sample<S>(rng), b = sample<S>(rng), c = sample<S>(rng);
    record(law::add_associative, distance(S::add(S::add(a, b), c), S::add(a, S::add(b, c))));
    record(law::add_commutative, distance(S::add(a, b), S::add(b, a)));
    record(law::add_identity, std::max(distance(S::add(S::zero(), a), a), distance(S::add(a, S::zero()), a)));
    record(law::mul_associative, distance(S::mul(S::mul(a, b), c), S::mul(a, S::mul(b, c))));
    record(law::mul_identity, std::max(distance(S::mul(S::one(), a), a), distance(S::mul(a, S::one()), a)));
    record(law::distributive, std::max(distance(S::mul(a, S::add(b, c)), S::add(S::mul(a, b), S::mul(a, c))),
                                       distance(S::mul(S::add(b, c), a), S::add(S::mul(b, a), S::mul(c, a)))));
    record(law::annihilation, std::max(distance(S::mul(S::zero(), a), S::zero()), distance(S::mul(a, S::zero()), S::zero())));
  }
  for (int i = 0; i < 7; ++i) {
    const law l = static_cast<law>(1U << i);
    INFO("law bit " << i << ", worst distance " << r[i].worst);
    if (S::laws.exact.has(l)) CHECK(r[i].worst == 0);
    else CHECK(r[i].worst <= S::laws.ulp_bound);
  }
}

}  // namespace

TEMPLATE_TEST_CASE("built-in semirings keep their stated laws", "[semiring]", boolean_semiring, counting_semiring,
                   bottleneck_semiring<double>, min_plus_semiring<double>, max_plus_semiring<double>,
                   real_semiring<double>) {
  STATIC_REQUIRE(semiring<TestType>);
  check_laws<TestType>(200000);
}

TEST_CASE("laws stated as inexact really are inexact", "[semiring]") {
  // If these held exactly, real_semiring should say so; the sampled domain finds the rounding.
  std::mt19937_64 rng(7);
  bool assoc_differs = false, distrib_differs = false;
  for (int k = 0; k < 100000 && !(assoc_differs && distrib_differs); ++k) {
    const double a = sample<real_semiring<double>>(rng), b = sample<real_semiring<double>>(rng),
                 c = sample<real_semiring<double>>(rng);
    assoc_differs |= (a + b) + c != a + (b + c);
    distrib_differs |= a * (b + c) != a * b + a * c;
  }
  CHECK(assoc_differs);
  CHECK(distrib_differs);
  CHECK_FALSE(real_semiring<double>::laws.exact.has(law::add_associative));
  CHECK(min_plus_semiring<double>::laws.exact.has(law::distributive));
}

TEST_CASE("ulp_distance counts representable steps", "[semiring][ulp]") {
  CHECK(ulp_distance(1.0, 1.0) == 0);
  CHECK(ulp_distance(0.0, -0.0) == 0);
  CHECK(ulp_distance(1.0, std::nextafter(1.0, 2.0)) == 1);
  CHECK(ulp_distance(std::nextafter(1.0, 0.0), std::nextafter(1.0, 2.0)) == 2);
  CHECK(ulp_distance(-std::numeric_limits<double>::denorm_min(), std::numeric_limits<double>::denorm_min()) == 2);
  CHECK(ulp_distance(1.0f, std::nextafter(1.0f, 2.0f)) == 1);
  const double inf = std::numeric_limits<double>::infinity();
  CHECK(ulp_distance(inf, inf) == 0);
  CHECK(ulp_distance(inf, 1.0) == std::numeric_limits<std::uint64_t>::max());
  CHECK(ulp_distance(std::nan(""), 1.0) == std::numeric_limits<std::uint64_t>::max());
}
