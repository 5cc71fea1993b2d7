// Delta shape rules, encodings and merge, as properties over random deltas.
#include <tickflow/page/delta.hpp>
#include <tickflow/page/page_store.hpp>

#include <cstdint>
#include <random>
#include <vector>

#include "support/catch.hpp"
#include "support/deltas.hpp"

using namespace tickflow;
namespace tt = tickflow::test;

TEST_CASE("random deltas are well-formed in both encodings", "[page][delta]") {
  std::mt19937_64 rng(1);
  for (int k = 0; k < 2000; ++k) {
    const delta d = tt::random_delta(rng, page_id{1}, 300, epoch{1});
    REQUIRE(check_shape(d));
    auto dense = to_dense(d);
    auto sparse = to_sparse(d);
    REQUIRE(dense);
    REQUIRE(sparse);
    CHECK(dense->payload.size() == d.length);
    CHECK(check_shape(*dense));
    CHECK(check_shape(*sparse));
  }
}

TEST_CASE("dense and sparse encodings of one write give the same page", "[page][delta]") {
  std::mt19937_64 rng(2);
  for (int k = 0; k < 500; ++k) {
    page_store a, b;
    const std::size_t size = 1 + rng() % 500;
    const page_id pa = *a.create(size);
    const page_id pb = *b.create(size);
    REQUIRE(pa == pb);
    tt::fill_random(a, pa, rng());
    tt::copy_page(a, pa, b, pb);
    const delta d = tt::random_delta(rng, pa, size, epoch{3});
    REQUIRE(a.apply(*to_dense(d)));
    REQUIRE(b.apply(*to_sparse(d)));
    CHECK(a.digest() == b.digest());
  }
}

TEST_CASE("applying merge(a, b) equals applying a then b", "[page][delta]") {
  std::mt19937_64 rng(3);
  for (int k = 0; k < 1000; ++k) {
    page_store s1, s2;
    const std::size_t size = 1 + rng() % 400;
    const page_id p = *s1.create(size);
    REQUIRE(*s2.create(size) == p);
    const auto seed = rng();
    tt::fill_random(s1, p, seed);
    tt::fill_random(s2, p, seed);
    const std::uint32_t e1 = static_cast<std::uint32_t>(rng() % 5), e2 = e1 + static_cast<std::uint32_t>(rng() % 3);
    const delta a = tt::random_delta(rng, p, size, epoch{e1});
    const delta b = tt::random_delta(rng, p, size, epoch{e2});
    REQUIRE(s1.apply(a));
    REQUIRE(s1.apply(b));
    auto m = merge(a, b);
    REQUIRE(m);
    CHECK(m->at == epoch{e2});
    CHECK(m->id == b.id);
    REQUIRE(s2.apply(*m));
    REQUIRE(s1.digest() == s2.digest());
  }
}

TEST_CASE("merge is associative", "[page][delta]") {
  std::mt19937_64 rng(4);
  for (int k = 0; k < 1000; ++k) {
    const std::size_t size = 1 + rng() % 300;
    const delta a = tt::random_delta(rng, page_id{9}, size, epoch{static_cast<std::uint32_t>(rng() % 4)});
    const delta b = tt::random_delta(rng, page_id{9}, size, epoch{static_cast<std::uint32_t>(rng() % 4)});
    const delta c = tt::random_delta(rng, page_id{9}, size, epoch{static_cast<std::uint32_t>(rng() % 4)});
    auto left = merge(*merge(a, b), c);
    auto right = merge(a, *merge(b, c));
    REQUIRE(left);
    REQUIRE(right);
    CHECK(*left == *right);
  }
}

TEST_CASE("merge refuses deltas to different pages and ill-formed ones", "[page][delta]") {
  std::mt19937_64 rng(5);
  const delta a = tt::random_delta(rng, page_id{1}, 64, epoch{1});
  const delta b = tt::random_delta(rng, page_id{2}, 64, epoch{1});
  auto m = merge(a, b);
  REQUIRE_FALSE(m);
  CHECK(m.error().code == errc::page_mismatch);
  delta bad = *to_dense(a);
  bad.payload.pop_back();  // a dense payload one byte short of the window
  auto m2 = merge(bad, a);
  REQUIRE_FALSE(m2);
  CHECK(m2.error().code == errc::payload_mismatch);
  auto m3 = merge(a, bad);
  REQUIRE_FALSE(m3);
  CHECK(m3.error().code == errc::payload_mismatch);
}
