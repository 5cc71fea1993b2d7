// page_store: creation, release, ids, views; every ill-formed delta kind rejected with its
// typed error and the store left byte-identical; atomic batches.
#include <tickflow/page/page_store.hpp>

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

#include "support/catch.hpp"
#include "support/deltas.hpp"

using namespace tickflow;
namespace tt = tickflow::test;

TEST_CASE("pages start zeroed at epoch 0 and keep their size", "[page][store]") {
  page_store s;
  for (std::size_t size : {1U, 63U, 64U, 65U, 4096U, 100000U}) {
    auto id = s.create(size);
    REQUIRE(id);
    auto b = s.bytes(*id);
    REQUIRE(b);
    CHECK(b->size() == size);
    bool zero = true;
    for (auto x : *b) zero &= x == std::byte{0};
    CHECK(zero);
    CHECK(*s.epoch_of(*id) == epoch{0});
    CHECK(reinterpret_cast<std::uintptr_t>(b->data()) % 64 == 0);
  }
  CHECK(s.size() == 6);
  CHECK(s.create(0).error().code == errc::invalid_argument);
  CHECK(s.create(page_store::max_page_bytes + 1).error().code == errc::invalid_argument);
}

TEST_CASE("released pages are unknown and reused slots come back zeroed under a new id", "[page][store]") {
  page_store s;
  const page_id a = *s.create(128);
  tt::fill_random(s, a, 42);
  REQUIRE(s.release(a));
  CHECK_FALSE(s.contains(a));
  CHECK(s.bytes(a).error().code == errc::not_found);
  CHECK(s.release(a).error().code == errc::not_found);
  const page_id b = *s.create(128);
  CHECK(b != a);
  bool zero = true;
  for (auto x : *s.bytes(b)) zero &= x == std::byte{0};
  CHECK(zero);
  CHECK(s.size() == 1);
}

TEST_CASE("typed views", "[page][store]") {
  page_store s;
  const page_id p = *s.create(80);
  auto v = s.view<double>(p);
  REQUIRE(v);
  CHECK(v->size() == 10);
  const page_id q = *s.create(81);
  CHECK(s.view<double>(q).error().code == errc::invalid_argument);
  CHECK(s.view<double>(page_id{12345}).error().code == errc::not_found);
}

TEST_CASE("pages are visited in id order", "[page][store]") {
  page_store s;
  std::vector<page_id> ids;
  for (int i = 0; i < 50; ++i) ids.push_back(*s.create(1 + static_cast<std::size_t>(i) * 7));
  REQUIRE(s.release(ids[10]));
  REQUIRE(s.release(ids[20]));
  ids.push_back(*s.create(33));  // reuses a released index
  std::vector<page_id> seen;
  s.for_each_page([&](page_id id, std::span<const std::byte>, epoch) { seen.push_back(id); });
  CHECK(seen.size() == 49);
  CHECK(std::is_sorted(seen.begin(), seen.end()));
}

namespace {
struct bad_case {
  const char* name;
  errc code;
};
}  // namespace

TEST_CASE("every ill-formed delta is rejected with its error and changes nothing", "[page][store]") {
  page_store s;
  const page_id p = *s.create(200);
  tt::fill_random(s, p, 7);
  std::mt19937_64 rng(8);
  delta good = tt::random_delta(rng, p, 200, epoch{5});
  REQUIRE(s.apply(good));
  const std::uint64_t before = s.digest();

  auto dense_base = [&] {
    delta d;
    d.page = p;
    d.at = epoch{6};
    d.id = delta_id{100};
    d.offset = 10;
    d.length = 70;
    d.kind = delta_kind::dense;
    d.mask.assign(mask_words(70), ~std::uint64_t{0});
    d.mask[1] &= (std::uint64_t{1} << 6) - 1;  // exactly 70 bits
    d.payload.assign(70, std::byte{0xAB});
    return d;
  };
  REQUIRE(s.validate(dense_base()));  // the base case itself is fine

  std::vector<std::pair<delta, errc>> corpus;
  { auto d = dense_base(); d.length = 0; d.mask.clear(); d.payload.clear(); corpus.push_back({d, errc::out_of_range}); }
  { auto d = dense_base(); d.offset = 0xFFFFFFF0U; corpus.push_back({d, errc::out_of_range}); }
  { auto d = dense_base(); d.mask.push_back(0); corpus.push_back({d, errc::mask_length}); }
  { auto d = dense_base(); d.mask.pop_back(); corpus.push_back({d, errc::mask_length}); }
  { auto d = dense_base(); d.mask[1] |= std::uint64_t{1} << 6; corpus.push_back({d, errc::stray_mask_bits}); }
  { auto d = dense_base(); d.mask[1] |= std::uint64_t{1} << 63; corpus.push_back({d, errc::stray_mask_bits}); }
  { auto d = dense_base(); d.payload.pop_back(); corpus.push_back({d, errc::payload_mismatch}); }
  { auto d = dense_base(); d.kind = delta_kind::sparse; d.mask[0] &= ~std::uint64_t{1}; corpus.push_back({d, errc::payload_mismatch}); }
  { auto d = dense_base(); d.kind = static_cast<delta_kind>(7); corpus.push_back({d, errc::invalid_argument}); }
  { auto d = dense_base(); d.page = page_id{0xDEAD}; corpus.push_back({d, errc::not_found}); }
  { auto d = dense_base(); d.offset = 150; corpus.push_back({d, errc::out_of_range}); }
  { auto d = dense_base(); d.at = epoch{4}; corpus.push_back({d, errc::epoch_regression}); }

  for (std::size_t i = 0; i < corpus.size(); ++i) {
    INFO("corpus entry " << i);
    auto r = s.apply(corpus[i].first);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == corpus[i].second);
    CHECK(s.digest() == before);
  }
  // Equal epochs are allowed.
  auto same_epoch = dense_base();
  same_epoch.at = epoch{5};
  CHECK(s.apply(same_epoch));
}

