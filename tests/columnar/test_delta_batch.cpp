// delta_batch round trips exactly; batch_applier equals applying the rows one by one, and is all
// or nothing with the index of the first bad row.
#include <tickflow/columnar/batch_apply.hpp>
#include <tickflow/columnar/delta_batch.hpp>
#include <tickflow/columnar/tlog_batch.hpp>

#include <cstdint>
#include <cstring>
#include <algorithm>
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
using world = tt::page_world;
void make_world(world& w, std::mt19937_64& rng, std::size_t pages, std::uint64_t seed) { tt::add_pages(w, rng, pages, 200, seed); }
std::vector<delta> random_batch(std::mt19937_64& rng, const world& w, std::size_t n) { return tt::random_stream(rng, w, n, 1, 8); }

// The applier's three paths, forced whatever the sizes of store and batch.
enum class path { partition, in_order, streaming };
const char* name_of(path p) { return p == path::partition ? "partition" : p == path::in_order ? "in order" : "streaming"; }
void force(batch_applier& a, path p) {
  a.in_order_bytes = p == path::in_order ? std::size_t{1} << 40 : 0;
  a.stream_pages_per_row = p == path::streaming ? 0 : ~std::size_t{0};
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
  for (std::uint64_t seed = 0; seed < 30; ++seed) {
    std::mt19937_64 rng(seed);
    world a, b;
    std::mt19937_64 r1(seed), r2(seed);
    make_world(a, r1, 50, seed * 1000);
    make_world(b, r2, 50, seed * 1000);
    const auto ds = random_batch(rng, a, 2000);
    batch_applier applier;
    force(applier, static_cast<path>(seed % 3));
    INFO(name_of(static_cast<path>(seed % 3)));
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
  const path p = GENERATE(path::partition, path::in_order, path::streaming);
  force(applier, p);
  INFO(name_of(p));

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

namespace {
// A store with many pages over several size classes where released table indices and slots were
// reused (so table order and slab order differ), built the same way for every seed.
struct churned_world {
  page_store store;
  std::vector<page_id> ids;    // live pages
  std::vector<std::size_t> sizes;
  std::vector<page_id> stale;  // released ids
};
void make_churned(churned_world& w, std::uint64_t seed, std::size_t pages) {
  std::mt19937_64 rng(seed);
  std::vector<page_id> all;
  std::vector<std::size_t> sizes;
  for (std::size_t i = 0; i < pages; ++i) {
    sizes.push_back(1 + rng() % 300);
    all.push_back(*w.store.create(sizes.back()));
  }
  for (std::size_t i = 0; i < pages; i += 3) {
    REQUIRE(w.store.release(all[i]));
    w.stale.push_back(all[i]);
  }
  for (std::size_t i = 0; i < pages; ++i) {
    if (i % 3 == 0) {
      sizes[i] = 1 + rng() % 300;
      all[i] = *w.store.create(sizes[i]);
    }
    tt::fill_random(w.store, all[i], seed * 7919 + i);
  }
  w.ids = all;
  w.sizes = sizes;
}
std::vector<delta> churned_batch(std::mt19937_64& rng, const churned_world& w, std::size_t n, std::size_t hot) {
  std::vector<delta> out;
  std::uint32_t e = 1;
  for (std::size_t i = 0; i < n; ++i) {
    if (rng() % 16 == 0) ++e;
    // Half the rows go to a few hot pages, so that rows overwrite each other.
    const std::size_t k = (rng() & 1) != 0 ? rng() % hot : rng() % w.ids.size();
    out.push_back(tt::random_delta(rng, w.ids[k], w.sizes[k], epoch{e}));
  }
  return out;
}
void require_same_pages(const churned_world& a, const churned_world& b) {
  REQUIRE(a.store.digest() == b.store.digest());
  for (std::size_t i = 0; i < a.ids.size(); ++i) {
    REQUIRE(*a.store.epoch_of(a.ids[i]) == *b.store.epoch_of(b.ids[i]));
    const auto x = *a.store.bytes(a.ids[i]);
    const auto y = *b.store.bytes(b.ids[i]);
    REQUIRE(std::equal(x.begin(), x.end(), y.begin(), y.end()));
  }
}
}  // namespace

TEST_CASE("batch_applier over many buckets equals applying the rows one by one", "[columnar]") {
  for (std::size_t bucket_bytes : {std::size_t{1}, std::size_t{16 * 1024}, std::size_t{512 * 1024}}) {
    for (std::uint64_t seed = 1; seed <= 4; ++seed) {
      churned_world a, b;
      make_churned(a, seed, 3000);
      make_churned(b, seed, 3000);
      std::mt19937_64 rng(seed + 100);
      batch_applier applier;
      force(applier, path::partition);  // the store is small enough for the in-order path
      applier.bucket_bytes = bucket_bytes;
      for (int round = 0; round < 3; ++round) {
        auto ds = churned_batch(rng, a, 6000, 20);
        for (auto& d : ds) d.at = epoch{d.at.value() + 1000u * static_cast<std::uint32_t>(round)};
        auto r = applier.apply(a.store, delta_batch::from_deltas(ds));
        REQUIRE(r);
        CHECK(*r == ds.size());
        for (const auto& d : ds) REQUIRE(b.store.apply(d));
        require_same_pages(a, b);
      }
    }
  }
}

TEST_CASE("batch_applier streams a sparse batch on a large store, as the rows one by one, or not at all", "[columnar]") {
  // (Whole-line rows are written with non-temporal stores in half the rounds.)
  // 40000 pages of 1..300 bytes (about 7 MiB of page lines, above in_order_bytes), released
  // indices reused; batches of at most one row per two pages take the streaming path with the
  // default settings. Epochs go up and down within a batch, and a fifth of the rows go to 50 hot
  // pages, so that rows overwrite each other and rows on one page are checked against each other.
  churned_world a, b;
  make_churned(a, 11, 40000);
  make_churned(b, 11, 40000);
  std::mt19937_64 rng(12);
  batch_applier applier;
  REQUIRE(applier.stream_pages_per_row == 2);  // the default the test relies on
  std::vector<std::size_t> ks;  // per row of the batch: its page's index in a.ids
  const auto make = [&](std::size_t n, std::uint32_t base) {
    std::vector<delta> ds;
    ks.clear();
    std::vector<std::uint32_t> running(a.ids.size(), 0);
    for (std::size_t i = 0; i < n; ++i) {
      const std::size_t k = rng() % 5 == 0 ? rng() % 50 : rng() % a.ids.size();
      // Rows on one page must not go down in batch order: each is raised to its page's last.
      const std::uint32_t at = std::max(base + static_cast<std::uint32_t>(rng() % 8), running[k]);
      running[k] = at;
      ds.push_back(tt::random_delta(rng, a.ids[k], a.sizes[k], epoch{at}));
      if (a.sizes[k] >= 64 && rng() % 3 == 0) {  // a whole line of the page: the non-temporal stores' rows
        delta& d = ds.back();
        d.kind = delta_kind::dense;
        d.offset = static_cast<std::uint32_t>(64 * (rng() % (a.sizes[k] / 64)));
        d.length = 64;
        d.mask.assign(1, ~std::uint64_t{0});
        d.payload.resize(64);
        for (auto& byte : d.payload) byte = static_cast<std::byte>(rng());
      }
      ks.push_back(k);
    }
    return ds;
  };
  // Rounds 0-7 with ordinary stores, 8-15 with non-temporal stores for the whole-line rows.
  for (int round = 0; round < 16; ++round) {
    applier.nontemporal_bytes = round < 8 ? ~std::size_t{0} : 0;
    const std::uint32_t base = 100 * static_cast<std::uint32_t>(round + 1);
    const auto ds = make(1 + rng() % 19000, base);
    REQUIRE(ds.size() <= a.ids.size() / 2);
    const std::uint64_t before = a.store.digest();
    // The same batch with one fault at a random row: refused with that row, nothing changed.
    auto bad = ds;
    std::size_t at = rng() % bad.size();
    errc code = errc::not_found;
    switch (round % 4) {
      case 0: bad[at].page = a.stale[rng() % a.stale.size()]; break;
      case 1:
        bad[at].offset = static_cast<std::uint32_t>(a.sizes[ks[at]]);
        bad[at].length = 1;
        bad[at].mask.assign(1, 1);
        bad[at].kind = delta_kind::dense;
        bad[at].payload.assign(1, std::byte{1});
        code = errc::out_of_range;
        break;
      case 2: {
        // Below an earlier row on the same page (its epoch is at least base), while still
        // above every epoch of the earlier rounds: the regression is against the batch itself.
        std::size_t with_earlier = bad.size();
        for (std::size_t j = at; j < bad.size() && with_earlier == bad.size(); ++j)
          for (std::size_t i = 0; i < j; ++i)
            if (ks[i] == ks[j]) {
              with_earlier = j;
              break;
            }
        if (with_earlier == bad.size()) {  // no such row after `at`: put one at the end
          bad.push_back(bad.front());
          with_earlier = bad.size() - 1;
        }
        at = with_earlier;
        bad[at].at = epoch{base - 1};
        code = errc::epoch_regression;
        break;
      }
      default:
        bad[at].mask.push_back(0);
        code = errc::mask_length;
        break;
    }
    INFO("round " << round << ", fault at row " << at << " of " << bad.size());
    auto r = applier.apply(a.store, delta_batch::from_deltas(bad));
    REQUIRE_FALSE(r);
    CHECK(r.error().code == code);
    CHECK(r.error().detail == at);
    REQUIRE(a.store.digest() == before);
    // page_store::apply_all agrees on the same fault.
    auto all = b.store.apply_all(bad);
    REQUIRE_FALSE(all);
    CHECK(all.error().code == code);
    CHECK(all.error().detail == at);
    // The valid batch: the same pages and epochs as the rows one by one.
    REQUIRE(applier.apply(a.store, delta_batch::from_deltas(ds)));
    for (const auto& d : ds) REQUIRE(b.store.apply(d));
    require_same_pages(a, b);
  }
}

TEST_CASE("batch_applier reports the first bad row of batch order, whichever bucket holds it", "[columnar]") {
  churned_world w;
  make_churned(w, 5, 3000);
  std::mt19937_64 rng(55);
  auto base = churned_batch(rng, w, 4000, 20);
  const std::uint64_t before = w.store.digest();
  batch_applier applier;
  const path p = GENERATE(path::partition, path::streaming);
  force(applier, p);
  INFO(name_of(p));
  applier.bucket_bytes = 1;  // partitioned: 64 pages per bucket, the rows spread over ~47 buckets
  // The highest and the lowest table index among live pages (they fall in different buckets).
  std::size_t hi_k = 0, lo_k = 0;
  for (std::size_t k = 0; k < w.ids.size(); ++k) {
    if (w.ids[k].value() > w.ids[hi_k].value()) hi_k = k;
    if (w.ids[k].value() < w.ids[lo_k].value()) lo_k = k;
  }
  const auto retarget = [&](delta& d, std::size_t k) {
    d = tt::random_delta(rng, w.ids[k], w.sizes[k], d.at);
  };
  struct fault {
    const char* name;
    errc code;
  };
  for (const fault f : {fault{"stale id", errc::not_found}, fault{"window", errc::out_of_range},
                        fault{"below the page's epoch", errc::epoch_regression}, fault{"shape", errc::mask_length}}) {
    DYNAMIC_SECTION(f.name) {
      auto ds = base;
      std::size_t expect_row = 1200;
      // A fault at row 3000 in the highest bucket, the fault under test at row 1200 in the lowest.
      retarget(ds[3000], hi_k);
      ds[3000].page = w.stale[0];
      retarget(ds[1200], lo_k);
      switch (f.code) {
        case errc::not_found: ds[1200].page = w.stale[1]; break;
        case errc::out_of_range:
          ds[1200].offset = static_cast<std::uint32_t>(w.sizes[lo_k]);
          ds[1200].length = 1;
          ds[1200].mask.assign(1, 1);
          ds[1200].kind = delta_kind::dense;
          ds[1200].payload.assign(1, std::byte{1});
          break;
        case errc::epoch_regression:
          // Row 1250 goes to the same page with an epoch below row 1200's: the first row after
          // 1200 on that page is the regression (row 1250 or an earlier one).
          ds[1200].at = epoch{ds[1199].at.value() + 5};
          retarget(ds[1250], lo_k);
          ds[1250].at = epoch{ds[1200].at.value() - 1};
          for (std::size_t j = 1201; j <= 1250; ++j)
            if (ds[j].page == ds[1200].page) {
              expect_row = j;
              break;
            }
          break;
        default: ds[1200].mask.push_back(0); break;
      }
      auto r = applier.apply(w.store, delta_batch::from_deltas(ds));
      REQUIRE_FALSE(r);
      CHECK(r.error().code == f.code);
      CHECK(r.error().detail == expect_row);
      CHECK(w.store.digest() == before);
    }
  }
}

TEST_CASE("batch_applier: an id with generation 0 is unknown, even on a dead index", "[columnar]") {
  std::mt19937_64 rng(9);
  // No create() hands out generation 0, so the ids are built by hand: on a dead index, on a live
  // one, and the released id itself.
  page_store s;
  const page_id a = *s.create(64);
  const page_id b = *s.create(64);
  REQUIRE(s.release(b));
  delta d = tt::random_delta(rng, a, 64, epoch{1});
  const std::uint64_t before = s.digest();
  for (const std::uint64_t raw : {b.value() & ~std::uint64_t{0xFFFFFFFF}, a.value() & ~std::uint64_t{0xFFFFFFFF}, b.value()}) {
    std::vector<delta> rows{d, d, d};
    rows[1].page = page_id{raw};
    for (const path p : {path::partition, path::in_order, path::streaming}) {
      batch_applier applier;
      force(applier, p);
      INFO(name_of(p));
      auto r = applier.apply(s, delta_batch::from_deltas(rows));
      REQUIRE_FALSE(r);
      CHECK(r.error().code == errc::not_found);
      CHECK(r.error().detail == 1);
      CHECK(s.digest() == before);
    }
  }
}

TEST_CASE("delta_batch knows when every row is a full window, and bounds the offsets", "[columnar]") {
  delta d;
  d.page = page_id{(std::uint64_t{1} << 32) | 1};
  d.at = epoch{1};
  d.offset = 100;
  d.length = 64;
  d.mask.assign(1, ~std::uint64_t{0});
  d.payload.assign(64, std::byte{7});
  delta_batch b;
  CHECK(b.full_windows());
  b.push_back(d);
  d.offset = 700, d.length = 5, d.mask.assign(1, 0x1F), d.payload.assign(5, std::byte{1});
  b.push_back(d);
  CHECK(b.full_windows());
  CHECK(b.offset_bound() == 700);
  // Not full: a hole in the mask, a sparse kind, a window over 64 bytes.
  for (int how = 0; how < 3; ++how) {
    delta x = d;
    if (how == 0) x.mask.assign(1, 0x1B), x.payload.assign(5, std::byte{1});
    if (how == 1) x.kind = delta_kind::sparse;
    if (how == 2) x.length = 65, x.mask.assign(2, ~std::uint64_t{0}), x.mask[1] = 1, x.payload.assign(65, std::byte{1});
    delta_batch c = b;
    c.push_back(x);
    CHECK_FALSE(c.full_windows());
    // The same row through the encoded form (as ingest and the log append it).
    delta_batch e = b;
    (void)e.push_back_encoded(x.page, x.at, x.id, x.offset, x.length, x.kind, reinterpret_cast<const std::byte*>(x.mask.data()),
                              x.mask.size(), x.payload);
    CHECK_FALSE(e.full_windows());
    c.pop_back();  // the remaining rows are full windows, but the batch need not know it
    c.clear();
    CHECK(c.full_windows());
    CHECK(c.offset_bound() == 0);
  }
}

TEST_CASE("delta_batch knows when every payload has one size and every row one epoch", "[columnar]") {
  delta d;
  d.page = page_id{(std::uint64_t{1} << 32) | 1};
  d.at = epoch{3};
  d.length = 16;
  d.mask.assign(1, 0xFFFF);
  d.payload.assign(16, std::byte{7});
  delta_batch b;
  CHECK(b.payload_stride() == 0);  // empty
  CHECK_FALSE(b.single_epoch());
  for (int i = 0; i < 5; ++i) b.push_back(d);
  CHECK(b.payload_stride() == 16);
  CHECK(b.single_epoch());
  for (std::size_t i = 0; i < b.size(); ++i) CHECK(b.payload_offsets()[i] == 16 * i);
  // Another payload size, through either append; another epoch.
  delta other = d;
  other.length = 8, other.mask.assign(1, 0xFF), other.payload.assign(8, std::byte{1});
  delta_batch c = b;
  c.push_back(other);
  CHECK(c.payload_stride() == 0);
  CHECK(c.single_epoch());
  delta_batch e = b;
  CHECK(e.push_back_encoded(other.page, other.at, other.id, other.offset, other.length, other.kind,
                            reinterpret_cast<const std::byte*>(other.mask.data()), other.mask.size(), other.payload) == errc::ok);
  CHECK(e.payload_stride() == 0);
  delta later = d;
  later.at = epoch{4};
  delta_batch f = b;
  f.push_back(later);
  CHECK(f.payload_stride() == 16);
  CHECK_FALSE(f.single_epoch());
  f.pop_back();  // may stay pessimistic
  f.clear();
  CHECK(f.payload_stride() == 0);
  CHECK_FALSE(f.single_epoch());
  f.push_back(other);
  CHECK(f.payload_stride() == 8);
  CHECK(f.single_epoch());
  // Emptied by pop_back: both say nothing of an empty batch.
  f.pop_back();
  CHECK(f.payload_stride() == 0);
  CHECK_FALSE(f.single_epoch());
}

TEST_CASE("delta_batch::bulk_appender appends as push_back_encoded does", "[columnar]") {
  // Random rows (full 64-byte windows with one epoch and stride in some runs, anything in others,
  // a malformed row now and then) appended in random blocks through the appender, to a batch
  // that may already hold rows (a copy, or a cleared one); the reference appends them one by one.
  int fast_summaries = 0;
  for (std::uint64_t seed = 0; seed < 40; ++seed) {
    std::mt19937_64 rng(seed);
    const bool uniform = seed % 2 == 0;
    std::vector<delta> ds;
    const std::size_t n = 1 + rng() % 600;
    for (std::size_t i = 0; i < n; ++i) {
      delta d = tt::random_delta(rng, page_id{(std::uint64_t{1 + rng() % 50} << 32) | 1}, 300, epoch{uniform ? static_cast<std::uint32_t>(5 + seed) : static_cast<std::uint32_t>(1 + rng() % 4)});
      const bool odd_ones = seed % 4 != 0;  // seeds 0, 4, 8, ...: every row uniform, none ill-formed
      if (uniform && (!odd_ones || rng() % 50 != 0)) {
        d.kind = delta_kind::dense, d.offset = 0, d.length = 64;
        d.mask.assign(1, ~std::uint64_t{0});
        d.payload.assign(64, static_cast<std::byte>(i));
      }
      if (odd_ones && rng() % 97 == 0) d.payload.push_back(std::byte{1});  // ill-formed
      ds.push_back(d);
    }
    delta_batch expect, got;
    const std::size_t before = seed % 4 != 0 && rng() % 3 == 0 ? rng() % 5 : 0;  // rows already in both
    for (std::size_t i = 0; i < before; ++i) {
      const delta d = tt::random_delta(rng, page_id{1}, 100, epoch{static_cast<std::uint32_t>(5 + seed)});
      expect.push_back(d);
      got.push_back(d);
    }
    if (seed % 5 == 1) got = delta_batch(got);  // a copy: capacities equal to sizes
    for (std::size_t i = 0; i < n;) {
      const std::size_t k = std::min(n - i, 1 + static_cast<std::size_t>(rng() % 80));
      std::size_t words = 0, bytes = 0;
      for (std::size_t j = i; j < i + k; ++j) words += ds[j].mask.size(), bytes += ds[j].payload.size();
      {
        delta_batch::bulk_appender append(got, k, words, bytes);
        for (std::size_t j = i; j < i + k; ++j) {
          const delta& d = ds[j];
          const auto mask = reinterpret_cast<const std::byte*>(d.mask.data());
          const errc a = append.push(d.page, d.at, d.id, d.offset, d.length, d.kind, mask, d.mask.size(), d.payload);
          const errc e = expect.push_back_encoded(d.page, d.at, d.id, d.offset, d.length, d.kind, mask, d.mask.size(), d.payload);
          CHECK(a == e);
        }
      }
      i += k;
    }
    INFO("seed " << seed);
    REQUIRE(got.size() == expect.size());
    CHECK(got.to_deltas() == expect.to_deltas());
    CHECK(got.full_windows() == expect.full_windows());
    CHECK(got.offset_bound() == expect.offset_bound());
    CHECK(got.payload_stride() == expect.payload_stride());
    CHECK(got.single_epoch() == expect.single_epoch());
    CHECK(got.first_ill_formed() == expect.first_ill_formed());
    CHECK(got.shape_error().code == expect.shape_error().code);
    CHECK(std::vector<std::size_t>(got.payload_offsets().begin(), got.payload_offsets().end()) ==
          std::vector<std::size_t>(expect.payload_offsets().begin(), expect.payload_offsets().end()));
    CHECK(std::vector<std::size_t>(got.mask_offsets().begin(), got.mask_offsets().end()) ==
          std::vector<std::size_t>(expect.mask_offsets().begin(), expect.mask_offsets().end()));
    fast_summaries += got.full_windows() && got.payload_stride() == 64 && got.single_epoch() ? 1 : 0;
  }
  CHECK(fast_summaries > 0);  // the summaries' true side was exercised too
}

TEST_CASE("delta_batch remembers the first ill-formed row as rows are appended", "[columnar]") {
  std::mt19937_64 rng(3);
  delta_batch batch;
  CHECK(batch.first_ill_formed() == delta_batch::no_row);
  for (int i = 0; i < 10; ++i) batch.push_back(tt::random_delta(rng, page_id{1}, 100, epoch{1}));
  CHECK(batch.first_ill_formed() == delta_batch::no_row);
  CHECK(batch.shape_error().code == errc::ok);
  delta bad = tt::random_delta(rng, page_id{1}, 100, epoch{1});
  bad.payload.push_back(std::byte{0});
  batch.push_back(bad);
  delta worse = bad;
  worse.mask.clear();
  batch.push_back(worse);
  CHECK(batch.first_ill_formed() == 10);
  CHECK(batch.shape_error().code == errc::payload_mismatch);
  CHECK(batch.shape_error().detail == 10);
  batch.clear();
  CHECK(batch.first_ill_formed() == delta_batch::no_row);
  CHECK(batch.size() == 0);
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

TEST_CASE("recover_into agrees with parse_tlog on long logs, torn and damaged anywhere", "[columnar][tlog]") {
  std::mt19937_64 rng(21);
  std::vector<std::byte> image(tickflow::detail::tlog_header_bytes, std::byte{0});
  std::memcpy(image.data(), tickflow::detail::tlog_magic, 8);
  image[8] = static_cast<std::byte>(tickflow::detail::tlog_version);
  for (int i = 0; i < 400; ++i) tickflow::detail::encode_record(tt::random_delta(rng, page_id{rng()}, 1 + rng() % 300, epoch{1}), image);
  for (int trial = 0; trial < 300; ++trial) {
    std::vector<std::byte> img = image;
    if (trial % 3 == 0) img.resize(tickflow::detail::tlog_header_bytes + rng() % (img.size() - tickflow::detail::tlog_header_bytes));
    if (trial % 3 == 1) img[tickflow::detail::tlog_header_bytes + rng() % (img.size() - tickflow::detail::tlog_header_bytes)] ^= std::byte{0x10};
    const auto want = parse_tlog(img);
    REQUIRE(want);
    delta_batch batch;
    const auto got = recover_into(img, batch);
    REQUIRE(got);
    REQUIRE(got->records == want->records.size());
    REQUIRE(got->intact_bytes == want->intact_bytes);
    REQUIRE(got->stop == want->stop);
    REQUIRE(batch.to_deltas() == want->records);
  }
}
