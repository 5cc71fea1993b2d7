// Parallel apply equals sequential apply bit for bit, at 1..8 workers (oversubscribed included):
// random batches with many deltas per page and overlapping windows, on the partitioned path
// (forced on small stores) and on a store above the in-order threshold; one invalid delta at a
// random position gives the same error as page_store::apply_all, with nothing written.
#include <tickflow/engine/parallel_apply.hpp>

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

#include "support/catch.hpp"
#include "support/deltas.hpp"
#include "support/scale.hpp"

using namespace tickflow;
namespace tt = tickflow::test;

namespace {

struct world_and_stream {
  tt::page_world world;
  std::vector<delta> stream;
};

world_and_stream make_case(std::uint64_t seed, std::size_t pages, std::size_t max_size, std::size_t deltas) {
  std::mt19937_64 rng(seed);
  world_and_stream c;
  tt::add_pages(c.world, rng, pages, max_size, seed * 31 + 1);
  // Release some pages so that the table has holes (unknown ids are then possible too).
  for (std::size_t i = 0; i < pages / 10; ++i) {
    const std::size_t k = rng() % c.world.ids.size();
    REQUIRE(c.world.store.release(c.world.ids[k]));
    c.world.ids.erase(c.world.ids.begin() + static_cast<std::ptrdiff_t>(k));
    c.world.sizes.erase(c.world.sizes.begin() + static_cast<std::ptrdiff_t>(k));
  }
  c.stream = tt::random_stream(rng, c.world, deltas, 1, 40);
  return c;
}

// Breaks delta k in one of the ways an applier must reject.
void break_delta(std::vector<delta>& s, std::size_t k, int how, const tt::page_world& w, std::mt19937_64& rng) {
  delta& d = s[k];
  switch (how) {
    case 0: d.page = page_id{(std::uint64_t{0xFFFFFF} << 32) | 1}; break;  // unknown page
    case 1: d.offset = static_cast<std::uint32_t>(*w.store.page_size(d.page)); break;  // window past the end
    case 2: d.at = epoch{0}; break;  // below the epochs the earlier deltas left (they start at 1)
    case 3: d.payload.push_back(std::byte{1}); break;  // ill-formed: payload length
    default: d.page = page_id{d.page.value() + 1}; break;  // a stale generation
  }
  (void)rng;
}

// Returns whether the oracle rejected the stream.
template <class Apply>
bool compare(const tt::page_world& world, const std::vector<delta>& stream, Apply&& apply_with) {
  page_store oracle;
  REQUIRE(oracle.restore(world.store.snapshot()));
  const auto want = oracle.apply_all(stream);
  const auto batch = delta_batch::from_deltas(stream);
  for (std::size_t workers : {1u, 2u, 3u, 4u, 8u}) {
    INFO("workers " << workers);
    page_store s;
    REQUIRE(s.restore(world.store.snapshot()));
    const std::uint64_t before = s.digest();
    const auto got = apply_with(s, batch, workers);
    REQUIRE(static_cast<bool>(got) == static_cast<bool>(want));
    if (want) {
      CHECK(*got == stream.size());
      CHECK(s.digest() == oracle.digest());
    } else {
      CHECK(got.error().code == want.error().code);
      CHECK(got.error().detail == want.error().detail);
      CHECK(s.digest() == before);  // nothing written
    }
  }
  return !want;
}

}  // namespace