TEST_CASE("apply_all is all or nothing and reports the first bad index", "[page][store]") {
  page_store s;
  const page_id p = *s.create(128);
  const page_id q = *s.create(64);
  std::mt19937_64 rng(9);
  std::vector<delta> batch;
  for (std::uint32_t e = 1; e <= 20; ++e) batch.push_back(tt::random_delta(rng, (e % 2) != 0 ? p : q, (e % 2) != 0 ? 128 : 64, epoch{e}));
  const std::uint64_t before = s.digest();

  SECTION("a bad delta in the middle") {
    auto bad = batch;
    bad[13].payload.push_back(std::byte{1});
    auto r = s.apply_all(bad);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::payload_mismatch);
    CHECK(r.error().detail == 13);
    CHECK(s.digest() == before);
  }
  SECTION("an epoch regression relative to an earlier delta of the same batch") {
    auto bad = batch;
    bad[7].at = epoch{2};  // page p already at epoch 5 by then (delta 5 -> index 4)
    auto r = s.apply_all(bad);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::epoch_regression);
    CHECK(r.error().detail == 7);
    CHECK(s.digest() == before);
  }
  SECTION("a valid batch applies in order, equal to one by one") {
    page_store t;
    REQUIRE(*t.create(128) == p);
    REQUIRE(*t.create(64) == q);
    auto r = s.apply_all(batch);
    REQUIRE(r);
    CHECK(*r == batch.size());
    for (const auto& d : batch) REQUIRE(t.apply(d));
    CHECK(s.digest() == t.digest());
    CHECK(*s.epoch_of(p) == epoch{19});
    CHECK(*s.epoch_of(q) == epoch{20});
  }
}

TEST_CASE("relayout moves pages into the given order and changes nothing else", "[page][store][relayout]") {
  std::mt19937_64 rng(41);
  page_store s;
  std::vector<page_id> ids;
  // Two size classes, released pages in between (free slots), so that the moves cross chunks.
  for (int i = 0; i < 3000; ++i) ids.push_back(*s.create(i % 3 == 0 ? 200 : 64));
  for (int i = 0; i < 3000; i += 7) REQUIRE(s.release(ids[i]));
  std::vector<page_id> live;
  for (int i = 0; i < 3000; ++i)
    if (s.contains(ids[i])) live.push_back(ids[i]);
  for (const page_id id : live) {
    auto b = *s.mutable_bytes(id);
    for (auto& x : b) x = static_cast<std::byte>(rng());
  }
  const delta d = tt::random_delta(rng, live[5], 64, epoch{9});
  REQUIRE(s.apply(d));
  const auto before = s.digest();
  const auto generations = std::vector<std::uint32_t>(s.id_generations().begin(), s.id_generations().end());
  const auto free_list = std::vector<std::uint32_t>(s.id_free_list().begin(), s.id_free_list().end());
  std::vector<page_id> order(live.begin(), live.begin() + 1500);
  std::shuffle(order.begin(), order.end(), rng);
  REQUIRE(s.relayout(order));
  CHECK(s.digest() == before);
  CHECK(std::vector<std::uint32_t>(s.id_generations().begin(), s.id_generations().end()) == generations);
  CHECK(std::vector<std::uint32_t>(s.id_free_list().begin(), s.id_free_list().end()) == free_list);
  // Within a size class, the listed pages' addresses increase in list order.
  for (const std::size_t size : {std::size_t{64}, std::size_t{200}}) {
    std::uintptr_t last = 0;
    std::size_t same_chunk_steps = 0, steps = 0;
    for (const page_id id : order) {
      if (*s.page_size(id) != size) continue;
      const auto a = reinterpret_cast<std::uintptr_t>(s.bytes(id)->data());
      if (last != 0) {
        ++steps;
        same_chunk_steps += a > last && a - last < 64 * 1024 ? 1 : 0;
      }
      last = a;
    }
    CHECK(steps > 100);
    CHECK(same_chunk_steps * 10 > steps * 9);  // consecutive except across chunk boundaries
  }
  // New pages still get fresh zeroed slots, and a create/release cycle keeps working.
  const page_id fresh = *s.create(64);
  for (const auto x : *s.bytes(fresh)) CHECK(x == std::byte{0});
  REQUIRE(s.release(fresh));
  CHECK(s.digest() == before);
  // Bad input: nothing moves.
  std::vector<page_id> twice{live[1], live[2], live[1]};
  CHECK(s.relayout(twice).error().code == errc::duplicate_id);
  std::vector<page_id> dead{live[1], ids[0]};
  CHECK(s.relayout(dead).error().code == errc::not_found);
  CHECK(s.digest() == before);
}
