// delta_batch round trips exactly; batch_applier equals applying the rows one by one, and is all
// or nothing with the index of the first bad row.
#include <tickflow/columnar/batch_apply.hpp>
#include <tickflow/columnar/delta_batch.hpp>

#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#  define TICKFLOW_TEST_X86 1
#endif

#include "support/catch.hpp"
#include "support/deltas.hpp"

using namespace tickflow;
namespace tt = tickflow::test;

namespace {
struct world {
  page_store store;
  std::vector<page_id> ids;
  std::vector<std::size_t> sizes;
};
void make_world(world& w, std::mt19937_64& rng, std::size_t pages, std::uint64_t seed) {
  for (std::size_t i = 0; i < pages; ++i) {
    const std::size_t size = 1 + rng() % 200;
    w.ids.push_back(*w.store.create(size));
    w.sizes.push_back(size);
    tt::fill_random(w.store, w.ids.back(), seed + i);
  }
}
std::vector<delta> random_batch(std::mt19937_64& rng, const world& w, std::size_t n) {
  std::vector<delta> out;
  std::uint32_t e = 1;
  for (std::size_t i = 0; i < n; ++i) {
    if (rng() % 8 == 0) ++e;
    const std::size_t k = rng() % w.ids.size();
    out.push_back(tt::random_delta(rng, w.ids[k], w.sizes[k], epoch{e}));
  }
  return out;
}
}  // namespace

TEST_CASE("delta_batch round trip is exact", "[columnar]") {
  std::mt19937_64 rng(1);
  std::vector<delta> ds;
  for (int i = 0; i < 500; ++i) ds.push_back(tt::random_delta(rng, page_id{rng()}, 1 + rng() % 300, epoch{static_cast<std::uint32_t>(rng())}));
  const auto batch = delta_batch::from_deltas(ds);
  CHECK(batch.size() == ds.size());
  CHECK(batch.to_deltas() == ds);
  delta_batch empty;
  CHECK(empty.to_deltas().empty());
}

TEST_CASE("batch_applier equals applying the rows one by one", "[columnar]") {
  for (std::uint64_t seed = 0; seed < 20; ++seed) {
    std::mt19937_64 rng(seed);
    world a, b;
    std::mt19937_64 r1(seed), r2(seed);
    make_world(a, r1, 50, seed * 1000);
    make_world(b, r2, 50, seed * 1000);
    const auto ds = random_batch(rng, a, 2000);
    batch_applier applier;
    auto r = applier.apply(a.store, delta_batch::from_deltas(ds));
    REQUIRE(r);
    CHECK(*r == ds.size());
    for (const auto& d : ds) REQUIRE(b.store.apply(d));
    REQUIRE(a.store.digest() == b.store.digest());
    // The applier is reusable.
    const auto more = random_batch(rng, a, 300);
    std::vector<delta> later = more;
    for (auto& d : later) d.at = epoch{d.at.value() + 1000};
    REQUIRE(applier.apply(a.store, delta_batch::from_deltas(later)));
    for (const auto& d : later) REQUIRE(b.store.apply(d));
    REQUIRE(a.store.digest() == b.store.digest());
  }
}

TEST_CASE("batch_applier is all or nothing and names the first bad row", "[columnar]") {
  std::mt19937_64 rng(7);
  world w;
  make_world(w, rng, 30, 99);
  auto ds = random_batch(rng, w, 400);
  const std::uint64_t before = w.store.digest();
  batch_applier applier;

  SECTION("ill-formed row") {
    ds[250].mask.push_back(0);
    auto r = applier.apply(w.store, delta_batch::from_deltas(ds));
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::mask_length);
    CHECK(r.error().detail == 250);
  }
  SECTION("unknown page") {
    ds[100].page = page_id{0xFFFF'0000'0001ULL};
    auto r = applier.apply(w.store, delta_batch::from_deltas(ds));
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::not_found);
    CHECK(r.error().detail == 100);
  }
  SECTION("epoch regression against an earlier row of the batch") {
    // Find two rows on the same page; give the later one an epoch below the earlier one's.
    std::size_t first = 0, second = 0;
    for (std::size_t i = 0; i < ds.size() && second == 0; ++i)
      for (std::size_t j = i + 1; j < ds.size(); ++j)
        if (ds[j].page == ds[i].page && ds[i].at.value() > 1) { first = i; second = j; break; }
    REQUIRE(second != 0);
    ds[second].at = epoch{ds[first].at.value() - 1};
    auto r = applier.apply(w.store, delta_batch::from_deltas(ds));
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::epoch_regression);
    CHECK(r.error().detail == second);  // every earlier row is valid
  }
  CHECK(w.store.digest() == before);
}

TEST_CASE("masked 64-byte copy kernels equal the bit loop", "[columnar][simd]") {
  std::mt19937_64 rng(11);
  for (int k = 0; k < 5000; ++k) {
    std::byte src[64], base[64], expect[64];
    for (auto& b : src) b = static_cast<std::byte>(rng());
    for (auto& b : base) b = static_cast<std::byte>(rng());
    std::uint64_t mask = rng();
    if (k % 7 == 0) mask &= rng();  // sparser masks
    if (k % 11 == 0) mask = 0;
    std::memcpy(expect, base, 64);
    for (int i = 0; i < 64; ++i)
      if (((mask >> i) & 1U) != 0) expect[i] = src[i];
    std::byte out[64];
    std::memcpy(out, base, 64);
    tickflow::detail::masked_copy_word(out, src, mask, true);  // whatever this CPU dispatches to
    REQUIRE(std::memcmp(out, expect, 64) == 0);
    std::memcpy(out, base, 64);
    tickflow::detail::masked_copy_word(out, src, mask, false);  // the bit loop
    REQUIRE(std::memcmp(out, expect, 64) == 0);
#if defined(TICKFLOW_TEST_X86)
    if (tickflow::detail::have_avx2()) {
      std::memcpy(out, base, 64);
      tickflow::detail::masked_copy64_avx2(out, src, mask);
      REQUIRE(std::memcmp(out, expect, 64) == 0);
    }
    if (tickflow::detail::have_avx512bw()) {
      std::memcpy(out, base, 64);
      tickflow::detail::masked_copy64_avx512(out, src, mask);
      REQUIRE(std::memcmp(out, expect, 64) == 0);
    }
#endif
  }
}