TEST_CASE("parallel apply equals page_store::apply_all at 1..8 workers (partitioned path)", "[engine][apply][threads]") {
  std::mt19937_64 rng(5);
  int rejected = 0;
  for (int round = 0; round < 12; ++round) {
    auto c = make_case(100 + static_cast<std::uint64_t>(round), 1500, 300, tt::scaled(40'000) / 4);
    if (round % 2 == 1) break_delta(c.stream, rng() % c.stream.size(), static_cast<int>(rng() % 5), c.world, rng);
    rejected += compare(c.world, c.stream, [](page_store& s, const delta_batch& b, std::size_t workers) {
      thread_pool pool(workers);
      batch_applier applier;
      applier.in_order_bytes = 0;  // the partitioned path, even for this small store
      applier.stream_pages_per_row = ~std::size_t{0};
      applier.bucket_bytes = 8 * 1024;  // many buckets
      return apply_batch(applier, s, b, pool);
    });
  }
  CHECK(rejected >= 4);
}

TEST_CASE("parallel apply of full windows (compact records) equals page_store::apply_all at 1..8 workers", "[engine][apply][threads]") {
  // Every row a dense window of 1..64 bytes with every mask bit set, at offsets below 300: the
  // applier's 16-byte records. Half the rows go to 40 hot pages, so that windows overlap and
  // rows overwrite each other; epochs rise in steps.
  std::mt19937_64 rng(17);
  int rejected = 0;
  for (int round = 0; round < 10; ++round) {
    auto c = make_case(300 + static_cast<std::uint64_t>(round), 2000, 300, 0);
    std::uint32_t e = 1;
    for (std::size_t i = 0; i < tt::scaled(40'000) / 4; ++i) {
      if (rng() % 64 == 0) ++e;
      const std::size_t k = (rng() & 1) != 0 ? rng() % 40 : rng() % c.world.ids.size();
      delta d;
      d.page = c.world.ids[k];
      d.at = epoch{e};
      d.offset = static_cast<std::uint32_t>(rng() % c.world.sizes[k]);
      d.length = static_cast<std::uint32_t>(1 + rng() % std::min<std::size_t>(64, c.world.sizes[k] - d.offset));
      d.mask.assign(1, d.length == 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << d.length) - 1);
      d.kind = delta_kind::dense;
      for (std::uint32_t b = 0; b < d.length; ++b) d.payload.push_back(static_cast<std::byte>(rng()));
      c.stream.push_back(std::move(d));
    }
    if (round % 2 == 1) break_delta(c.stream, rng() % c.stream.size(), static_cast<int>(rng() % 5), c.world, rng);
    const auto batch = delta_batch::from_deltas(c.stream);
    REQUIRE(batch.full_windows());
    REQUIRE(batch.offset_bound() < 1024);
    rejected += compare(c.world, c.stream, [](page_store& s, const delta_batch& b, std::size_t workers) {
      thread_pool pool(workers);
      batch_applier applier;
      applier.in_order_bytes = 0;
      applier.stream_pages_per_row = ~std::size_t{0};  // the partitioned path
      applier.bucket_bytes = 8 * 1024;  // many buckets
      return apply_batch(applier, s, b, pool);
    });
  }
  CHECK(rejected >= 3);
}

TEST_CASE("parallel apply on a store above the in-order threshold, reusing one pool and applier", "[engine][apply][threads]") {
  auto c = make_case(7, 70'000, 128, tt::scaled(200'000));
  thread_pool pool(4);
  batch_applier applier;
  compare(c.world, c.stream, [&](page_store& s, const delta_batch& b, std::size_t workers) {
    if (workers == 1) {
      inline_executor one;
      return apply_batch(applier, s, b, one);
    }
    thread_pool p(workers);
    return apply_batch(applier, s, b, p);
  });
  std::mt19937_64 rng(9);
  int rejected = 0;
  for (int how = 0; how < 5; ++how) {
    auto broken = c.stream;
    break_delta(broken, rng() % broken.size(), how, c.world, rng);
    rejected += compare(c.world, broken, [&](page_store& s, const delta_batch& b, std::size_t) { return apply_batch(applier, s, b, pool); });
  }
  CHECK(rejected >= 4);
}

TEST_CASE("parallel apply of rows that all write one window with one epoch equals page_store::apply_all at 1..8 workers",
          "[engine][apply][threads]") {
  // Every row writes [0, 16) with epoch 5 (delta_batch::payload_stride, single_epoch): the
  // applier then takes its direct path (a page's newest row found through an owner table per
  // chunk of rows), or partitions without reading the offset, length and epoch columns and
  // without coverage bits. Broken rounds name an unknown page, a stale id, a page
  // shorter than the window, or a page already at epoch 9, at a random row: same error, nothing
  // written.
  constexpr std::uint32_t window = 16;
  std::mt19937_64 rng(23);
  int rejected = 0;
  for (int round = 0; round < 10; ++round) {
    auto c = make_case(500 + static_cast<std::uint64_t>(round), 2000, 300, 0);
    std::vector<std::size_t> fit, shorter, late;
    for (std::size_t k = 0; k < c.world.ids.size(); ++k) (c.world.sizes[k] >= window ? fit : shorter).push_back(k);
    REQUIRE(fit.size() > 100);
    REQUIRE(!shorter.empty());
    for (int j = 0; j < 20; ++j) {  // pages already written at epoch 9
      const std::size_t k = fit[rng() % fit.size()];
      delta d;
      d.page = c.world.ids[k];
      d.at = epoch{9};
      d.length = 1;
      d.mask.assign(1, 1);
      d.payload.assign(1, std::byte{7});
      REQUIRE(c.world.store.apply(d));
      late.push_back(k);
    }
    const auto row_to = [&](std::size_t k) {
      delta d;
      d.page = c.world.ids[k];
      d.at = epoch{5};
      d.length = window;
      d.mask.assign(1, (std::uint64_t{1} << window) - 1);
      for (std::uint32_t b = 0; b < window; ++b) d.payload.push_back(static_cast<std::byte>(rng()));
      return d;
    };
    for (std::size_t i = 0; i < tt::scaled(40'000) / 4; ++i) {
      std::size_t k = (rng() & 1) != 0 ? fit[rng() % 40] : fit[rng() % fit.size()];
      while (std::find(late.begin(), late.end(), k) != late.end()) k = fit[rng() % fit.size()];
      c.stream.push_back(row_to(k));
    }
    if (round % 2 == 1) {
      delta& d = c.stream[rng() % c.stream.size()];
      switch (round / 2 % 4) {
        case 0: d.page = page_id{(std::uint64_t{0xFFFFFF} << 32) | 1}; break;  // unknown page
        case 1: d.page = page_id{d.page.value() + 1}; break;                   // a stale generation
        case 2: d.page = c.world.ids[shorter[rng() % shorter.size()]]; break;  // window past the end
        default: d.page = c.world.ids[late[rng() % late.size()]]; break;       // epoch below the page's
      }
    }
    const auto batch = delta_batch::from_deltas(c.stream);
    REQUIRE(batch.full_windows());
    REQUIRE(batch.offset_bound() == 0);
    REQUIRE(batch.payload_stride() == window);
    REQUIRE(batch.single_epoch());
    // The direct path (owner tables in cache; on an error it hands over to the partition), and
    // the partitioned path with no room for the direct one.
    for (const std::size_t direct : {std::size_t{12} << 20, std::size_t{0}}) {
      INFO("direct_bytes " << direct);
      rejected += compare(c.world, c.stream, [direct](page_store& s, const delta_batch& b, std::size_t workers) {
        thread_pool pool(workers);
        batch_applier applier;
        applier.in_order_bytes = 0;
        applier.stream_pages_per_row = ~std::size_t{0};  // not the streaming path
        applier.bucket_bytes = 8 * 1024;                  // many buckets
        applier.direct_bytes = direct;
        return apply_batch(applier, s, b, pool);
      });
    }
  }
  CHECK(rejected == 10);
}
